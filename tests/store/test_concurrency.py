"""Real OS processes sharing one record (SQLite, PostgreSQL, the cluster): leases have one winner,
appends lose nothing."""

from __future__ import annotations

import multiprocessing
from typing import Any

from arxdeploy.domain.events import fold
from tests.store.helpers import deployment
from tests.store.workers import CLUSTER, DEADLINE, open_store, run

ROUNDS = 20


def _in_two_processes(job: str, spec: str, rounds: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    children = [
        ctx.Process(
            target=run, args=(job, spec, name), kwargs={"rounds": rounds, "barrier": barrier, "results": results}
        )
        for name in ("p0", "p1")
    ]
    for child in children:
        child.start()
    try:
        reports = [results.get(timeout=DEADLINE) for _ in children]
    finally:
        for child in children:
            child.join(timeout=DEADLINE)
            if child.is_alive():  # stuck: do not leave it behind
                child.kill()
                child.join(timeout=DEADLINE)
    errors = [f"{name}:\n{value}" for status, name, value in reports if status == "error"]
    assert not errors, "\n".join(errors)
    assert all(child.exitcode == 0 for child in children)
    return {name: value for _, name, value in reports}


def test_lock_race_has_exactly_one_winner_each_time(store_spec: str) -> None:
    # The children also open the (fresh) store at the same moment: both must succeed.
    winners = _in_two_processes("locks", store_spec, ROUNDS)

    for r in range(ROUNDS):
        seen = {winners["p0"][r], winners["p1"][r]}
        assert len(seen) == 1 and seen <= {"p0", "p1"}, f"round {r}: {winners['p0'][r]} vs {winners['p1'][r]}"


def test_concurrent_appends_lose_nothing_and_number_contiguously(store_spec: str) -> None:
    with open_store(store_spec) as store:
        store.create(deployment=deployment("shared000001"), events=[])

    _in_two_processes("appends", store_spec, ROUNDS)

    with open_store(store_spec) as store:
        logged = store.events(deployment_id="shared000001")
        cached = store.get(deployment_id="shared000001").state
    if not store_spec.startswith(CLUSTER):
        assert _sequence_numbers(store_spec) == list(range(1, len(logged) + 1))

    assert len(logged) == 2 * ROUNDS * 3
    for start in range(0, len(logged), 3):  # batches stay whole and in order
        first, middle, last = logged[start : start + 3]
        name, i, _ = first.data["message"].split()
        assert middle.data["by"] == name and last.data["message"] == f"{name} {i} last"
    notes = [e.data["message"].split() for e in logged if e.type == "note"]
    for name in ("p0", "p1"):
        mine = [int(i) for who, i, which in notes if who == name and which == "first"]
        assert mine == list(range(ROUNDS))
    assert cached is fold(logged).state


def _sequence_numbers(url: str) -> list[int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text("SELECT seq FROM events WHERE deployment_id = 'shared000001' ORDER BY seq")
            return list(conn.execute(query).scalars().all())
    finally:
        engine.dispose()
