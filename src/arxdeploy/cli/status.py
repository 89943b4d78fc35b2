"""What `status` and `logs` read: the target, the store, one round of checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App


def environment_status(app: App, environment: str) -> dict[str, Any]:
    """Reads only: the record, what the target runs, one round of checks. Changes nothing.

    Where the two disagree it reports the drift and the command that fixes it; an abandoned
    deployment is named with how it will be finished, never finished here.
    """
    from arxdeploy.engine.drift import drift
    from arxdeploy.engine.watch import probes_for
    from arxdeploy.errors import StepFailed

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
    row["notes"] = _unfinished(app, environment)
    row["drift"] = None
    if last is None:
        row["health"] = {"status": "not deployed"}
        return row
    recorded = app.store.live(service=app.service, environment=environment)
    row["recorded"] = (
        {"version": recorded.version, "color": recorded.color.value if recorded.color else None}
        if recorded and recorded.version
        else None
    )
    state = app.target.inspect(environment=environment)
    row.update(live_version=state.live_version, url=state.live_url)
    row["live_color"] = state.live_color.value if state.live_color else None
    # A canary's split, while there is one: each color's percent of new requests.
    split = state.weights and state.weights != {state.live_color: 100}
    row["weights"] = {c.value: w for c, w in sorted(state.weights.items())} if split else None
    found = drift(recorded, state)
    if found is not None:
        row["drift"] = found.to_json()
    if state.live_color is None:
        row["health"] = {"status": "stopped" if found is None else "down"}
        return row
    plan = app.plan(environment)
    live = state.colors.get(state.live_color)
    if live is not None and live.failed:
        row["health"] = {"status": "unhealthy", "detail": f"{state.live_color.value} ({live.version}): {live.problem}"}
        return row
    try:
        probes = probes_for(state, state.live_color, live_path=True)
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


def _unfinished(app: App, environment: str) -> list[str]:
    """Deployments not ended: running, waiting for people, or abandoned by a process that died."""
    from arxdeploy.domain.states import State

    notes = []
    holder = app.store.lock_holder(service=app.service, environment=environment)
    for summary in app.store.unfinished(service=app.service, environment=environment):
        d = summary.deployment
        if summary.state is State.AWAITING_APPROVAL:
            notes.append(f"deployment {d.id} ({d.version}) waits for approval")
        elif holder is not None and holder.deployment_id == d.id and not app.leases.abandoned(holder):
            notes.append(f"deployment {d.id} ({d.kind.value} {d.version}) is {summary.state.value} (pid {holder.pid})")
            notes.extend(_paused(app, d.id))
        else:
            notes.append(
                f"deployment {d.id} ({d.kind.value} {d.version}) was interrupted in {summary.state.value}: "
                f"the next deploy, rollback or `arxdeploy reconcile --env {environment}` finishes it"
            )
    return notes


def _paused(app: App, deployment_id: str) -> list[str]:
    """A deployment that waits for a person (a canary's pause): why, and the two answers."""
    from arxdeploy.domain.events import fold

    why = fold(app.store.events(deployment_id=deployment_id)).paused
    if why is None:
        return []
    return [
        f"deployment {deployment_id} waits for a person ({why}): `arxdeploy promote {deployment_id}` goes on, "
        f"`arxdeploy abort {deployment_id} --reason ...` sends the traffic back"
    ]


def _was_deployed(app: App, environment: str) -> bool:
    return bool(app.store.history(service=app.service, environment=environment, limit=1))


def log_tails(app: App, environment: str, *, lines: int, all_colors: bool) -> Iterator[tuple[str, str]]:
    """``(where, last lines)`` for each replica of the live color (every color's with ``all_colors``):
    the local target's log files, or each container of the color's pods on Kubernetes."""
    if app.local is None:
        from arxdeploy.targets.kubernetes.target import KubernetesTarget  # the client, only here

        if not isinstance(app.target, KubernetesTarget):
            from arxdeploy.errors import UsageError

            raise UsageError("`arxdeploy logs` reads the local target's files or the Kubernetes pods' logs")
        yield from app.target.log_tails(environment=environment, lines=lines, all_colors=all_colors)
        return
    live = None
    if not all_colors and _was_deployed(app, environment):
        record = app.store.live(service=app.service, environment=environment)
        live = record.color.value if record and record.color else None
    for path in app.local.log_files(environment=environment):
        if live and not path.name.startswith(f"{live}-"):
            continue
        yield str(path), _tail(path, lines)


def _tail(path: Path, lines: int) -> str:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 256 * lines))
        data = f.read().decode("utf-8", "replace")
    return "\n".join(data.splitlines()[-lines:])
