"""Reading commands load what they read with, not what only changes need (seed: read-only
commands are fast). Checked by what a real command imported, not by how long it took.

Each command runs in a fresh interpreter through the console script's entry point
(``cli.main.main``) against a service whose environment is live on the local target, so
``status`` does all it does: the record, the runtime's control API, a round of checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Service

pytestmark = pytest.mark.slow

# Run `main()` as `arxdeploy ARGS...` would, then write the names of the modules it imported.
RUN = """
import json, sys
from arxdeploy.cli.main import main
out, sys.argv = sys.argv[1], ["arxdeploy", *sys.argv[2:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""

# Libraries that only changes (or the Kubernetes target, or the server) use.
NEVER = {
    "httpx",  # the local target speaks plain HTTP (arxdeploy.plain_http)
    "httpcore",
    "h2",
    "lightkube",
    "kubernetes",
    "aiohttp",  # the runtime's, in its own process
    "sqlalchemy",  # a current SQLite record is read with sqlite3
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "structlog",  # nothing is logged by a read
    "ctypes",
}
# Modules of arxdeploy that only changes use.
NEVER_OURS = {
    "arxdeploy.engine.run",
    "arxdeploy.engine.steps",
    "arxdeploy.engine.gate",
    "arxdeploy.engine.tokens",
    "arxdeploy.engine.seam",
    "arxdeploy.backup",  # the backups are built on first use
    "arxdeploy.announce",
    "arxdeploy.notify",
    "arxdeploy.check_proxy",
    "arxdeploy.targets.kubernetes",
    "arxdeploy.config.effects",
    "arxdeploy.store.sql",
    "arxdeploy.cli.deploys",  # the commands not run are not imported
    "arxdeploy.cli.tokens",
}
# What validating the file takes, which a read whose config's essentials are in the cache skips.
VALIDATING = {"yaml", "pydantic", "pydantic_core", "arxdeploy.config.loader", "arxdeploy.config.models"}


def imported(service: Service, tmp_path: Path, *args: str) -> tuple[list[str], str]:
    """The modules ``arxdeploy -c CONFIG ARGS...`` imported, and what it printed."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(out), "-c", str(service.config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=service.env,
        check=False,
    )
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["code"] == 0, done.stderr
    return result["modules"], done.stdout


def loaded(modules: list[str], names: set[str]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(f"{name}.") for name in names)]


def test_reading_commands_load_nothing_only_changes_need(service: Service, tmp_path: Path) -> None:
    deployed = service.run("deploy", "--env", "staging", "--version", "v1")
    assert deployed.returncode == 0, deployed.stderr

    # The deploy kept what it validated: the reads take it, and import neither PyYAML nor pydantic.
    modules, printed = imported(service, tmp_path, "status")
    assert "healthy: 6 checks passed" in printed  # the whole read ran: record, runtime, checks
    assert loaded(modules, NEVER | NEVER_OURS | VALIDATING) == []
    assert "arxdeploy.plain_http" in modules and "rich.table" in modules

    modules, printed = imported(service, tmp_path, "status", "--json")
    (row,) = json.loads(printed)["environments"]
    assert (row["live_version"], row["health"]["status"]) == ("v1", "healthy")
    assert loaded(modules, NEVER | NEVER_OURS | {"rich"} | VALIDATING) == []  # JSON needs no tables

    service.write(monitoring="7s")  # an edited file: the next read validates it, and keeps it
    modules, printed = imported(service, tmp_path, "status", "--json")
    assert json.loads(printed)["environments"][0]["live_version"] == "v1"
    assert set(loaded(modules, VALIDATING)) >= VALIDATING

    modules, printed = imported(service, tmp_path, "history", "--json")
    (newest,) = json.loads(printed)
    assert newest["version"] == "v1"
    assert loaded(modules, NEVER | NEVER_OURS | {"rich"} | VALIDATING) == []

    modules, printed = imported(service, tmp_path, "history")
    assert newest["id"] in printed
    assert loaded(modules, NEVER | NEVER_OURS) == []

    modules, printed = imported(service, tmp_path, "show", newest["id"], "--json")
    assert json.loads(printed)["state"] == "succeeded"
    assert loaded(modules, NEVER | NEVER_OURS | {"rich"}) == []

    modules, printed = imported(service, tmp_path, "show", newest["id"])
    assert "succeeded" in printed
    assert loaded(modules, NEVER | NEVER_OURS) == []


def test_status_beside_a_running_deployment_loads_no_engine(service: Service, tmp_path: Path) -> None:
    deployed = service.run("deploy", "--env", "staging", "--version", "v1")
    assert deployed.returncode == 0, deployed.stderr
    service.write(monitoring="300s")  # the next deploy stays in monitoring until the test ends
    running = service.start("deploy", "--env", "staging", "--version", "v2")
    service.wait_for(running, "v2", "monitoring")

    # The lease's holder is alive: status names the deployment and its process (the leases, not the engine).
    modules, printed = imported(service, tmp_path, "status", "--json")
    (row,) = json.loads(printed)["environments"]
    assert any(f"is monitoring (pid {running.pid})" in note for note in row["notes"]), row["notes"]
    assert loaded(modules, NEVER | NEVER_OURS | {"rich"}) == []
