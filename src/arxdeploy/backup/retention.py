"""Which backups go after a new one is saved: beyond ``keep`` per environment, or older than
``max_age``. The backup just saved always stays, whatever the rules say."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from arxdeploy.ports import BackupInfo


def to_delete(
    newest_first: Sequence[BackupInfo], *, keep: int, max_age: timedelta | None, now: datetime, saved: str
) -> list[BackupInfo]:
    """The backups of one environment (newest first) that the rules no longer keep."""
    gone = []
    for position, backup in enumerate(newest_first):
        if backup.id == saved:
            continue
        too_many = position >= keep
        too_old = max_age is not None and now - backup.created_at > max_age
        if too_many or too_old:
            gone.append(backup)
    return gone
