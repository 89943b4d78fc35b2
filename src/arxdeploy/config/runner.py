"""State that would die with a CI runner: refused before a Kubernetes deployment changes anything.

Every CI job starts on a fresh machine. A record or backups on that machine's disk are gone when
the job ends: the next job says "not deployed" while a version is live, a rollback finds no
earlier version and every backup is lost. So ``deploy``, ``rollback`` and ``resume`` of a
Kubernetes target in CI refuse them, naming the settings that fix it, unless the config says
``single_runner: true`` (a self-hosted runner that keeps its disk). The local target in CI stays
allowed: there the runner is the machine that runs the service.
"""

from __future__ import annotations

from arxdeploy.config.loader import LoadedConfig
from arxdeploy.errors import ConfigError, ConfigProblem


def runner_state_problems(loaded: LoadedConfig, command: str, ci_variable: str | None) -> list[ConfigProblem]:
    """What of the record and the backups would live on this CI runner's disk. ``ci_variable``: the
    variable that says this runs in CI (``CI``, ``GITHUB_ACTIONS``), None outside CI."""
    config = loaded.config
    if config.target.type != "kubernetes" or config.single_runner or ci_variable is None:
        return []
    file = str(loaded.path)
    why = f"`{command}` runs in CI ({ci_variable} is set), where this runner's disk goes with the job"
    problems = []
    if config.store_url is not None and config.store_url.startswith("sqlite"):
        problems.append(
            ConfigProblem(
                file,
                loaded.line_of("store_url"),
                "store_url",
                f"keeps the deployment record in SQLite on this runner: {why}, and the next job would not see it",
                hint="remove store_url (the record then lives in the cluster), or use a postgresql:// URL; "
                "or set single_runner: true if this runner keeps its disk",
            )
        )
    if config.backup.storage.type == "local":
        problems.append(
            ConfigProblem(
                file,
                loaded.line_of("backup", "storage", "type"),
                "backup.storage.type",
                f"is local, so backups are written to this runner: {why}, and they would be gone with it",
                hint="keep backups off the runner with backup.storage.type: s3 (bucket) or azure_blob (container); "
                "or set single_runner: true if this runner keeps its disk",
            )
        )
    return problems


def refuse_runner_state(loaded: LoadedConfig, command: str, ci_variable: str | None) -> None:
    """Raise ``ConfigError`` (exit 2) when :func:`runner_state_problems` finds any."""
    if problems := runner_state_problems(loaded, command, ci_variable):
        raise ConfigError(problems)
