"""Bodies of the child processes in test_sqlite_concurrency (importable by ``spawn``)."""

from __future__ import annotations

import traceback
from typing import Any

from arxdeploy.domain.events import entered, note
from arxdeploy.domain.states import State
from arxdeploy.ports import Store
from tests.store.helpers import at, holder

DEADLINE = 60.0  # seconds any one wait may take before the test is declared stuck


def run(job: str, url: str, name: str, *, rounds: int, barrier: Any, results: Any) -> None:
    """Run ``job`` and report ("ok", name, value) or ("error", name, traceback) on ``results``."""
    try:
        from arxdeploy.store.sql import SqlStore

        barrier.wait(DEADLINE)  # both children open the store at once (first open migrates)
        store = SqlStore(url)
        try:
            value = _JOBS[job](store, name, rounds, barrier)
        finally:
            store.close()
        results.put(("ok", name, value))
    except BaseException:
        barrier.abort()  # the other child stops waiting for us at once
        results.put(("error", name, traceback.format_exc()))
        raise


def _race_for_locks(store: Store, name: str, rounds: int, barrier: Any) -> list[str]:
    winners = []
    for r in range(rounds):
        barrier.wait(DEADLINE)
        # Same acquired_at for both: neither can see the other's lease as expired.
        in_force = store.acquire_lock(service="shop", environment=f"env-{r}", holder=holder(name, acquired=r))
        winners.append(in_force.deployment_id)
    return winners


def _append_batches(store: Store, name: str, rounds: int, barrier: Any) -> int:
    state = State.DEPLOYING if name == "p0" else State.VERIFYING
    barrier.wait(DEADLINE)
    for i in range(rounds):
        batch = [note(f"{name} {i} first", at(i)), entered(state, at(i), by=name), note(f"{name} {i} last", at(i))]
        store.append(deployment_id="shared000001", events=batch)
    return rounds


_JOBS = {"locks": _race_for_locks, "appends": _append_batches}
