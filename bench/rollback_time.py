"""Time from the first failing check to traffic back on the old color (automatic rollback).

v1 is live; then ``v2-...-fails-after-3s`` is deployed: it passes its checks, takes the
traffic, and three seconds after it started answers 500 on /, /health and /api/health. A poller
asks the router for / every 10 ms: its first 500 is the first moment a health check can fail,
and its first answer from v1 after that is the moment users are back on the old color.
The engine's own timestamps (``arxdeploy show ID --json``) split that time into detection
(failure_threshold failed rounds, ``interval`` apart) and the rollback's switch.

The poller uses / and not /api/version: the demo app answers /api/version with 200 even while
it fails, and / names the version in its body either way ("hello from v1").
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from common import Service, Settings, log, run_alone, service, summary, timestamp

NAME = "rollback_time"
TARGET_S = 5.0
POLL_S = 0.01
SETTINGS = Settings(
    replicas=2,
    monitoring=10.0,  # covers verify (~1-2 s) + 3 s until the failure + 3 failed rounds, with room
    scale_down=0.0,
    interval=1.0,
    timeout=1.0,
    success_threshold=2,
    failure_threshold=3,
)


@dataclass
class Sample:
    at: float  # wall clock (time.time()) when the answer arrived: comparable with the engine's events
    status: int  # 0: no answer
    version: str


@dataclass
class Poller:
    url: str
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Poller:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            tick = time.monotonic()
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                    version = response.text.removeprefix("hello from ").strip()
                    sample = Sample(time.time(), response.status_code, version)
                except httpx.HTTPError as exc:
                    sample = Sample(time.time(), 0, type(exc).__name__)
                self.samples.append(sample)
                tick += POLL_S
                self._stop.wait(max(0.0, tick - time.monotonic()))


def one_rollback(svc: Service, n: int, old: str) -> dict[str, Any]:
    bad = f"v2-r{n}-fails-after-3s"
    with Poller(svc.url + "/") as poller:
        result, run = svc.deploy(bad, expect=1)
        time.sleep(0.2)
    if result["state"] != "rolled_back":
        raise RuntimeError(f"{bad} ended {result['state']}, not rolled_back: {result['failure']}")
    samples = poller.samples
    first_500 = next(s for s in samples if s.status == 500 and s.version == bad)
    back = next(s for s in samples if s.at > first_500.at and s.status == 200 and s.version == old)
    shown = svc.show(result["id"])
    monitor = next(s for s in shown["steps"] if s["step"] == "monitor")
    rollback = next(s for s in shown["steps"] if s["step"] == "rollback")
    switched_back = next(e for e in shown["events"] if e["type"] == "switched" and e["version"] == old)
    return {
        "version": bad,
        "first_500_to_v1_s": round(back.at - first_500.at, 3),
        "first_500_to_detected_s": round(timestamp(monitor["ended_at"]) - first_500.at, 3),
        "detected_to_switched_s": round(timestamp(switched_back["at"]) - timestamp(monitor["ended_at"]), 3),
        "switched_to_router_v1_s": round(back.at - timestamp(switched_back["at"]), 3),
        "rollback_step_s": rollback["seconds"],
        "rollback_detail": rollback["detail"],
        "failure": result["failure"]["reason"],
        "answers_500": sum(1 for s in samples if s.status == 500),
        "answers_other_errors": sum(1 for s in samples if s.status not in (200, 500)),
        "polls": len(samples),
        "deploy_wall_s": round(run.seconds, 3),
    }


def measure(quick: bool) -> dict[str, Any]:
    runs = []
    with service(SETTINGS, first_version="v1") as svc:
        for n in range(1, 3 if quick else 6):
            log(f"rollback_time: rollback {n}")
            runs.append(one_rollback(svc, n, old="v1"))
    keys = ("first_500_to_v1_s", "first_500_to_detected_s", "detected_to_switched_s", "rollback_step_s")
    total = summary([r["first_500_to_v1_s"] for r in runs])
    return {
        "settings": asdict(SETTINGS),
        "poll_interval_s": POLL_S,
        "target_s": TARGET_S,
        "met": total["max"] < TARGET_S,
        "replaced_system_s": [210, 330],  # 3.5-5.5 minutes, as reported for the system arxdeploy replaces
        **{key: summary([r[key] for r in runs]) for key in keys},
        "answers_500": sum(r["answers_500"] for r in runs),
        "answers_other_errors": sum(r["answers_other_errors"] for r in runs),
        "per_rollback": runs,
    }


def headline(figures: dict[str, Any]) -> str:
    total = figures["first_500_to_v1_s"]
    return f"first 500 -> v1 again: median {total['median']}s, max {total['max']}s (target < {TARGET_S:g}s)"


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
