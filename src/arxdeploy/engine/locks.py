"""The one-deployment-at-a-time lease for a (service, environment).

A lease is renewed every ``ttl / 3``: by the engine between rounds of checks (``Lease.check``)
and by a background thread while a step blocks; and it is confirmed against the store before
every change to the target (``Lease.confirm``). It is lost in two ways:

- **taken**: the store says someone else holds it now (their recovery owns the deployment): this
  process changes nothing more and records nothing more;
- **expired**: the store did not answer until the lease ran out: no step goes forward, but the
  safe way back (cleanup before the switch, rollback after it) may still run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from arxdeploy.errors import ArxdeployError, LeaseLostError, LockedError
from arxdeploy.ports import Clock, LockHolder, Store

log = logging.getLogger(__name__)

# After a failed renewal, try again this often (or ttl / 10 if shorter) until the lease runs out.
RETRY_RENEWAL = timedelta(seconds=1)


@dataclass(frozen=True)
class Identity:
    """Who runs this process: recorded as the lock holder and the requester."""

    user: str
    host: str
    pid: int
    email: str | None = None  # ARXDEPLOY_EMAIL: how approvers know people
    # Looked up only when a person is recorded (git's user.email): most commands never need it.
    find_email: Callable[[], str | None] | None = field(default=None, compare=False, repr=False)

    @property
    def owner(self) -> str:
        return f"{self.user}@{self.host}"

    @property
    def person(self) -> str:
        """Recorded as who asked for a deployment: the email when known."""
        return self.email or (self.find_email() if self.find_email else None) or self.owner


class Lease:
    """One lease this process holds. Thread-safe: the renewer and the engine share it."""

    def __init__(self, *, store: Store, clock: Clock, service: str, environment: str, holder: LockHolder) -> None:
        self.store = store
        self.clock = clock
        self.service = service
        self.environment = environment
        self.holder = holder
        self.ttl = holder.expires_at - holder.acquired_at
        self._expires_at = holder.expires_at
        self._lost: LeaseLostError | None = None
        self.failing = False  # the last renewal did not reach the store
        self._mutex = threading.Lock()

    @property
    def lost(self) -> LeaseLostError | None:
        with self._mutex:
            return self._lost

    def renew(self) -> bool:
        """One attempt to extend the lease; False once it is lost. Store errors count as failed
        attempts until the lease runs out."""
        if self.lost is not None:
            return False
        now = self.clock.now()
        try:
            ours = self.store.renew_lock(
                service=self.service, environment=self.environment, holder=self.holder, expires_at=now + self.ttl
            )
        except ArxdeployError as exc:
            with self._mutex:
                self.failing = True
                if now >= self._expires_at:
                    self._lose(f"could not renew it before it expired ({exc.message})", taken=False)
            return self.lost is None
        with self._mutex:
            if not ours:
                self._lose("another process holds it now", taken=True)
                return False
            self._expires_at = now + self.ttl
            self.failing = False
        return True

    def check(self, *, undoing: bool = False) -> None:
        """Raise LeaseLostError if this process may not go on; renews first when a renewal is due
        (every ``ttl / 3`` by the engine's clock), so a long wait keeps the lease it needs."""
        with self._mutex:
            due = self._lost is None and self._expires_at - self.clock.now() <= self.ttl * 2 / 3
        if due:
            self.renew()
        with self._mutex:
            if self._lost is None and self.clock.now() >= self._expires_at:
                self._lose("it expired before it could be renewed", taken=False)
            lost = self._lost
        if lost is not None and (lost.taken or not undoing):
            raise lost

    def confirm(self, *, undoing: bool = False) -> None:
        """Before a change to the target: renew now, so a lease taken meanwhile is noticed at once."""
        self.renew()
        self.check(undoing=undoing)

    def _lose(self, why: str, *, taken: bool) -> None:
        if self._lost is not None:
            return
        what = f"the lease of {self.service}/{self.environment} for deployment {self.holder.deployment_id}"
        if taken:
            hint = f"the other process finishes it; follow it with `arxdeploy show {self.holder.deployment_id}`"
            message = f"{what} was lost: {why}; this process changes nothing more"
        else:
            hint = "check that the store is reachable; the next command recovers what is left"
            message = f"{what} was lost: {why}; only the safe way back runs now"
        log.warning(message)
        self._lost = LeaseLostError(message, taken=taken, hint=hint)


@dataclass
class Leases:
    store: Store
    clock: Clock
    me: Identity
    is_alive: Callable[[LockHolder], bool]  # False when the holder's process is known to be gone
    ttl: timedelta = timedelta(seconds=30)

    def abandoned(self, holder: LockHolder) -> bool:
        return holder.expires_at <= self.clock.now() or not self.is_alive(holder)

    def take(self, *, service: str, environment: str, deployment_id: str) -> Lease:
        """Take the lease for ``deployment_id`` or raise LockedError naming who holds it."""
        for _ in range(3):
            now = self.clock.now()
            mine = LockHolder(deployment_id, self.me.owner, self.me.host, self.me.pid, now, now + self.ttl)
            holder = self.store.acquire_lock(service=service, environment=environment, holder=mine)
            if same_holder(holder, mine):
                return Lease(
                    store=self.store, clock=self.clock, service=service, environment=environment, holder=holder
                )
            if not self.abandoned(holder):
                raise LockedError(
                    f"{service}/{environment} is locked by deployment {holder.deployment_id} "
                    f"({holder.owner}, pid {holder.pid}, since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC)",
                    hint=f"wait for it to end, or follow it with `arxdeploy show {holder.deployment_id}`",
                )
            self.store.break_lock(service=service, environment=environment, holder=holder)
        raise LockedError(f"could not take the lock of {service}/{environment}; try again")

    @contextmanager
    def held(self, *, service: str, environment: str, deployment_id: str) -> Iterator[Lease]:
        """Hold the lease for the block, renewing it in the background."""
        lease = self.take(service=service, environment=environment, deployment_id=deployment_id)
        stop = threading.Event()
        retry = min(RETRY_RENEWAL, lease.ttl / 10).total_seconds()

        def renew() -> None:
            period = lease.ttl.total_seconds() / 3
            while not stop.wait(retry if lease.failing else period) and lease.renew():
                pass

        renewer = threading.Thread(target=renew, name="arxdeploy-lease", daemon=True)
        renewer.start()
        try:
            yield lease
        except Exception:
            self._release(stop, renewer, lease)
            raise
        except BaseException:
            # Interrupted (Ctrl-C, a kill): keep the lease; the next command sees its holder
            # gone and recovers the deployment before it proceeds.
            stop.set()
            raise
        self._release(stop, renewer, lease)

    def _release(self, stop: threading.Event, renewer: threading.Thread, lease: Lease) -> None:
        stop.set()
        renewer.join()
        if lease.lost is None or not lease.lost.taken:  # never release what someone else holds
            self.store.release_lock(service=lease.service, environment=lease.environment, holder=lease.holder)


def same_holder(a: LockHolder, b: LockHolder) -> bool:
    """The same lease: a recovery holds the same deployment id, so the id alone does not tell."""
    return (a.deployment_id, a.host, a.pid, a.acquired_at) == (b.deployment_id, b.host, b.pid, b.acquired_at)
