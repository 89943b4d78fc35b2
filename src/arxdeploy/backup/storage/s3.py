"""Backups in an S3 bucket, or any store that speaks the S3 API (``endpoint_url``), via boto3.

Credentials come from boto3's own chain (environment variables, the shared config and
credentials files with ``AWS_PROFILE``, web identity tokens as GitHub's OIDC gives them,
container and instance roles), never from arxdeploy's config. Large archives go up as a
multipart upload, which S3 shows as an object only once it is complete; boto3 aborts the
upload when a part fails, so a cut-off upload leaves no object behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arxdeploy.backup.storage import Stored
from arxdeploy.errors import BackupError

_MISSING = {"NoSuchKey", "404", "NotFound"}
_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken", "403"}
CREDENTIALS_HINT = (
    "boto3 finds credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity "
    "token (GitHub OIDC) or an instance role; they need s3:PutObject, GetObject, ListBucket and DeleteObject"
)


class S3Storage:
    def __init__(
        self, *, bucket: str, prefix: str = "", region: str | None = None, endpoint_url: str | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.endpoint_url = endpoint_url
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                # S3-compatible stores are reached by path: their buckets are not DNS names.
                s3={"addressing_style": "path"} if self.endpoint_url else None,
            )
            session = boto3.session.Session(region_name=self.region)
            self._client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
        return self._client

    def put(self, key: str, source: Path | bytes) -> None:
        with self._errors(key):
            if isinstance(source, bytes):
                self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=source)
            else:
                self.client.upload_file(str(source), self.bucket, self.prefix + key)

    def get(self, key: str, out: Path) -> bool:
        with self._errors(key):
            try:
                self.client.download_file(self.bucket, self.prefix + key, str(out))
            except Exception as exc:
                if _code(exc) in _MISSING:
                    return False
                raise
        return True

    def read(self, key: str) -> bytes | None:
        with self._errors(key):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            except Exception as exc:
                if _code(exc) in _MISSING:
                    return None
                raise
            return bytes(answer["Body"].read())

    def list(self, prefix: str) -> list[Stored]:
        found = []
        with self._errors(prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for obj in page.get("Contents") or []:
                    key = str(obj["Key"]).removeprefix(self.prefix)
                    found.append(Stored(key, int(obj["Size"]), obj["LastModified"]))
        return found

    def delete(self, key: str) -> None:
        with self._errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """boto3's errors become ``BackupError`` here, saying what to fix."""
        try:
            yield
        except BackupError:
            raise
        except Exception as exc:
            raise _translated(exc, self, key) from exc


def _translated(exc: Exception, storage: S3Storage, key: str) -> BackupError:
    from botocore import exceptions as boto

    where = storage.where(key)
    code = _code(exc)
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return BackupError(f"no S3 credentials to reach {where}", hint=CREDENTIALS_HINT)
    if code == "NoSuchBucket":
        return BackupError(
            f"the bucket {storage.bucket} does not exist", hint="create it, or fix backup.storage.bucket"
        )
    if code in _CREDENTIALS:
        return BackupError(f"S3 refused the credentials for {where} ({code})", hint=CREDENTIALS_HINT)
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectionError | boto.HTTPClientError):
        return BackupError(
            f"cannot reach {storage.endpoint_url or 'S3'} for {where}: {exc}",
            hint="check backup.storage.endpoint_url and region, and the network",
        )
    return BackupError(f"S3 failed on {where}: {exc}")


def _code(exc: BaseException | None) -> str:
    """The S3 error code, also when boto3's upload wrapped the error (``S3UploadFailedError``)."""
    while exc is not None:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            return str((response.get("Error") or {}).get("Code") or "")
        exc = exc.__cause__ or exc.__context__
    return ""
