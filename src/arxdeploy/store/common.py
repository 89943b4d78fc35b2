"""Rules every store shares, so SqlStore and MemoryStore answer alike. No third-party imports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from arxdeploy.domain.events import Event
from arxdeploy.domain.states import State
from arxdeploy.errors import NotFoundError, StoreError

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
