"""Runner A of test_lease_takeover: deploys, stops itself in monitoring, finds its lease gone.

    python -m tests.store.lease_worker URL FOLDER

Writes FOLDER/paused when it is about to stop itself (SIGSTOP, as a paused VM or a stalled
runner would be), and FOLDER/result.json when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from arxdeploy.clock import SystemClock
from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import CheckPolicy, EnvironmentPlan
from arxdeploy.engine.locks import Identity, Leases
from arxdeploy.engine.run import Engine
from arxdeploy.errors import LeaseLostError
from arxdeploy.store.sql import SqlStore
from arxdeploy.testing.backups import MemoryBackups
from arxdeploy.testing.target import FakeHealth, FakeTarget
from tests.drive import deploy

PLAN = EnvironmentPlan(
    service="shop",
    environment="production",
    replicas=2,
    monitoring_duration=timedelta(minutes=5),
    rollback_timeout=timedelta(seconds=30),
    traffic_switch_delay=timedelta(0),
    scale_down_delay=timedelta(0),
    checks=CheckPolicy(interval=timedelta(seconds=0.05), success_threshold=1),
)
TTL = timedelta(seconds=2)
CHANGES = ("backup", "start_color", "switch", "stop_color")


class Quiesced(SqlStore):
    """Lease renewals take a lock that the pausing hook holds: no renewal is mid-transaction
    when the process stops itself, so the other runner never waits on a stopped one."""

    renewing = threading.Lock()

    def renew_lock(self, **kwargs: Any) -> bool:
        with self.renewing:
            return super().renew_lock(**kwargs)


def main(url: str, folder: Path) -> int:
    clock = SystemClock()
    store = Quiesced(url)
    target = FakeTarget(clock=clock)
    me = Identity(user="a", host="ci-1", pid=os.getpid())
    marks: dict[str, int] = {}

    def pause(d: Deployment, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "monitoring":
            marks["calls"] = len(target.calls)
            with store.renewing:
                (folder / "paused").write_text(d.id)
                os.kill(os.getpid(), signal.SIGSTOP)

    engine = Engine(
        store=store,
        target=target,
        health=FakeHealth(target),
        clock=clock,
        leases=Leases(store=store, clock=clock, me=me, is_alive=lambda holder: True, ttl=TTL),
        new_id=lambda now: "dep-a-000001",
        backups=MemoryBackups(clock),
        hooks=[pause],
    )
    result: dict[str, Any] = {}
    code = 0
    try:
        _, view = deploy(engine, plan=PLAN, version="v1")
        result["state"] = view.state.value
    except LeaseLostError as exc:
        result.update(error=exc.message, taken=exc.taken)
        code = exc.exit_code
    result["changes_after_pause"] = [c for c in target.calls[marks.get("calls", 0) :] if c.split()[0] in CHANGES]
    (folder / "result.json").write_text(json.dumps(result))
    store.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
