"""``backup.database`` and ``environments.<env>.restore_database_on_rollback``: what they load
to, each mistake named by file, line and key, and the scripts read into the approved content."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest

from arxdeploy.bootstrap import build
from arxdeploy.config import check_files, database_script_problems, load
from arxdeploy.config.snapshot import take
from arxdeploy.errors import ConfigError

from .conftest import SEED_TEXT, Write, error_for, seed_with

LINES = len(SEED_TEXT.splitlines())
DATABASE = """\
backup:
  database:
    backup_script: scripts/backup_database.sh
    restore_script: scripts/restore_database.sh
"""


def with_database(text: str = SEED_TEXT, section: str = DATABASE) -> str:
    return text.rstrip("\n") + "\n" + section


def scripts_beside(config: Path, *, mode: int = 0o755) -> None:
    folder = config.parent / "scripts"
    folder.mkdir(exist_ok=True)
    for name in ("check_db.sh", "backup_database.sh", "restore_database.sh"):
        (folder / name).write_text(f"#!/bin/sh\necho {name}\n")
        (folder / name).chmod(mode if name != "check_db.sh" else 0o755)


def test_the_database_scripts_load_with_a_timeout_of_thirty_minutes_and_rollbacks_leave_the_data(
    write: Write,
) -> None:
    loaded = load(write(with_database()), {})
    database = loaded.config.backup.database
    assert database is not None
    assert (database.backup_script, database.restore_script, database.timeout) == (
        "scripts/backup_database.sh",
        "scripts/restore_database.sh",
        timedelta(minutes=30),
    )
    plan = loaded.config.plan("production")
    assert (plan.database, plan.restore_database_on_rollback) == (True, False)
    assert load(write(SEED_TEXT), {}).config.plan("staging").database is False


def test_an_environment_may_ask_for_its_database_on_rollback(write: Write) -> None:
    text = seed_with(("    replicas: 2\n", "    replicas: 2\n    restore_database_on_rollback: true\n"))
    config = load(write(with_database(text)), {}).config
    assert config.plan("staging").restore_database_on_rollback is True
    assert config.plan("production").restore_database_on_rollback is False


def test_asking_for_the_database_on_rollback_without_backup_database_is_named_by_line(write: Write) -> None:
    text = seed_with(("    replicas: 2\n", "    replicas: 2\n    restore_database_on_rollback: true\n"))
    (problem,) = error_for(write, text).problems
    assert (problem.line, problem.key) == (11, "environments.staging.restore_database_on_rollback")
    assert problem.message == "needs backup.database: no dump is taken without it"
    assert problem.hint is not None and "add backup.database" in problem.hint


@pytest.mark.parametrize(
    ("section", "line", "key", "message"),
    [
        ("backup:\n  database:\n    backup_script: b.sh\n", 2, "backup.database.restore_script", "required"),
        (DATABASE + "    timeout: soon\n", 5, "backup.database.timeout", "duration"),
        (DATABASE + "    script: b.sh\n", 5, "backup.database.script", "not a known key"),
        (
            "backup:\n  database:\n    backup_script: ''\n    restore_script: r.sh\n",
            3,
            "backup.database.backup_script",
            "is not a usable path",
        ),
    ],
)
def test_each_mistake_is_named_by_line_and_key(write: Write, section: str, line: int, key: str, message: str) -> None:
    problems = error_for(write, with_database(section=section)).problems
    assert [(p.line, p.key) for p in problems] == [(LINES + line, key)], problems
    assert message in problems[0].message


def test_a_missing_or_not_executable_database_script_is_named_by_line(write: Write) -> None:
    config = write(with_database())
    scripts_beside(config)
    loaded = load(config, {})
    assert check_files(loaded) == [] and database_script_problems(loaded) == []
    (config.parent / "scripts" / "backup_database.sh").unlink()
    (config.parent / "scripts" / "restore_database.sh").chmod(0o644)
    found = [(p.line, p.key, p.message.split(" ", 1)[1], p.hint) for p in database_script_problems(loaded)]
    restore = config.parent / "scripts" / "restore_database.sh"
    relative = "paths are relative to the config file's folder"
    assert found == [
        (LINES + 3, "backup.database.backup_script", "does not exist", relative),
        (LINES + 4, "backup.database.restore_script", "is not executable", f"chmod +x {restore}"),
    ]
    assert [p.key for p in check_files(loaded)] == ["backup.database.backup_script", "backup.database.restore_script"]


def test_a_command_that_may_take_a_backup_refuses_to_start_without_its_database_script(write: Write) -> None:
    config = write(with_database())
    scripts_beside(config, mode=0o644)
    with pytest.raises(ConfigError) as caught:
        build(config, {})
    assert [(p.line, p.key) for p in caught.value.problems] == [
        (LINES + 3, "backup.database.backup_script"),
        (LINES + 4, "backup.database.restore_script"),
    ]
    assert caught.value.exit_code == 2
    build(config, {}, reads_only=True).close()  # reading the record needs no script


def test_the_database_scripts_are_part_of_the_approved_content(write: Write) -> None:
    """Approvals bind to the digest of the config and the files it names: an edited database
    script voids them, and what runs is the content read when the command started."""
    config = write(with_database())
    scripts_beside(config)
    loaded = load(config, {})
    first = take(loaded)
    backup_script = config.parent / "scripts" / "backup_database.sh"
    assert first.read(backup_script) == b"#!/bin/sh\necho backup_database.sh\n"
    assert first.read(config.parent / "scripts" / "restore_database.sh") is not None
    backup_script.write_text("#!/bin/sh\necho something else\n")
    assert backup_script.stat().st_mode & stat.S_IXUSR
    assert take(loaded).digest != first.digest
