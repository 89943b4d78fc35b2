"""The one-deployment-at-a-time lease for a (service, environment)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from arxdeploy.errors import LockedError
from arxdeploy.ports import Clock, LockHolder, Store


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


@dataclass
class Leases:
    store: Store
    clock: Clock
    me: Identity
    is_alive: Callable[[LockHolder], bool]  # False when the holder's process is known to be gone
    ttl: timedelta = timedelta(seconds=30)

    def abandoned(self, holder: LockHolder) -> bool:
        return holder.expires_at <= self.clock.now() or not self.is_alive(holder)

    def take(self, *, service: str, environment: str, deployment_id: str) -> None:
        """Take the lease for ``deployment_id`` or raise LockedError naming who holds it."""
        for _ in range(3):
            now = self.clock.now()
            mine = LockHolder(deployment_id, self.me.owner, self.me.host, self.me.pid, now, now + self.ttl)
            holder = self.store.acquire_lock(service=service, environment=environment, holder=mine)
            if holder.deployment_id == deployment_id and holder.pid == self.me.pid and holder.host == self.me.host:
                return
            if not self.abandoned(holder):
                raise LockedError(
                    f"{service}/{environment} is locked by deployment {holder.deployment_id} "
                    f"({holder.owner}, pid {holder.pid}, since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC)",
                    hint=f"wait for it to end, or follow it with `arxdeploy show {holder.deployment_id}`",
                )
            self.store.break_lock(service=service, environment=environment, holder=holder)
        raise LockedError(f"could not take the lock of {service}/{environment}; try again")

    @contextmanager
    def held(self, *, service: str, environment: str, deployment_id: str) -> Iterator[None]:
        """Hold the lease for the block, renewing it in the background."""
        self.take(service=service, environment=environment, deployment_id=deployment_id)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.ttl.total_seconds() / 3):
                self.store.renew_lock(
                    service=service,
                    environment=environment,
                    deployment_id=deployment_id,
                    expires_at=self.clock.now() + self.ttl,
                )

        renewer = threading.Thread(target=renew, name="arxdeploy-lease", daemon=True)
        renewer.start()
        try:
            yield
        except Exception:
            self._release(stop, renewer, service, environment, deployment_id)
            raise
        except BaseException:
            # Interrupted (Ctrl-C, a kill): keep the lease; the next command sees its holder
            # gone and recovers the deployment before it proceeds.
            stop.set()
            raise
        self._release(stop, renewer, service, environment, deployment_id)

    def _release(
        self, stop: threading.Event, renewer: threading.Thread, service: str, environment: str, deployment_id: str
    ) -> None:
        stop.set()
        renewer.join()
        self.store.release_lock(service=service, environment=environment, deployment_id=deployment_id)
