"""Failed requests during a blue-green switch and during an automatic rollback, under load.

Client threads (httpx, keep-alive, no pause between requests) call the router's /api/version
while ``arxdeploy deploy`` moves the traffic to a new version (a switch), then while a version
that breaks two seconds after it starts is deployed and rolled back on its own. Any answer
other than 200, or any transport error, counts as failed. The target is 0.

/api/version answers 200 even on a failing version (only /, /health and /api/health fail), so
every failure counted here comes from the switch machinery, not from the bad version itself;
how long users see the bad version is what ``rollback_time.py`` measures.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from common import Service, Settings, log, run_alone, service

NAME = "switch_load"
CLIENTS = 4
PATH = "/api/version"
SETTINGS = Settings(
    replicas=2,
    monitoring=5.0,  # long enough to catch fails-after-2s: ~2 s plus 3 failed rounds of 0.3 s
    switch_delay=0.0,
    scale_down=1.0,
    interval=0.3,
    failure_threshold=3,
)


@dataclass
class Load:
    """Client loops through the router; counts by phase (switch / rollback), set while they run."""

    url: str
    phase: str = "idle"
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # "phase: what", to show what went wrong
    versions: Counter[str] = field(default_factory=Counter)  # "phase: version" answered
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int) -> None:
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(clients)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def _loop(self) -> None:
        # Counting locally and merging at the end keeps the lock off the request path.
        sent: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        versions: Counter[str] = Counter()
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                phase = self.phase
                sent[phase] += 1
                try:
                    response = client.get(self.url)
                except httpx.HTTPError as exc:
                    failed[phase] += 1
                    errors[f"{phase}: {type(exc).__name__}"] += 1
                    continue
                if response.status_code != 200:
                    failed[phase] += 1
                    errors[f"{phase}: HTTP {response.status_code} {response.text.strip()[:80]}"] += 1
                else:
                    versions[f"{phase}: {response.json()['version']}"] += 1
        with self._lock:
            self.sent.update(sent)
            self.failed.update(failed)
            self.errors.update(errors)
            self.versions.update(versions)


def one_round(svc: Service, n: int) -> dict[str, Any]:
    """A switch to a good version, then a bad version rolled back, both under load."""
    good, bad = f"v2-r{n}", f"v3-r{n}-fails-after-2s"
    load = Load(svc.url + PATH)
    load.start(CLIENTS)
    started = time.perf_counter()
    try:
        time.sleep(0.5)  # the clients are up before anything moves
        load.phase = "switch"
        switched, _ = svc.deploy(good)
        load.phase = "rollback"
        rolled, _ = svc.deploy(bad, expect=1)
        time.sleep(0.5)  # and still served after the old color took the traffic back
    finally:
        load.stop()
    seconds = time.perf_counter() - started
    return {
        "switch_deploy": {"version": good, "state": switched["state"]},
        "rollback_deploy": {"version": bad, "state": rolled["state"], "failure": rolled["failure"]},
        "requests": sum(load.sent[p] for p in ("switch", "rollback")),
        "failed": sum(load.failed[p] for p in ("switch", "rollback")),
        "by_phase": {p: {"requests": load.sent[p], "failed": load.failed[p]} for p in ("switch", "rollback")},
        "req_per_s": round(sum(load.sent.values()) / seconds, 1),
        "versions_answered": dict(load.versions),
        "errors": dict(load.errors),
    }


def measure(quick: bool) -> dict[str, Any]:
    rounds = []
    with service(SETTINGS) as svc:
        for n in range(1, 2 if quick else 4):
            log(f"switch_load: round {n}")
            rounds.append(one_round(svc, n))
    return {
        "clients": CLIENTS,
        "path": PATH,
        "settings": asdict(SETTINGS),
        "target_failed": 0,
        "rounds": len(rounds),
        "requests": sum(r["requests"] for r in rounds),
        "failed": sum(r["failed"] for r in rounds),
        "switch": {k: sum(r["by_phase"]["switch"][k] for r in rounds) for k in ("requests", "failed")},
        "rollback": {k: sum(r["by_phase"]["rollback"][k] for r in rounds) for k in ("requests", "failed")},
        "all_rolled_back": all(r["rollback_deploy"]["state"] == "rolled_back" for r in rounds),
        "per_round": rounds,
    }


def headline(figures: dict[str, Any]) -> str:
    return (
        f"{figures['failed']} failed of {figures['requests']} requests "
        f"(switch {figures['switch']['failed']}/{figures['switch']['requests']}, "
        f"rollback {figures['rollback']['failed']}/{figures['rollback']['requests']}; target 0)"
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
