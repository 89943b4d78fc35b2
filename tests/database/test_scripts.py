"""The database scripts as arxdeploy runs them: the approved content from a private copy, the
variables they are promised, a time limit that stops what they started, and their output masked
before it reaches a record."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from arxdeploy.database import DUMP, DatabaseScripts, Script
from arxdeploy.domain.events import Deployment
from arxdeploy.domain.states import Color
from arxdeploy.errors import StepFailed
from arxdeploy.ports import BackupInfo
from arxdeploy.redact import Redactor, environment_secrets
from tests.support import marked, wait_until

DEPLOYMENT = Deployment(
    id="20261205-101500-ab12",
    service="arxos",
    environment="staging",
    version="v2",
    previous_version="v1",
    new_color=Color.GREEN,
    old_color=Color.BLUE,
    created_at=datetime(2026, 12, 5, 10, 15, tzinfo=UTC),
)
BACKUP = BackupInfo(
    id="20261204-090000-cd34",
    service="arxos",
    environment="staging",
    created_at=datetime(2026, 12, 4, 9, tzinfo=UTC),
    target="local",
    versions=("v1",),
    facts={},
    live_version="v1",
    live_color=Color.BLUE,
    files=5,
    size=4096,
    encrypted=False,
    where="backups/arxos/staging/20261204-090000-cd34.tar.gz",
    database=True,
)
PASSWORD = "pg-Secret-7f3a9c"
KEY = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
CONFIG_SECRET = "webhook-secret-value-91"  # a ${VAR} of the config


def scripts(tmp_path: Path, backup: str, restore: str = "#!/bin/sh\n", timeout: float = 60) -> DatabaseScripts:
    environ = marked(
        {
            "PATH": os.environ["PATH"],
            "PGHOST": "127.0.0.1",
            "PGPASSWORD": PASSWORD,
            "ARXDEPLOY_BACKUP_IDENTITY": KEY,
        }
    )
    return DatabaseScripts(
        backup_script=Script("backup.database.backup_script", "scripts/backup.sh", backup.encode()),
        restore_script=Script("backup.database.restore_script", "scripts/restore.sh", restore.encode()),
        timeout=timedelta(seconds=timeout),
        cwd=tmp_path,
        environ=environ,
        mask=Redactor([CONFIG_SECRET]).also(environment_secrets(environ)),
    )


def test_the_backup_script_gets_the_dump_file_the_deployment_and_the_environment_but_no_backup_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "dumps").mkdir()
    run = scripts(tmp_path, '#!/bin/sh\nenv > "$ARXDEPLOY_DUMP_FILE"\necho "cwd=$(pwd)" >> "$ARXDEPLOY_DUMP_FILE"\n')
    dumps = run.dump(DEPLOYMENT, tmp_path / "dumps")
    assert dumps == {DUMP: tmp_path / "dumps" / DUMP}
    seen = dict(line.split("=", 1) for line in dumps[DUMP].read_text().splitlines() if "=" in line)
    assert {k: seen.get(k) for k in ("ARXDEPLOY_DUMP_FILE", "ARXDEPLOY_SERVICE", "ARXDEPLOY_ENVIRONMENT")} == {
        "ARXDEPLOY_DUMP_FILE": str(tmp_path / "dumps" / DUMP),
        "ARXDEPLOY_SERVICE": "arxos",
        "ARXDEPLOY_ENVIRONMENT": "staging",
    }
    # The version whose data is dumped: the live one, not the one being deployed.
    assert (seen["ARXDEPLOY_VERSION"], seen["ARXDEPLOY_DEPLOYMENT_ID"]) == ("v1", DEPLOYMENT.id)
    assert (seen["PGHOST"], seen["PGPASSWORD"], seen["cwd"]) == ("127.0.0.1", PASSWORD, str(tmp_path))
    assert "ARXDEPLOY_BACKUP_IDENTITY" not in seen and "ARXDEPLOY_BACKUP_ID" not in seen


def test_what_runs_is_the_content_read_when_the_command_started_from_a_private_copy(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "backup.sh").write_text('#!/bin/sh\necho edited since > "$ARXDEPLOY_DUMP_FILE"\n')
    approved = (
        "#!/bin/sh\n"
        'printf "%s %s\\n" "$0" "$(stat -c %a "$0") $(stat -c %a "$(dirname "$0")")" > "$ARXDEPLOY_DUMP_FILE"\n'
    )
    (tmp_path / "dumps").mkdir()
    dump = scripts(tmp_path, approved).dump(DEPLOYMENT, tmp_path / "dumps")[DUMP]
    ran_from, mode, folder_mode = dump.read_text().split()
    assert Path(ran_from).name == "backup.sh" and Path(ran_from) != tmp_path / "scripts" / "backup.sh"
    assert (mode, folder_mode) == ("700", "700")
    assert not Path(ran_from).exists()  # removed once it ran


def test_a_failing_script_fails_with_its_last_lines_masked(tmp_path: Path) -> None:
    noisy = (
        "#!/bin/sh\n"
        "for i in $(seq 1 30); do echo line $i; done\n"
        'echo "connecting with password $PGPASSWORD" >&2\n'
        f'echo "posting to {CONFIG_SECRET}"\n'
        'echo "pg_dump: error: connection to server failed" >&2\n'
        "exit 3\n"
    )
    (tmp_path / "dumps").mkdir()
    with pytest.raises(StepFailed) as caught:
        scripts(tmp_path, noisy).dump(DEPLOYMENT, tmp_path / "dumps")
    failed = caught.value
    assert failed.message == (
        "backup.database.backup_script (scripts/backup.sh) exited with 3: pg_dump: error: connection to server failed"
    )
    assert failed.check == "backup.database.backup_script"
    assert failed.answer is not None
    lines = failed.answer.splitlines()
    assert len(lines) == 10 and lines[0] == "line 24" and lines[-1].startswith("pg_dump: error")
    assert "connecting with password ***" in lines and "posting to ***" in lines
    assert PASSWORD not in failed.answer + failed.message and CONFIG_SECRET not in failed.answer


def test_a_script_past_its_time_limit_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    stuck = f"#!/bin/sh\necho dumping\nsleep 600 &\necho $! > {pidfile}\nwait\n"
    (tmp_path / "dumps").mkdir()
    with pytest.raises(StepFailed) as caught:
        scripts(tmp_path, stuck, timeout=1).dump(DEPLOYMENT, tmp_path / "dumps")
    assert caught.value.message == (
        "backup.database.backup_script (scripts/backup.sh) was still running after 1s (backup.database.timeout):"
        " stopped: dumping"
    )
    child = int(pidfile.read_text())

    def gone() -> bool:
        try:
            return psutil.Process(child).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, timeout=30, what="the script's own child to be stopped with it")


def test_a_backup_script_that_writes_no_dump_fails(tmp_path: Path) -> None:
    (tmp_path / "dumps").mkdir()
    with pytest.raises(StepFailed, match=r"exited 0 but wrote no dump to \$ARXDEPLOY_DUMP_FILE"):
        scripts(tmp_path, "#!/bin/sh\necho done\n").dump(DEPLOYMENT, tmp_path / "dumps")


def test_a_script_that_could_not_be_read_when_the_command_started_fails_by_name(tmp_path: Path) -> None:
    run = scripts(tmp_path, "#!/bin/sh\n")
    unreadable = DatabaseScripts(
        backup_script=Script("backup.database.backup_script", "scripts/backup.sh", None),
        restore_script=run.restore_script,
        timeout=run.timeout,
        cwd=tmp_path,
        environ=run.environ,
        mask=run.mask,
    )
    with pytest.raises(StepFailed, match=r"\(scripts/backup.sh\) could not be read when this command started"):
        unreadable.dump(DEPLOYMENT, tmp_path)


def test_the_restore_script_gets_the_dump_and_the_backup_it_comes_from(tmp_path: Path) -> None:
    dump = tmp_path / "0"
    dump.write_bytes(b"x" * 2048)
    restore = (
        "#!/bin/sh\n"
        'echo "$ARXDEPLOY_DUMP_FILE $ARXDEPLOY_BACKUP_ID $ARXDEPLOY_VERSION $ARXDEPLOY_DEPLOYMENT_ID" > '
        f"{tmp_path / 'seen'}\n"
        "echo restored 3 tables\n"
    )
    # An automatic rollback of v2 restores the dump taken while v1 was live: ARXDEPLOY_VERSION is v1.
    line = scripts(tmp_path, "#!/bin/sh\n", restore).restore(DEPLOYMENT, {DUMP: dump}, BACKUP)
    assert line.startswith(f"database restored from backup {BACKUP.id} (2.0 KiB dump, ")
    assert line.endswith("s): restored 3 tables")
    assert (tmp_path / "seen").read_text().split() == [str(dump), BACKUP.id, "v1", DEPLOYMENT.id]
    with pytest.raises(StepFailed, match="holds no database dump"):
        scripts(tmp_path, "#!/bin/sh\n", restore).restore(DEPLOYMENT, {}, BACKUP)


def test_the_variables_masked_in_the_scripts_output_are_those_named_like_secrets() -> None:
    environ = {
        "PGPASSWORD": "a",
        "MYSQL_PWD": "b",
        "AWS_SECRET_ACCESS_KEY": "c",
        "GITHUB_TOKEN": "d",
        "AZURE_STORAGE_CONNECTION_STRING": "e",
        "ARXDEPLOY_BACKUP_IDENTITY": "f",
        "STRIPE_KEY": "g",
        "db_password": "h",
        "PGHOST": "db.internal",
        "PGUSER": "app",
        "PATH": "/usr/bin",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "KEYBOARD": "us",
    }
    assert sorted(environment_secrets(environ)) == list("abcdefgh")
