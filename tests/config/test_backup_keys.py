"""``backup``: where backups go, how long they stay, who can open them; each mistake named by
file, line and key, with what to do, and never a private key repeated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pyrage import x25519

from arxdeploy.backup_wiring import open_backups
from arxdeploy.clock import SystemClock
from arxdeploy.config import load
from arxdeploy.config.snapshot import take
from arxdeploy.errors import ConfigError
from arxdeploy.redact import Redactor
from arxdeploy.testing.store import MemoryStore

from .conftest import SEED_TEXT, Write, error_for

RECIPIENT = str(x25519.Identity.generate().to_public())
LINES = len(SEED_TEXT.splitlines())


def with_backup(section: str) -> str:
    return SEED_TEXT.rstrip("\n") + "\nbackup:\n" + section


def problems(write: Write, section: str) -> list[tuple[int | None, str, str, str | None]]:
    error = error_for(write, with_backup(section))
    return [(p.line, p.key, p.message, p.hint) for p in error.problems]


def test_s3_storage_with_encryption_and_an_age_limit_loads(write: Write) -> None:
    text = f"""\
  keep: 5
  max_age: 30d
  encryption: true
  recipients: ['{RECIPIENT}']
  storage:
    type: s3
    bucket: arxos-backups
    prefix: ci/
    region: eu-west-1
"""
    backup = load(write(with_backup(text)), {}).config.backup
    assert (backup.keep, backup.max_age, backup.encryption, backup.recipients) == (
        5, timedelta(days=30), True, [RECIPIENT]
    )  # fmt: skip
    assert (backup.storage.type, backup.storage.bucket, backup.storage.prefix) == ("s3", "arxos-backups", "ci/")


def test_a_private_key_among_the_recipients_is_refused_and_never_repeated(write: Write) -> None:
    private = str(x25519.Identity.generate())
    found = problems(write, f"  encryption: true\n  recipients: ['{private}']\n")
    assert found == [
        (
            LINES + 3,
            "backup.recipients[0]",
            "is a private key (AGE-SECRET-KEY-...), which never belongs in the config",
            found[0][3],
        )
    ]
    assert found[0][3] and "ARXDEPLOY_BACKUP_IDENTITY" in found[0][3]
    error = error_for(write, with_backup(f"  encryption: true\n  recipients: ['{private}']\n"))
    assert private not in str(error) and private[15:] not in str(error)


@pytest.mark.parametrize(
    ("section", "line", "key", "message"),
    [
        ("  encryption: true\n", 1, "backup.recipients", "is required with encryption: true"),
        (f"  recipients: ['{RECIPIENT}']\n", 2, "backup.recipients", "are only used with encryption: true"),
        ("  max_age: 10m\n", 2, "backup.max_age", "is shorter than an hour"),
        ("  storage: {type: s3}\n", 2, "backup.storage.bucket", "is required because backup.storage.type is s3"),
        ("  storage: {type: azure_blob, bucket: arxos}\n", 2, "backup.storage.container", "is required"),
        ("  storage: {type: local, bucket: arxos}\n", 2, "backup.storage.bucket", "has no effect with"),
        ("  storage: {type: s3, bucket: Not_A_Bucket}\n", 2, "backup.storage.bucket", "is not an S3 bucket name"),
        ("  storage: {type: gcs}\n", 2, "backup.storage.type", "must be 'local', 's3' or 'azure_blob'"),
        ("  recipients: [age1nope]\n  encryption: true\n", 2, "backup.recipients[0]", "is not an age public key"),
    ],
)
def test_each_mistake_is_named_by_line_and_key(write: Write, section: str, line: int, key: str, message: str) -> None:
    found = problems(write, section)
    assert (found[0][0], found[0][1]) == (LINES + line, key), found
    assert message in found[0][2], found


def test_the_seeds_encryption_under_storage_says_where_it_belongs(write: Write) -> None:
    found = problems(write, "  storage:\n    type: s3\n    bucket: arxos-backups\n    encryption: true\n")
    assert [(line, key) for line, key, *_ in found] == [(LINES + 5, "backup.storage.encryption")]
    assert found[0][3] is not None and "'encryption' belongs under backup" in found[0][3]


def test_a_recipient_age_cannot_use_is_named_by_line_when_the_backups_are_opened(write: Write, tmp_path: Path) -> None:
    broken = RECIPIENT[:-1] + ("q" if RECIPIENT[-1] != "q" else "p")  # the right shape, a wrong checksum
    loaded = load(write(with_backup(f"  encryption: true\n  recipients:\n    - {broken}\n")), {})
    with pytest.raises(ConfigError) as caught:
        open_backups(loaded, take(loaded), MemoryStore(), Redactor(), {}, SystemClock())
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (LINES + 4, "backup.recipients[0]")
