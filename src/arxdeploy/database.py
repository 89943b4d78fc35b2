"""The app's database, through the config's scripts (``backup.database``): a dump into every
backup, and a restore from one when asked.

arxdeploy knows nothing of the database itself; the scripts do (``examples/arxos``: PostgreSQL
with ``pg_dump -Fc`` and ``pg_restore``). Each runs from a private copy of the content read when
the command started (what was approved is what runs), in the config's folder, with the
process's environment (where CI puts the database's credentials: ``PGPASSWORD`` and friends,
never on a command line) plus:

    ARXDEPLOY_DUMP_FILE       the dump: to write (backup) or to read (restore)
    ARXDEPLOY_SERVICE, ARXDEPLOY_ENVIRONMENT, ARXDEPLOY_DEPLOYMENT_ID
    ARXDEPLOY_VERSION         the version whose data the dump holds: the one live when it was
                              taken (for a restore, as the backup's index says)
    ARXDEPLOY_BACKUP_ID       (restore) the backup the dump comes from

The keys that open backups (``ARXDEPLOY_BACKUP_IDENTITY*``) are not passed on: a script has no
use for them. A script that fails or outlives ``timeout`` fails its step with its last lines of
output, masked (the config's secrets and every variable whose name says it is a secret).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from arxdeploy import scripts
from arxdeploy.domain.events import Deployment
from arxdeploy.domain.units import size_text
from arxdeploy.errors import StepFailed
from arxdeploy.ports import BackupInfo

DUMP = "database.dump"  # its name in a backup, under dumps/
_KEYS = ("ARXDEPLOY_BACKUP_IDENTITY", "ARXDEPLOY_BACKUP_IDENTITY_FILE")


@dataclass(frozen=True)
class Script:
    """A script as the config names it and as it was read when the command started."""

    key: str  # backup.database.backup_script
    shown: str  # the path as the config gives it, for people
    content: bytes | None  # None: missing or unreadable when the command started


@dataclass(frozen=True)
class DatabaseScripts:
    backup_script: Script
    restore_script: Script
    timeout: timedelta
    cwd: Path
    environ: Mapping[str, str]
    mask: Callable[[str], str]

    def dump(self, deployment: Deployment, folder: Path) -> dict[str, Path]:
        """The backup's hook (``backup.contents.DumpHook``): the dump of the database as it is now."""
        path = folder / DUMP
        self._run(self.backup_script, deployment, path, version=deployment.previous_version or "")
        if not path.is_file() or path.stat().st_size == 0:
            script = self.backup_script
            raise StepFailed(
                f"{script.key} ({script.shown}) exited 0 but wrote no dump to $ARXDEPLOY_DUMP_FILE", check=script.key
            )
        return {DUMP: path}

    def restore(self, deployment: Deployment, dumps: Mapping[str, Path], backup: BackupInfo) -> str:
        """The backup's restore hook (``backup.contents.RestoreHook``): run the restore script on the
        dump of ``backup``; a line for people."""
        backup_id = backup.id
        dump = dumps.get(DUMP)
        if dump is None:
            raise StepFailed(f"backup {backup_id} holds no database dump ({DUMP})", check=self.restore_script.key)
        started = time.monotonic()
        # The version whose data it is: what was live when the dump was taken.
        version = backup.live_version or ""
        last = self._run(self.restore_script, deployment, dump, version=version, backup_id=backup_id)
        seconds = time.monotonic() - started
        said = f": {last}" if last else ""
        return (
            f"database restored from backup {backup_id} ({size_text(dump.stat().st_size)} dump, {seconds:.1f}s){said}"
        )

    def _run(self, script: Script, deployment: Deployment, dump: Path, *, version: str, backup_id: str = "") -> str:
        """Run ``script``; its last line of output (masked) when it succeeds, else ``StepFailed``."""
        what = f"{script.key} ({script.shown})"
        if script.content is None:
            raise StepFailed(f"{what} could not be read when this command started", check=script.key)
        env = {k: v for k, v in self.environ.items() if k not in _KEYS}
        env.update(
            {
                "ARXDEPLOY_DUMP_FILE": str(dump),
                "ARXDEPLOY_SERVICE": deployment.service,
                "ARXDEPLOY_ENVIRONMENT": deployment.environment,
                "ARXDEPLOY_VERSION": version,
                "ARXDEPLOY_DEPLOYMENT_ID": deployment.id,
            }
        )
        if backup_id:
            env["ARXDEPLOY_BACKUP_ID"] = backup_id
        limit = self.timeout.total_seconds()
        with tempfile.TemporaryDirectory(prefix="arxdeploy-database-") as folder:
            copy = scripts.private_copy(Path(folder) / "script", Path(script.shown).name, script.content)
            try:
                finished = scripts.run([str(copy)], cwd=self.cwd, env=env, timeout=limit)
            except OSError as exc:
                raise StepFailed(f"{what} could not be run: {exc.strerror}", check=script.key) from exc
        lines = [self.mask(line) for line in finished.last_lines]
        if finished.ok:
            return lines[-1] if lines else ""
        answer = "\n".join(lines) or None
        if finished.exit_status is None:
            why = f"was still running after {limit:g}s (backup.database.timeout): stopped"
        else:
            why = f"exited with {finished.exit_status}"
        raise StepFailed(f"{what} {why}" + (f": {lines[-1]}" if lines else ""), check=script.key, answer=answer)
