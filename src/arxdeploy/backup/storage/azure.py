"""Backups in an Azure Blob Storage container, via azure-storage-blob.

Credentials, never in arxdeploy's config, in this order:

1. ``AZURE_STORAGE_CONNECTION_STRING``: what the Azure portal, ``az storage account
   show-connection-string`` and Azurite give; it names the account (its endpoint) and holds a key
   or a SAS token, so ``account_url`` may be left out.
2. ``account_url`` with ``DefaultAzureCredential`` from azure-identity, when it is installed:
   workload identity federation (GitHub's OIDC token: no secret in CI at all), a managed
   identity, or ``az login``. azure-identity is not required: teams with a connection string
   need none of its dependencies.

Archives larger than 4 MiB are uploaded as blocks, and the blob changes only when the block
list is committed, in one call at the end: a cut-off upload leaves the container as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arxdeploy.backup.storage import Stored
from arxdeploy.errors import BackupError

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
CREDENTIALS_HINT = (
    f"set {CONNECTION_STRING_ENV}, or backup.storage.account_url with azure-identity installed "
    "(pip install azure-identity) and a credential it finds (workload identity, managed identity, az login)"
)
_SINGLE_PUT = 4 * 1024 * 1024  # larger uploads go in blocks, committed at once at the end
_FORBIDDEN = 403
_REFUSED = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "InvalidAuthenticationInfo",
}


class AzureBlobStorage:
    def __init__(
        self, *, container: str, prefix: str = "", account_url: str | None, environ: Mapping[str, str]
    ) -> None:
        self.container = container
        self.prefix = prefix
        self.account_url = account_url
        self._connection_string = environ.get(CONNECTION_STRING_ENV) or None
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The container's client, made on first use."""
        if self._client is None:
            from azure.storage.blob import BlobServiceClient, ExponentialRetry

            options: dict[str, Any] = {
                # The SDK's default waits 15 s, then 60 s: a storage that is down would hold a
                # deployment for over a minute before its backup step fails. 1 s, then 4 s.
                "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=3, retry_total=2),
                "connection_timeout": 5,
                "read_timeout": 60,
                "max_single_put_size": _SINGLE_PUT,
            }
            if self._connection_string:
                try:
                    service = BlobServiceClient.from_connection_string(self._connection_string, **options)
                except ValueError as exc:
                    # Never the string itself: it holds the account key.
                    raise BackupError(
                        f"{CONNECTION_STRING_ENV} is not a connection string", hint=CREDENTIALS_HINT
                    ) from exc
            elif self.account_url:
                service = BlobServiceClient(self.account_url, credential=_default_credential(), **options)
            else:
                raise BackupError("no Azure account to keep backups in", hint=CREDENTIALS_HINT)
            self._client = service.get_container_client(self.container)
        return self._client

    def put(self, key: str, source: Path | bytes) -> None:
        with self._errors(key):
            if isinstance(source, bytes):
                self.client.upload_blob(self.prefix + key, source, overwrite=True)
                return
            with source.open("rb") as f:
                self.client.upload_blob(self.prefix + key, f, overwrite=True, length=source.stat().st_size)

    def get(self, key: str, out: Path) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors(key):
            try:
                downloader = self.client.download_blob(self.prefix + key)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return False
            with out.open("wb") as f:
                downloader.readinto(f)
        return True

    def read(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors(key):
            try:
                return bytes(self.client.download_blob(self.prefix + key).readall())
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise
                return None

    def list(self, prefix: str) -> list[Stored]:
        with self._errors(prefix):
            return [
                Stored(str(blob.name).removeprefix(self.prefix), int(blob.size), blob.last_modified)
                for blob in self.client.list_blobs(name_starts_with=self.prefix + prefix)
            ]

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors(key):
            try:
                self.client.delete_blob(self.prefix + key)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise

    def where(self, key: str) -> str:
        base = self.account_url or "azure:/"
        if self._client is not None:
            base = str(self._client.url).rsplit("/", 1)[0]
        return f"{base.rstrip('/')}/{self.container}/{self.prefix}{key}"

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """The SDK's errors become ``BackupError`` here, saying what to fix."""
        try:
            yield
        except BackupError:
            raise
        except Exception as exc:
            raise _translated(exc, self, key) from exc


def _default_credential() -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise BackupError(
            "azure-identity is not installed, and no connection string is given", hint=CREDENTIALS_HINT
        ) from exc
    return DefaultAzureCredential()


def _translated(exc: Exception, storage: AzureBlobStorage, key: str) -> BackupError:
    from azure.core import exceptions as az

    where = storage.where(key)
    refused = isinstance(exc, az.HttpResponseError) and (exc.status_code == _FORBIDDEN or _code(exc) in _REFUSED)
    if isinstance(exc, az.ClientAuthenticationError) or refused:
        return BackupError(f"Azure refused the credentials for {where}", hint=CREDENTIALS_HINT)
    if isinstance(exc, az.ResourceNotFoundError) and _code(exc) == "ContainerNotFound":
        return BackupError(
            f"the container {storage.container} does not exist", hint="create it, or fix backup.storage.container"
        )
    if isinstance(exc, az.ServiceRequestError | az.ServiceResponseError):
        return BackupError(
            f"cannot reach Azure Blob Storage for {where}: {exc}",
            hint="check backup.storage.account_url (or the connection string's endpoint) and the network",
        )
    if isinstance(exc, az.AzureError):
        return BackupError(f"Azure Blob Storage failed on {where}: {type(exc).__name__}: {exc.message}")
    return BackupError(f"cannot move {where}: {exc}")


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", "") or "")
