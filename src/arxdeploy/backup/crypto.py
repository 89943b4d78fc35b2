"""Encryption of backups with age (the ``pyrage`` bindings of rage), on this machine, before upload.

The deploying job holds only **recipients** (public keys, in the config): it can seal a backup
but never open one, so a leaked CI secret reads no old backup. Whoever restores or verifies
holds an **identity** (a private key), given in ``ARXDEPLOY_BACKUP_IDENTITY`` (the key itself:
``AGE-SECRET-KEY-1...`` lines, or an OpenSSH private key) or ``ARXDEPLOY_BACKUP_IDENTITY_FILE``
(a file as ``age-keygen`` writes it), never in the config. age authenticates what it decrypts
(a MAC per 64 KiB chunk, and the end is marked), so a flipped byte or a cut-off archive fails
to decrypt instead of yielding wrong data. See docs/backups.md for why age, and not AES-GCM
with a shared key or S3 SSE-KMS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arxdeploy.errors import DamagedBackupError, UsageError

IDENTITY_ENV = "ARXDEPLOY_BACKUP_IDENTITY"
IDENTITY_FILE_ENV = "ARXDEPLOY_BACKUP_IDENTITY_FILE"
SUFFIX = ".age"
NEED_KEY = (
    f"give its private key in {IDENTITY_ENV} (the AGE-SECRET-KEY-1... line) or the path of the key file in "
    f"{IDENTITY_FILE_ENV}; it is never read from the config"
)
_SSH_PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----"


def recipient_problem(text: str) -> str | None:
    """Why ``text`` is not a recipient age can seal for, or None."""
    try:
        _recipient(text)
    except Exception as exc:  # noqa: BLE001 - pyrage raises its own types; any means unusable
        return str(exc) or type(exc).__name__
    return None


@dataclass(frozen=True)
class Sealer:
    """Seals files for ``recipients`` (public keys, as the config gives them)."""

    recipients: Sequence[str]

    def seal(self, source: Path, out: Path) -> None:
        import pyrage

        pyrage.encrypt_file(str(source), str(out), [_recipient(r) for r in self.recipients])


@dataclass(frozen=True)
class Opener:
    """Opens sealed files with the identities given where the command runs."""

    identities: Sequence[Any]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Opener | None:
        """The identities in the environment, or None when none is given."""
        text = environ.get(IDENTITY_ENV, "")
        where = IDENTITY_ENV
        file = environ.get(IDENTITY_FILE_ENV, "")
        if not text.strip() and file:
            where = f"{IDENTITY_FILE_ENV} ({file})"
            try:
                text = Path(file).read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read {where}: {exc.strerror}", hint=NEED_KEY) from exc
        if not text.strip():
            return None
        return cls(_identities(text, where))

    def open(self, source: Path, out: Path, *, what: str) -> None:
        """Decrypt ``source`` into ``out``. ``DamagedBackupError`` when it was altered or cut short;
        ``UsageError`` when none of the identities is one it was sealed for."""
        import pyrage

        try:
            pyrage.decrypt_file(str(source), str(out), list(self.identities))
        except OSError as exc:
            if exc.errno is not None:
                raise  # the disk, not the backup
            # pyrage's streaming decryption reports a failed MAC or a cut-off end this way.
            raise DamagedBackupError(
                f"{what} cannot be decrypted: it was altered or cut short ({exc})", damaged=["archive"]
            ) from exc
        except pyrage.DecryptError as exc:
            if "no matching keys" in str(exc).lower():
                raise UsageError(
                    f"{what} was sealed for other keys than the ones given",
                    hint=f"give a private key of one of its recipients: {NEED_KEY}",
                ) from exc
            raise DamagedBackupError(
                f"{what} cannot be decrypted: it was altered or cut short ({exc})", damaged=["archive"]
            ) from exc


def _recipient(text: str) -> Any:
    from pyrage import ssh, x25519

    return ssh.Recipient.from_str(text) if text.startswith("ssh-") else x25519.Recipient.from_str(text)


def _identities(text: str, where: str) -> list[Any]:
    from pyrage import ssh, x25519

    if _SSH_PRIVATE in text:
        try:
            return [ssh.Identity.from_buffer(text.encode())]
        except Exception as exc:
            raise UsageError(f"{where} holds an OpenSSH key that age cannot use: {exc}", hint=NEED_KEY) from exc
    found = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(x25519.Identity.from_str(line))
        except Exception as exc:
            # Never the line itself: it may be most of a private key.
            raise UsageError(f"line {number} of {where} is not an age private key", hint=NEED_KEY) from exc
    if not found:
        raise UsageError(f"{where} holds no age private key", hint=NEED_KEY)
    return found
