"""The target seam: every call the engine makes to a target goes through here.

Two rules hold here once, for every step, instead of in each step or adapter:

- a ``TransientTargetError`` is retried with backoff, as its type says (``retry_attempts``,
  ``retry_backoff`` doubling, or the server's ``retry_after``); when it persists it is raised,
  and the watcher counts it as one failed round;
- before each change (export for a backup, start, switch, stop) the lease is confirmed against the store:
  a lease someone else took stops everything, an expired one lets only the way back run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from arxdeploy.domain.states import Color
from arxdeploy.engine.locks import Lease
from arxdeploy.errors import TransientTargetError
from arxdeploy.ports import Clock, EnvironmentState, Export, Target

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class TargetSeam:
    """Implements ``arxdeploy.ports.Target`` around another one."""

    target: Target
    clock: Clock
    lease: Lease | None = None  # None: reads only (status), or nothing to guard
    undoing: bool = False  # cleanup and rollback: the safe way back may run on an expired lease
    progress: Callable[[str], None] = lambda message: None

    def inspect(self, *, environment: str) -> EnvironmentState:
        return self._call("inspect", lambda: self.target.inspect(environment=environment), changes=False)

    def export(self, *, environment: str) -> Export:
        # Confirmed like a change: the backup it feeds is the first thing a deployment writes.
        return self._call("export", lambda: self.target.export(environment=environment))

    def start_color(
        self, *, environment: str, color: Color, version: str, replicas: int, saved: Export | None = None
    ) -> None:
        self._call(
            f"start {color.value}",
            lambda: self.target.start_color(
                environment=environment, color=color, version=version, replicas=replicas, saved=saved
            ),
        )

    def switch(self, *, environment: str, color: Color | None) -> None:
        self._call("switch", lambda: self.target.switch(environment=environment, color=color))

    def set_weight(self, *, environment: str, color: Color, weight: int) -> None:
        self._call(
            f"weight {color.value} {weight}%",
            lambda: self.target.set_weight(environment=environment, color=color, weight=weight),
        )

    def stop_color(self, *, environment: str, color: Color, drain_timeout: timedelta) -> None:
        self._call(
            f"stop {color.value}",
            lambda: self.target.stop_color(environment=environment, color=color, drain_timeout=drain_timeout),
        )

    def remove_created(self, *, environment: str, before: Mapping[str, Any] | None) -> list[str]:
        return self._call(
            "remove what was set up", lambda: self.target.remove_created(environment=environment, before=before)
        )

    def _call(self, what: str, call: Callable[[], T], *, changes: bool = True) -> T:
        attempt = 1
        while True:
            if changes and self.lease is not None:
                self.lease.confirm(undoing=self.undoing)
            try:
                return call()
            except TransientTargetError as exc:
                if attempt >= exc.retry_attempts:
                    raise
                delay = backoff(exc, attempt)
                self.progress(f"{what}: {exc.message}; trying again in {delay:g}s ({attempt}/{exc.retry_attempts})")
                log.info("retrying %s in %gs after: %s", what, delay, exc.message)
                self.clock.sleep(delay)
                attempt += 1


def backoff(exc: TransientTargetError, attempt: int) -> float:
    """Seconds to wait before call ``attempt + 1``: what the server asked, else doubling."""
    if exc.retry_after is not None:
        return min(exc.retry_after, MAX_BACKOFF_SECONDS)
    return min(exc.retry_backoff * 2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS)
