"""Rules every store shares, so SqlStore and MemoryStore answer alike. No third-party imports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from arxdeploy.domain.decide import Route
from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import Color, Kind, State
from arxdeploy.errors import NotFoundError, StoreError
from arxdeploy.ports import LiveRelease, LockHolder, Summary, TokenRecord

MIN_PREFIX = 6  # shorter prefixes collide too often to be worth guessing at
_SHOWN_CANDIDATES = 10


def require_aware(value: datetime, what: str = "time") -> datetime:
    """Naive datetimes would silently shift by the host's offset: refuse them."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value


def encode_event(event: Event) -> str:
    require_aware(event.at, f"event {event.type!r} time")
    return json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)


def decode_event(payload: str) -> Event:
    return Event.from_json(json.loads(payload))


def last_state(events: Iterable[Event]) -> State | None:
    """The state the cached column takes after ``events``: the last ``state`` event wins, as in ``fold``."""
    state = None
    for event in events:
        if event.type == "state":
            state = State(event.data["state"])
    return state


def pick(deployment_id: str, matches: Sequence[str]) -> str:
    """Resolve a full id or a unique prefix among ``matches``, the ids that start with it."""
    if deployment_id in matches:
        return deployment_id
    if len(deployment_id) < MIN_PREFIX or not matches:
        raise unknown_id(deployment_id)
    if len(matches) > 1:
        raise ambiguous_prefix(deployment_id, matches)
    return matches[0]


def unknown_id(deployment_id: str) -> NotFoundError:
    short = " (a prefix needs at least 6 characters)" if len(deployment_id) < MIN_PREFIX else ""
    return NotFoundError(
        f"no deployment with id {deployment_id!r}{short}",
        hint="run `arxdeploy history` to list deployments and their ids",
    )


def ambiguous_prefix(prefix: str, candidates: Sequence[str]) -> NotFoundError:
    shown = ", ".join(sorted(candidates)[:_SHOWN_CANDIDATES])
    more = f" and {len(candidates) - _SHOWN_CANDIDATES} more" if len(candidates) > _SHOWN_CANDIDATES else ""
    return NotFoundError(
        f"deployment id prefix {prefix!r} matches {len(candidates)} deployments: {shown}{more}",
        hint="give more characters of the id",
    )


def already_exists(deployment_id: str) -> StoreError:
    return StoreError(f"deployment {deployment_id!r} already exists")


# --- rows, as every SQL driver returns them (column name -> value) ---------------------------


class Row(Protocol):
    """A row by column name: a dict from SQLAlchemy, a ``sqlite3.Row``."""

    def __getitem__(self, column: str) -> Any: ...


def utc(value: Any) -> Any:
    """An aware UTC datetime from a stored time: a datetime (PostgreSQL) or ISO text (SQLite)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.astimezone(UTC)


def summary_of(row: Row) -> Summary:
    kind = Kind(row["kind"])
    deployment = Deployment(
        id=row["id"],
        service=row["service"],
        environment=row["environment"],
        version=row["version"],
        previous_version=row["previous_version"],
        new_color=Color(row["new_color"]),
        old_color=Color(row["old_color"]) if row["old_color"] else None,
        created_at=utc(row["created_at"]),
        kind=kind,
        requested_by=row["requested_by"],
        reason=row["reason"],
        git_ref=row["git_ref"],
        git_sha=row["git_sha"],
        actor=row["actor"],
        run_url=row["run_url"],
        from_backup=row["from_backup"],
        critical=bool(row["critical"]),
        route=Route(
            needs_approval=bool(row["needs_approval"]),
            monitor=bool(row["monitor"]),
            reconcile_first=bool(row["reconcile_first"]),
            stop=kind is Kind.STOP,  # the kind says it: no column of its own
        ),
    )
    return Summary(deployment=deployment, state=State(row["state"]), updated_at=utc(row["updated_at"]))


def holder_of(row: Row) -> LockHolder:
    return LockHolder(
        deployment_id=row["deployment_id"],
        owner=row["owner"],
        host=row["host"],
        pid=row["pid"],
        acquired_at=utc(row["acquired_at"]),
        expires_at=utc(row["expires_at"]),
    )


def token_of(row: Row) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        email=row["email"],
        secret_sha256=row["secret_sha256"],
        created_at=utc(row["created_at"]),
        created_by=row["created_by"],
        revoked_at=utc(row["revoked_at"]),
        github=row["github"],
        role=Role(row["role"]),
        expires_at=utc(row["expires_at"]),
    )


def live_of(deployment_id: str, switched: Event) -> LiveRelease:
    """The live release a ``switched`` event of ``deployment_id`` says."""
    color, version = switched.data.get("color"), switched.data.get("version")
    return LiveRelease(
        color=Color(color) if color else None,
        version=None if version is None else str(version),
        deployment_id=deployment_id,
        at=switched.at,
    )
