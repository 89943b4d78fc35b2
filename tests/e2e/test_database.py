"""Database backups end to end: the example's scripts (examples/arxos: pg_dump -Fc, pg_restore)
dump a real PostgreSQL database with real rows during real deploys on the local target, and a
restore or rollback brings the rows back only when asked. The app's role logs in with its
password (the session's server trusts everyone else), given as CI gives it: PGPASSWORD in the
environment; it is found nowhere arxdeploy writes.
"""

from __future__ import annotations

import gzip
import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from tests.fixtures.database import ROWS, AppDatabase

from .conftest import Service

pytestmark = pytest.mark.slow

EXAMPLE_SCRIPTS = Path(__file__).resolve().parents[2] / "examples" / "arxos" / "arx-infra" / "deploy" / "scripts"
DATABASE = """\
backup:
  storage: {{type: local, path: kept}}
{encryption}  database:
    backup_script: scripts/backup_database.sh
    restore_script: scripts/restore_database.sh
"""


@dataclass
class Run:
    """The service with the example's database scripts, every command's output kept."""

    service: Service
    db: AppDatabase
    outputs: list[str] = field(default_factory=list)

    def configure(self, *, encrypted_for: str | None = None, environment_extra: str = "", **write: str) -> None:
        encryption = f"  encryption: true\n  recipients: ['{encrypted_for}']\n" if encrypted_for else ""
        self.service.write(**write)
        text = self.service.config.read_text(encoding="utf-8")
        if environment_extra:
            text = text.replace("    rollback_timeout: 20s\n", f"    rollback_timeout: 20s\n{environment_extra}")
        text += DATABASE.format(encryption=encryption)
        self.service.config.write_text(text, encoding="utf-8")

    def run(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = self.service.run(*args)
        self.outputs.append(done.stdout + done.stderr)
        if expect is not None:
            assert done.returncode == expect, done.stdout + done.stderr
        return done

    def json(self, *args: str, expect: int | None = 0) -> Any:
        return json.loads(self.run(*args, "--json", expect=expect).stdout)

    def deploy(self, version: str, expect: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = self.json("deploy", "--env", "staging", "--version", version, expect=expect)
        return result

    def password_nowhere(self, *passwords: str) -> None:
        """Not in any output, nor in the record (every deployment's events), the logs, the backups."""
        for row in self.json("history", "--limit", "100"):
            self.json("show", row["id"])
        for text in self.outputs:
            assert not any(p in text for p in passwords)
        for path in [*self.service.state_dir.rglob("*"), *(self.service.folder / "kept").rglob("*")]:
            if not path.is_file():
                continue
            data = path.read_bytes()
            if path.name.endswith(".tar.gz"):
                data += gzip.decompress(data)  # the archive's members, in the clear
            assert not any(p.encode() in data for p in passwords), f"a password in {path}"


@pytest.fixture
def run(service: Service, app_database: AppDatabase) -> Run:
    shutil.copytree(EXAMPLE_SCRIPTS, service.folder / "scripts")
    service.env.update(app_database.env)
    made = Run(service, app_database)
    made.configure()
    return made


def steps(result: dict[str, Any]) -> list[str]:
    return [s["step"] for s in result["steps"]]


def test_a_restore_with_the_database_brings_the_dumped_rows_back_and_without_it_leaves_them(run: Run) -> None:
    db = run.db
    run.deploy("v1")
    taken = run.deploy("v2")["id"]  # its backup: v1 live, and the rows as they were then
    dumped = db.rows()
    assert [r[1:] for r in dumped] == ROWS
    db.execute("UPDATE orders SET qty = 0 WHERE item = 'apples'; DELETE FROM orders WHERE item = 'pears'")
    db.execute("INSERT INTO orders (item, qty) VALUES ('quinces', 13)")
    written_since = db.rows()

    shown = run.json("backup", "show", taken)
    assert (shown["live_version"], shown["database"]) == ("v1", True)
    verified = run.json("backup", "verify", taken)
    assert verified["intact"] and "dumps/database.dump" in verified["files"]
    backup_step = next(s for s in run.json("show", taken)["steps"] if s["step"] == "backup")
    assert "the database dump among them" in backup_step["detail"]

    plain = run.json("backup", "restore", taken)
    assert (plain["state"], plain["version"], plain["database_restored_from"]) == ("succeeded", "v1", None)
    assert plain["steps"][0]["detail"].endswith("; the database is left as it is (no --with-database)")
    assert db.rows() == written_since

    restored = run.json("backup", "restore", taken, "--with-database")
    assert (restored["state"], restored["version"], restored["database_restored_from"]) == ("succeeded", "v1", taken)
    assert steps(restored) == ["validate", "backup", "deploy", "verify", "restore_database", "switch", "finalize"]
    detail = restored["steps"][4]["detail"]
    assert detail.startswith(f"database restored from backup {taken} (") and detail.endswith(
        f"): restored database {db.name}"
    )
    assert db.rows() == dumped
    assert run.service.served_version() == "v1"

    # The restore's own backup dumped the rows just before it put the old ones back: that undoes it.
    undone = run.json("backup", "restore", restored["id"], "--with-database")
    assert (undone["state"], undone["database_restored_from"]) == ("succeeded", restored["id"])
    assert db.rows() == written_since
    run.password_nowhere(db.password)


def test_a_backup_script_that_fails_fails_the_deploy_before_anything_changes(run: Run) -> None:
    run.deploy("v1")
    before = run.json("status")["environments"], run.service.replica_pids()
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    run.service.env["PGPASSWORD"] = wrong

    failed = run.deploy("v2", expect=1)
    assert failed["state"] == "failed" and steps(failed) == ["validate", "security", "backup", "cleanup"]
    failure = failed["failure"]
    assert failure["step"] == "backup" and failure["check"] == "backup.database.backup_script"
    assert failure["reason"].startswith("backup.database.backup_script (scripts/backup_database.sh) exited with 1: ")
    assert f'password authentication failed for user "{run.db.name}"' in failure["answer"]
    assert run.service.served_version() == "v1"
    (row,), pids = run.json("status")["environments"], run.service.replica_pids()
    ((was,), pids_before) = before
    assert pids == pids_before
    assert {k: v for k, v in row.items() if k != "last_deployment"} == {
        k: v for k, v in was.items() if k != "last_deployment"
    }
    assert len(run.json("backup", "list")) == 1  # no backup of the failed deploy
    run.password_nowhere(wrong, run.db.password)


def test_rollbacks_leave_the_database_alone_when_the_environment_does_not_ask(run: Run) -> None:
    db = run.db
    run.deploy("v1")
    run.deploy("v2")
    db.execute("DELETE FROM orders WHERE item = 'plums'")
    written_since = db.rows()

    rolled = run.json("rollback", "--env", "staging")
    assert (rolled["state"], rolled["version"]) == ("succeeded", "v1")
    off = "the database is left as it is (environments.staging.restore_database_on_rollback is off)"
    assert rolled["steps"][0]["detail"].endswith(off) and "restore_database" not in steps(rolled)
    assert db.rows() == written_since

    failed = run.deploy("v3-fails-after-1s", expect=1)  # an automatic rollback
    assert failed["state"] == "rolled_back" and failed["steps"][-1]["detail"].endswith(off)
    assert failed["database_restored_from"] is None
    assert db.rows() == written_since
    run.password_nowhere(db.password)


def test_rollbacks_restore_the_database_where_the_environment_asks(run: Run) -> None:
    """Encrypted backups, and a deploying job that holds only the public key (as CI's should)."""
    db = run.db
    key = x25519.Identity.generate()
    check = run.service.folder / "scripts" / "check_v3.sh"
    fail = run.service.folder / "v3-fails-now"
    check.write_text(f'#!/bin/sh\n[ "$ARXDEPLOY_VERSION" != v3 ] || [ ! -e "{fail}" ]\n')
    check.chmod(0o755)
    checks = "  custom_checks:\n    - {name: v3_switch, script: scripts/check_v3.sh}"
    asks = "    restore_database_on_rollback: true\n"
    run.configure(encrypted_for=str(key.to_public()), environment_extra=asks, checks_extra=checks)
    run.deploy("v1")
    taken = run.deploy("v2")["id"]
    dumped = db.rows()
    db.execute("UPDATE orders SET qty = qty + 100")
    written_since = db.rows()

    # Asked to restore the data, a rollback without the key fails before the switch: nothing changed.
    refused = run.json("rollback", "--env", "staging", expect=1)
    assert refused["state"] == "failed" and refused["failure"]["step"] == "restore_database"
    assert f"backup {taken} is encrypted" in refused["failure"]["reason"]
    assert run.service.served_version() == "v2" and db.rows() == written_since

    run.service.env["ARXDEPLOY_BACKUP_IDENTITY"] = str(key)
    rolled = run.json("rollback", "--env", "staging")
    assert (rolled["state"], rolled["version"], rolled["database_restored_from"]) == ("succeeded", "v1", taken)
    assert steps(rolled)[3:6] == ["verify", "restore_database", "switch"]
    assert "the database goes back too" in rolled["steps"][0]["detail"]
    assert db.rows() == dumped

    # An automatic rollback puts back the dump its own deployment took before changing anything.
    run.configure(encrypted_for=str(key.to_public()), environment_extra=asks, checks_extra=checks, monitoring="120s")
    before_v3 = db.rows()
    deploying = run.service.start("deploy", "--env", "staging", "--version", "v3")
    v3 = run.service.wait_for(deploying, "v3", "monitoring").deployment.id
    db.execute("INSERT INTO orders (item, qty) VALUES ('written by v3', 1)")
    fail.touch()
    assert deploying.wait(timeout=120) == 1
    failed = run.json("show", v3)
    assert (failed["state"], failed["database_restored_from"]) == ("rolled_back", v3)
    assert f"database restored from backup {v3}" in failed["steps"][-1]["detail"]
    assert db.rows() == before_v3 and run.service.served_version() == "v1"

    # Without the key, an automatic rollback still takes traffic back, and says how to restore the data.
    fail.unlink()
    del run.service.env["ARXDEPLOY_BACKUP_IDENTITY"]
    deploying = run.service.start("deploy", "--env", "staging", "--version", "v3")
    v3 = run.service.wait_for(deploying, "v3", "monitoring").deployment.id
    db.execute("INSERT INTO orders (item, qty) VALUES ('written by v3 again', 2)")
    written_by_v3 = db.rows()
    fail.touch()
    assert deploying.wait(timeout=120) == 1
    failed = run.json("show", v3)
    assert failed["state"] == "rolled_back" and failed["database_restored_from"] is None
    (warning,) = [e["message"] for e in failed["events"] if e["type"] == "warning"]
    assert warning.startswith(f"the database was NOT restored: backup {v3} is encrypted")
    assert f"`arxdeploy backup restore {v3} --with-database`" in warning
    assert db.rows() == written_by_v3 and run.service.served_version() == "v1"
    run.service.env["ARXDEPLOY_BACKUP_IDENTITY"] = str(key)
    restored = run.json("backup", "restore", v3, "--with-database")
    assert restored["database_restored_from"] == v3 and db.rows() == before_v3
    run.password_nowhere(db.password, str(key))
