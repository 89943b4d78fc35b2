"""Two runners, one store: a runner that stalls past its lease finds it taken and changes nothing.

Runner A (a real process) deploys and stops itself in monitoring (SIGSTOP: a paused VM, a stalled
CI runner). Its lease expires; runner B recovers the deployment. When A runs again it must notice
at once that the lease is no longer its own, make no change to the target, record nothing more,
and end with exit code 4. On SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from arxdeploy.clock import SystemClock
from arxdeploy.domain.events import fold
from arxdeploy.domain.states import State
from arxdeploy.engine.locks import Identity, Leases
from arxdeploy.engine.run import Engine
from arxdeploy.store.sql import SqlStore
from arxdeploy.testing.backups import MemoryBackups
from arxdeploy.testing.target import FakeHealth, FakeTarget
from tests.store.lease_worker import PLAN
from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_a_runner_that_stalls_past_its_lease_changes_nothing_once_another_took_over(
    sql_url: str, tmp_path: Path
) -> None:
    root = Path(__file__).resolve().parents[2]
    with (tmp_path / "a.log").open("w") as log:
        runner_a = subprocess.Popen(
            [sys.executable, "-m", "tests.store.lease_worker", sql_url, str(tmp_path)], cwd=root, stderr=log
        )
    store = SqlStore(sql_url)
    try:
        deployment_id = wait_until(lambda: _read(tmp_path / "paused"), timeout=60, what="runner A in monitoring")
        wait_until(lambda: _state(runner_a.pid) == "T", timeout=10, what="runner A stopped")
        clock = SystemClock()
        # Runner B sees A's lease run out (by the store's record), then recovers the deployment.
        wait_until(
            lambda: (h := store.lock_holder(service="shop", environment="production")) and h.expires_at < clock.now(),
            timeout=30,
            what="A's lease to expire",
        )
        b_target = FakeTarget(clock=clock)
        me = Identity(user="b", host="ci-1", pid=os.getpid())
        runner_b = Engine(
            store=store,
            target=b_target,
            health=FakeHealth(b_target),
            clock=clock,
            leases=Leases(store=store, clock=clock, me=me, is_alive=lambda holder: True, ttl=timedelta(seconds=30)),
            new_id=lambda now: "dep-b-000001",
            backups=MemoryBackups(clock),
        )
        assert runner_b.recover(plan=PLAN) == [deployment_id]
        recorded = store.events(deployment_id=deployment_id)
        assert fold(recorded).state is State.ROLLED_BACK

        os.kill(runner_a.pid, signal.SIGCONT)
        assert runner_a.wait(timeout=60) == 4, (tmp_path / "a.log").read_text()
        assert store.events(deployment_id=deployment_id) == recorded  # A recorded nothing more
    finally:
        if runner_a.poll() is None:
            os.kill(runner_a.pid, signal.SIGCONT)
            runner_a.kill()
            runner_a.wait()
        store.close()

    result = json.loads((tmp_path / "result.json").read_text())
    assert result["taken"] is True
    assert "this process changes nothing more" in result["error"]
    assert result["changes_after_pause"] == []  # no retire, no rollback, no switch from A


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() and path.read_text() else None


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]
