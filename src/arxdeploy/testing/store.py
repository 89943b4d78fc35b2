"""MemoryStore: ``arxdeploy.ports.Store`` in memory, for tests (yours and ours).

It follows the same contract as the SQL store (the suite in tests/store runs against both):
events go through their JSON form, so what you read back is what a database would give.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import State
from arxdeploy.errors import StoreError
from arxdeploy.ports import LiveRelease, LockHolder, Summary, TokenRecord
from arxdeploy.store.common import (
    already_exists,
    decode_event,
    encode_event,
    last_state,
    live_of,
    pick,
    require_aware,
    unknown_id,
)

__all__ = ["MemoryStore"]


@dataclass
class _Record:
    deployment: Deployment
    state: State
    updated_at: datetime
    payloads: list[str] = field(default_factory=list)

    def summary(self) -> Summary:
        return Summary(deployment=self.deployment, state=self.state, updated_at=self.updated_at)


class MemoryStore:
    """A thread-safe in-memory Store. Nothing survives the process."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._records: dict[str, _Record] = {}
        self._locks: dict[tuple[str, str], LockHolder] = {}
        self._tokens: dict[str, TokenRecord] = {}

    def create(self, *, deployment: Deployment, events: Sequence[Event]) -> None:
        created = _utc(require_aware(deployment.created_at, "created_at"))
        payloads = [encode_event(e) for e in events]
        with self._mutex:
            if deployment.id in self._records:
                raise already_exists(deployment.id)
            self._records[deployment.id] = _Record(
                deployment=replace(deployment, created_at=created),
                state=last_state(events) or State.REQUESTED,
                updated_at=_utc(events[-1].at) if events else created,
                payloads=payloads,
            )

    def append(self, *, deployment_id: str, events: Sequence[Event]) -> None:
        payloads = [encode_event(e) for e in events]
        with self._mutex:
            record = self._record(deployment_id)
            if not events:
                return
            record.payloads.extend(payloads)
            record.state = last_state(events) or record.state
            record.updated_at = _utc(events[-1].at)

    def get(self, *, deployment_id: str) -> Summary:
        with self._mutex:
            matches = [i for i in self._records if i.startswith(deployment_id)]
            return self._records[pick(deployment_id, matches)].summary()

    def events(self, *, deployment_id: str) -> list[Event]:
        with self._mutex:
            payloads = list(self._record(deployment_id).payloads)
        return [decode_event(p) for p in payloads]

    def history(self, *, service: str, environment: str | None = None, limit: int = 20) -> list[Summary]:
        with self._mutex:
            found = [
                r
                for r in self._records.values()
                if r.deployment.service == service and environment in (None, r.deployment.environment)
            ]
        found.sort(key=lambda r: (r.deployment.created_at, r.deployment.id), reverse=True)
        return [r.summary() for r in found[: max(limit, 0)]]

    def unfinished(self, *, service: str, environment: str) -> list[Summary]:
        with self._mutex:
            found = [r for r in self._in(service, environment) if not r.state.terminal]
        found.sort(key=lambda r: (r.deployment.created_at, r.deployment.id))
        return [r.summary() for r in found]

    def live(self, *, service: str, environment: str) -> LiveRelease | None:
        with self._mutex:
            logs = [(r.deployment, list(r.payloads)) for r in self._in(service, environment)]
        newest: tuple[tuple[datetime, datetime, int], str, Event] | None = None
        for deployment, payloads in logs:
            for seq, payload in enumerate(payloads, start=1):
                event = decode_event(payload)
                if event.type != "switched":
                    continue
                order = (event.at, deployment.created_at, seq)
                if newest is None or order > newest[0]:
                    newest = (order, deployment.id, event)
        if newest is None:
            return None
        _, deployment_id, switched = newest
        return live_of(deployment_id, switched)

    def acquire_lock(self, *, service: str, environment: str, holder: LockHolder) -> LockHolder:
        ours = replace(
            holder,
            acquired_at=_utc(require_aware(holder.acquired_at, "acquired_at")),
            expires_at=_utc(require_aware(holder.expires_at, "expires_at")),
        )
        with self._mutex:
            current = self._locks.get((service, environment))
            if current is not None and current.expires_at > ours.acquired_at:
                return current
            self._locks[(service, environment)] = ours
            return ours

    def renew_lock(self, *, service: str, environment: str, holder: LockHolder, expires_at: datetime) -> bool:
        expires = _utc(require_aware(expires_at, "expires_at"))
        with self._mutex:
            current = self._locks.get((service, environment))
            if current is None or not _same(current, holder):
                return False
            self._locks[(service, environment)] = replace(current, expires_at=expires)
            return True

    def release_lock(self, *, service: str, environment: str, holder: LockHolder) -> None:
        with self._mutex:
            current = self._locks.get((service, environment))
            if current is not None and _same(current, holder):
                del self._locks[(service, environment)]

    def lock_holder(self, *, service: str, environment: str) -> LockHolder | None:
        with self._mutex:
            return self._locks.get((service, environment))

    def break_lock(self, *, service: str, environment: str, holder: LockHolder) -> bool:
        require_aware(holder.acquired_at, "acquired_at")
        with self._mutex:
            current = self._locks.get((service, environment))
            same = current is not None and _same(current, holder)
            if same:
                del self._locks[(service, environment)]
            return same

    def add_token(self, *, token: TokenRecord) -> None:
        with self._mutex:
            self._add_token(token)

    def add_first_admin(self, *, token: TokenRecord) -> bool:
        with self._mutex:
            at = require_aware(token.created_at, "created_at")
            if any(t.role is Role.ADMIN and t.active(at) for t in self._tokens.values()):
                return False
            self._add_token(token)
            return True

    def _add_token(self, token: TokenRecord) -> None:
        require_aware(token.created_at, "created_at")
        if token.expires_at is not None:
            require_aware(token.expires_at, "expires_at")
        if token.id in self._tokens:
            raise StoreError(f"token {token.id} already exists")
        expires = _utc(token.expires_at) if token.expires_at else None
        self._tokens[token.id] = replace(token, created_at=_utc(token.created_at), expires_at=expires)

    def tokens(self) -> list[TokenRecord]:
        with self._mutex:
            return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.id))

    def revoke_token(self, *, token_id: str, at: datetime) -> bool:
        with self._mutex:
            token = self._tokens.get(token_id)
            if token is None or token.revoked_at is not None:
                return False
            self._tokens[token_id] = replace(token, revoked_at=_utc(require_aware(at, "at")))
            return True

    def _record(self, deployment_id: str) -> _Record:
        record = self._records.get(deployment_id)
        if record is None:
            raise unknown_id(deployment_id)
        return record

    def _in(self, service: str, environment: str) -> list[_Record]:
        return [
            r
            for r in self._records.values()
            if r.deployment.service == service and r.deployment.environment == environment
        ]


def _same(a: LockHolder, b: LockHolder) -> bool:
    return (a.deployment_id, a.host, a.pid, a.acquired_at) == (b.deployment_id, b.host, b.pid, b.acquired_at)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
