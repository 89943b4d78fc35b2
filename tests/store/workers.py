"""Bodies of the child processes in test_concurrency (importable by ``spawn``), and how a child
opens the store it is given (a SQL URL, or ``cluster_spec``: the test's namespaces on a cluster)."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

from arxdeploy.domain.events import entered, note
from arxdeploy.domain.states import State
from arxdeploy.ports import Store
from tests.store.helpers import at, holder

DEADLINE = 60.0  # seconds any one wait may take before the test is declared stuck
CLUSTER = "cluster:"


def cluster_spec(kubeconfig: Path, test_id: str) -> str:
    """A store spec for the cluster store of ``test_id``'s namespaces (``tests.fixtures.kube.record_store``)."""
    return CLUSTER + json.dumps({"kubeconfig": str(kubeconfig), "test": test_id})


def open_store(spec: str) -> Any:
    """The store ``spec`` names: ``cluster_spec(...)``, or a SQL URL."""
    if spec.startswith(CLUSTER):
        from tests.fixtures.kube import record_store

        where = json.loads(spec[len(CLUSTER) :])
        return record_store(Path(where["kubeconfig"]), where["test"])
    from arxdeploy.store.sql import SqlStore

    return SqlStore(spec)


def run(job: str, spec: str, name: str, *, rounds: int, barrier: Any, results: Any) -> None:
    """Run ``job`` and report ("ok", name, value) or ("error", name, traceback) on ``results``."""
    try:
        barrier.wait(DEADLINE)  # both children open the store at once (first open migrates)
        store = open_store(spec)
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
