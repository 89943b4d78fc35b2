"""The deployment record, its append-only event log, and the fold that derives its state.

Events are plain, versioned data (``type`` and ``v`` plus fields) so that logs written by
earlier versions keep loading: the fold ignores fields it does not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from arxdeploy.domain.decide import Route
from arxdeploy.domain.states import Color, Kind, State

EVENT_VERSION = 1


@dataclass(frozen=True)
class Deployment:
    """The facts fixed when a deployment is requested."""

    id: str
    service: str
    environment: str
    version: str
    previous_version: str | None
    new_color: Color
    old_color: Color | None  # the live color when it was requested, if any
    created_at: datetime
    kind: Kind = Kind.DEPLOY
    requested_by: str = ""
    reason: str = ""
    git_ref: str | None = None
    git_sha: str | None = None
    critical: bool = False
    actor: str | None = None  # who triggered the CI run (GITHUB_ACTOR), when a CI run asked
    run_url: str | None = None  # the CI run that asked, to follow it from the record
    from_backup: str | None = None  # a restore: the id of the backup it returns to
    route: Route = field(default_factory=Route)


@dataclass(frozen=True)
class Event:
    type: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "v": EVENT_VERSION, "at": self.at.isoformat(), **self.data}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Event:
        data = {k: v for k, v in raw.items() if k not in ("type", "v", "at")}
        return cls(type=str(raw["type"]), at=datetime.fromisoformat(str(raw["at"])), data=data)


def entered(state: State, at: datetime, **data: Any) -> Event:
    return Event("state", at, {"state": state.value, **data})


def step_ended(step: str, outcome: str, started: datetime, at: datetime, **data: Any) -> Event:
    return Event("step", at, {"step": step, "outcome": outcome, "started": started.isoformat(), **data})


def note(message: str, at: datetime, **data: Any) -> Event:
    return Event("note", at, {"message": message, **data})


def switched(color: Color | None, version: str | None, at: datetime) -> Event:
    return Event("switched", at, {"color": color.value if color else None, "version": version})


def database_restored(backup_id: str, step: str, detail: str, at: datetime) -> Event:
    """The database was put back from backup ``backup_id``'s dump, by ``step``."""
    return Event("database_restored", at, {"backup": backup_id, "step": step, "detail": detail})


def requested(at: datetime, route: Route) -> Event:
    """The first event. A route fact that has no column in the record (the database comes back
    too; a canary) is written here, so that the deployment read back from the record has it too."""
    facts: dict[str, Any] = {"restore_database": True} if route.restore_database else {}
    if route.canary:
        facts["canary"] = True
    return entered(State.REQUESTED, at, **facts)


def canary_step(index: int, kind: str, phase: str, weight: int, at: datetime, *, of: int, detail: str = "") -> Event:
    """A canary step (``index`` from 1, ``of`` in all; ``kind`` weight, pause or analysis) started
    or ended (``phase``), with the new color's share of the traffic (``weight``) at that moment."""
    data: dict[str, Any] = {"index": index, "of": of, "kind": kind, "phase": phase, "weight": weight}
    return Event("canary_step", at, {**data, **({"detail": detail} if detail else {})})


@dataclass(frozen=True)
class StepRun:
    step: str
    outcome: str
    started: datetime
    ended: datetime
    detail: str = ""

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()


@dataclass(frozen=True)
class Failure:
    step: str
    reason: str
    check: str | None = None
    answer: str | None = None


@dataclass
class View:
    """What the event log says about one deployment now."""

    state: State = State.REQUESTED
    entered_at: datetime | None = None
    steps: list[StepRun] = field(default_factory=list)
    failure: Failure | None = None
    traffic_on: Color | None = None
    traffic_moved: bool = False
    finished_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    restores_database: bool = False  # asked to put the database back (recorded when requested)
    database_restored_from: str | None = None  # the backup whose dump it put back, if it did
    canary: bool = False  # a canary deploy (recorded when requested)
    canary_weight: int | None = None  # the new color's share of the traffic, as last recorded
    canary_step: str | None = None  # where the canary is, e.g. "3/6 pause (weight 10%)"
    paused: str | None = None  # why it waits for a person (promote or abort), while it does


def fold(events: Iterable[Event]) -> View:
    """Derive a deployment's view from its events, oldest first."""
    view = View()
    for event in events:
        if event.type == "state":
            view.state = State(event.data["state"])
            view.entered_at = event.at
            if view.state is State.REQUESTED and event.data.get("restore_database"):
                view.restores_database = True
            if view.state is State.REQUESTED and event.data.get("canary"):
                view.canary = True
            if view.state.terminal:
                view.finished_at = event.at
        elif event.type == "step":
            run = StepRun(
                step=str(event.data["step"]),
                outcome=str(event.data["outcome"]),
                started=datetime.fromisoformat(str(event.data["started"])),
                ended=event.at,
                detail=str(event.data.get("detail") or event.data.get("reason") or ""),
            )
            view.steps.append(run)
            view.paused = None  # the step that paused (if one did) is over
            if run.outcome != "ok" and view.failure is None:
                view.failure = Failure(
                    step=run.step,
                    reason=str(event.data.get("reason", run.outcome)),
                    check=event.data.get("check"),
                    answer=event.data.get("answer"),
                )
        elif event.type == "switched":
            color = event.data.get("color")
            view.traffic_on = Color(color) if color else None
            view.traffic_moved = True
        elif event.type == "warning":
            view.warnings.append(str(event.data.get("message", "")))
        elif event.type == "database_restored":
            view.database_restored_from = str(event.data.get("backup"))
        elif event.type == "canary_step":
            view.canary_weight = int(event.data.get("weight", 0))
            where = f"{event.data.get('index')}/{event.data.get('of')} {event.data.get('kind')}"
            ended = " done" if event.data.get("phase") == "ended" else ""
            view.canary_step = f"{where}{ended} (weight {view.canary_weight}%)"
        elif event.type == "paused":
            view.paused = str(event.data.get("reason", ""))
        elif event.type in ("promoted", "aborted"):
            view.paused = None
    if view.state.terminal:
        view.paused = None
    return view


def as_recorded(d: Deployment, view: View) -> Deployment:
    """``d`` with what its first event says of its route (a deployment read back from the record)."""
    if view.restores_database and not d.route.restore_database:
        d = replace(d, route=replace(d.route, restore_database=True))
    if view.canary and not d.route.canary:
        d = replace(d, route=replace(d.route, canary=True))
    return d
