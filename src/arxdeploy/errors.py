"""One exception tree for arxdeploy.

    ArxdeployError                  base; ``exit_code`` is what the CLI exits with
    ├── UsageError (2)              bad command-line input
    ├── ConfigError (2)             the config file is wrong; carries every problem found
    ├── LockedError (4)             another deployment holds the (service, environment) lock
    │   └── LeaseLostError          this process lost the lock while it ran a deployment
    ├── NotFoundError (2)           an id or environment that does not exist
    ├── ApprovalError (3)           a gate said no, or nobody answered in time
    │   ├── RefusedError            this person may not decide this (not an approver, own change)
    │   └── UnauthenticatedError    no valid token: who is asking is unknown
    ├── ConflictError (2)           the request does not fit the deployment's state now
    ├── TargetError (5)             the target failed; adapters raise it ``from`` the SDK error
    │   └── TransientTargetError    worth retrying (connection refused, timeouts, 5xx, 409)
    │       └── ThrottledError      the API asked us to slow down (429): wait longer
    ├── StoreError (5)              the store failed
    ├── BackupError (5)             the backup storage failed (unreachable, refused, misconfigured)
    │   └── DamagedBackupError (1)  a backup does not match its digests: reported, never restored
    ├── MetricsError (5)            a metric could not be read (provider down, bad answer): counted, never a value
    └── StepFailed (1)              a deployment step failed; the engine turns it into a transition

Retryability lives in the type: only ``TransientTargetError`` and its subclasses are retried,
``retry_attempts`` times with a backoff starting at ``retry_backoff`` seconds and doubling (or
the server's ``retry_after``); ``engine.seam`` is the one place that does it.
Adapters translate third-party exceptions at their boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ArxdeployError(Exception):
    """Base of every error arxdeploy raises on purpose."""

    exit_code = 5
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint


class UsageError(ArxdeployError):
    exit_code = 2


class NotFoundError(ArxdeployError):
    exit_code = 2


def unknown_environment(name: str, known: Iterable[str]) -> NotFoundError:
    """The error for an environment the config does not have, naming the ones it has."""
    return NotFoundError(f"no environment {name!r} in the config; known: {', '.join(known)}")


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where it is, what is wrong, how to fix it."""

    file: str
    line: int | None
    key: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(ArxdeployError):
    exit_code = 2

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the configuration:\n{lines}")


class LockedError(ArxdeployError):
    exit_code = 4


class LeaseLostError(LockedError):
    """The lease could not be renewed before it expired, or someone else holds it now.

    ``taken``: another process holds it (it now owns the deployment: change nothing more).
    Otherwise it expired (the store did not answer): only the safe way back may still run.
    """

    def __init__(self, message: str, *, taken: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.taken = taken


class ApprovalError(ArxdeployError):
    exit_code = 3


class RefusedError(ApprovalError):
    """The caller is known but may not make this decision."""


class UnauthenticatedError(ApprovalError):
    """The caller could not be identified (missing, unknown or revoked token)."""


class ConflictError(ArxdeployError):
    exit_code = 2


class TargetError(ArxdeployError):
    exit_code = 5


class TransientTargetError(TargetError):
    """A target failure that may pass on its own: retried with backoff."""

    retry_attempts = 4  # calls in all, the first included
    retry_backoff = 0.5  # seconds before the second call; doubled before each next one

    def __init__(self, message: str, *, hint: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after  # what the server asked for, if it said (Retry-After)


class ThrottledError(TransientTargetError):
    """The API is overloaded or rate-limits us (HTTP 429): fewer, slower attempts."""

    retry_attempts = 5
    retry_backoff = 1.0


class StoreError(ArxdeployError):
    exit_code = 5


class BackupError(ArxdeployError):
    exit_code = 5


class DamagedBackupError(BackupError):
    """A backup is missing a part or a part does not match its sha256 (``damaged`` names them)."""

    exit_code = 1

    def __init__(self, message: str, *, damaged: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.damaged = tuple(damaged)


class MetricsError(ArxdeployError):
    """A metric provider could not give a figure: unreachable, an error answer, not a number.
    Analysis counts it as an error, never as a value (``consecutive_error_limit``)."""

    exit_code = 5


class StepFailed(ArxdeployError):
    """A step of a deployment failed; ``check`` and ``answer`` say what failed last."""

    exit_code = 1

    def __init__(self, message: str, *, check: str | None = None, answer: str | None = None) -> None:
        super().__init__(message)
        self.check = check
        self.answer = answer
