"""Keep secrets out of output, logs and records: every value taken from the environment is masked."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.ports import Store

MASK = "***"
# Who and what an approval is about: the gate compares them, so they are kept as written. A value
# from the environment that happens to be part of an address (a domain) would otherwise break them.
IDENTITY_FIELDS = frozenset({"approvers", "requested_by", "who", "version", "config_digest"})
_MIN_LEN = 3  # masking one- or two-character values would mangle ordinary text
# Names of environment variables that hold secrets by convention: PGPASSWORD, MYSQL_PWD,
# AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, AZURE_STORAGE_CONNECTION_STRING, ARXDEPLOY_BACKUP_IDENTITY, STRIPE_KEY...
_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|PRIVATE|CREDENTIAL|CONNECTION_STRING|IDENTITY|(^|_)(PWD|KEY)$"
)


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of the variables whose names say they hold a secret: what users' scripts may
    print (a connection error quoting its connection string) and nobody may read in a record."""
    return [value for name, value in environ.items() if _SECRET_NAME.search(name.upper())]


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_LEN}, key=len, reverse=True)

    def also(self, secrets: Iterable[str]) -> Redactor:
        """A redactor that masks ``secrets`` too."""
        return Redactor([*self._secrets, *secrets])

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def data(self, value: Any) -> Any:
        """Mask secrets anywhere in JSON-like data."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


class RedactingWriter(io.TextIOBase):
    """A text stream that masks secrets before they reach the real one."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redact = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


class RedactingStore:
    """Wraps a ``Store`` so that no secret reaches a stored record; reads pass through."""

    def __init__(self, inner: Store, redactor: Redactor) -> None:
        self._inner = inner
        self._redact = redactor

    def create(self, *, deployment: Deployment, events: Sequence[Event]) -> None:
        # The free-text fields can carry a secret too (a reason pasted from a CI variable).
        masked = dataclasses.replace(
            deployment,
            reason=self._redact(deployment.reason),
            git_ref=self._redact(deployment.git_ref) if deployment.git_ref else deployment.git_ref,
        )
        self._inner.create(deployment=masked, events=[self._event(e) for e in events])

    def append(self, *, deployment_id: str, events: Sequence[Event]) -> None:
        self._inner.append(deployment_id=deployment_id, events=[self._event(e) for e in events])

    def _event(self, event: Event) -> Event:
        data = {k: v if k in IDENTITY_FIELDS else self._redact.data(v) for k, v in event.data.items()}
        return Event(event.type, event.at, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"RedactingStore({self._inner!r})"
