"""What `status` and `logs` read: the target, the store, one round of checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App


def environment_status(app: App, environment: str) -> dict[str, Any]:
    from arxdeploy.engine.watch import probes_for
    from arxdeploy.errors import StepFailed

    # Recovery may end the last deployment, so it runs before the last deployment is read.
    notes = app.prepare(environment, strict=False) if _was_deployed(app, environment) else []
    row: dict[str, Any] = {"environment": environment, "live_version": None, "live_color": None, "url": None}
    history = app.store.history(service=app.service, environment=environment, limit=1)
    last = history[0] if history else None
    row["last_deployment"] = (
        {
            "id": last.deployment.id,
            "kind": last.deployment.kind.value,
            "version": last.deployment.version,
            "state": last.state.value,
            "at": last.updated_at.isoformat(),
        }
        if last
        else None
    )
    row["notes"] = notes
    if last is None:
        row["health"] = {"status": "not deployed"}
        return row
    state = app.target.inspect(environment=environment)
    row.update(live_version=state.live_version, url=state.live_url)
    row["live_color"] = state.live_color.value if state.live_color else None
    if state.live_color is None:
        row["health"] = {"status": "stopped"}
        return row
    plan = app.plan(environment)
    try:
        probes = probes_for(app.target, environment, state.live_color, live_path=True)
    except StepFailed as exc:
        row["health"] = {"status": "unhealthy", "detail": exc.message}
        return row
    result = app.health.round(probes=probes, timeout=plan.checks.timeout)
    failure = result.first_failure
    row["health"] = (
        {"status": "unhealthy", "detail": f"{failure.check} -> {failure.answer}"}
        if failure
        else {"status": "healthy", "detail": f"{len(result.results)} checks passed"}
    )
    return row


def _was_deployed(app: App, environment: str) -> bool:
    # Avoid starting the local runtime just to say that nothing was ever deployed.
    return bool(app.store.history(service=app.service, environment=environment, limit=1))


def log_tails(app: App, environment: str, *, lines: int, all_colors: bool) -> Iterator[tuple[Path, str]]:
    live = None
    if not all_colors and _was_deployed(app, environment):
        record = app.store.live(service=app.service, environment=environment)
        live = record.color.value if record and record.color else None
    if app.local is None:
        from arxdeploy.errors import UsageError

        raise UsageError(
            "`arxdeploy logs` reads the local target's log files",
            hint=f"on Kubernetes: kubectl logs -l app={app.service} --all-containers",
        )
    for path in app.local.log_files(environment=environment):
        if live and not path.name.startswith(f"{live}-"):
            continue
        yield path, _tail(path, lines)


def _tail(path: Path, lines: int) -> str:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 256 * lines))
        data = f.read().decode("utf-8", "replace")
    return "\n".join(data.splitlines()[-lines:])
