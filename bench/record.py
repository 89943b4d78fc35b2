"""The record with 1,000 deployments: `arxdeploy history --limit 50` and `arxdeploy status` wall time in
each store, side by side: SQLite, PostgreSQL and the cluster (``store_url: kubernetes://``, the
Kubernetes target's default).

One Kubernetes target on the project's API emulator, in this process (real HTTPS; bench/k8s.py's
``cluster``): its staging environment runs 1.0, deployed through the engine. Three configs differ in
``store_url`` only: a SQLite file (read by ``status`` and ``history`` through the standard library,
read-only), a throwaway PostgreSQL server started for the run (tests/fixtures/postgres.py), and
``kubernetes://`` (ConfigMaps in the staging namespace of the emulator). Each record gets the same
1,000 deployments, each with the events a real one records (copies of that deploy's 1.0 log, earlier
in time), then the real one, so that ``status`` finds no drift. Each command is a real CLI process
timed with ``perf_counter``, the six commands interleaved round after round (so that other work
on a shared machine falls on all of them alike); medians. The same reads are also timed in
process (``in_process``): the store's own cost, without the interpreter, imports and connection.

Also counted: the API requests one run of each command sends (``kube.calls``), those for the record
(ConfigMaps, Leases) apart from the target's (Services, Deployments, Pods, the health checks through
the service proxy). Wall times on the emulator carry over to a real cluster only roughly: no
network, no etcd; the emulator answers in Python on the same cores as the command.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fixtures.postgres

from common import ARXDEPLOY, ENVIRONMENT, SERVICE, log, run_alone, summary
from k8s import CALLS, cluster, write_config

NAME = "record"
DEPLOYMENTS = 1000
STORES = ("sqlite", "postgresql", "cluster")
COMMANDS = {"history --limit 50": ["history", "--limit", "50"], "status": ["status"]}
WARMUP = 2  # rounds


def measure(quick: bool) -> dict[str, Any]:
    rounds = 3 if quick else 15
    count = 200 if quick else DEPLOYMENTS
    figures: dict[str, Any] = {"deployments": count + 1, "rounds": rounds, "warmup_rounds": WARMUP}
    with ExitStack() as stack:
        c = stack.enter_context(cluster(CALLS))
        write_config(c.folder, c.kube.kubeconfig, CALLS, store_url="kubernetes://")
        c.fresh()
        c.deploy("1.0")
        (summary_,) = c.app.store.history(service=SERVICE, environment=ENVIRONMENT)
        real = summary_.deployment
        events = c.app.store.events(deployment_id=real.id)
        urls = {
            "sqlite": f"sqlite:///{c.folder / 'sqlite' / 'state.db'}",
            "postgresql": stack.enter_context(_postgres()),
            "cluster": "kubernetes://",
        }
        configs = {}
        for store in STORES:
            folder = c.folder / store
            folder.mkdir(exist_ok=True)
            write_config(folder, c.kube.kubeconfig, CALLS, store_url=urls[store])
            configs[store] = folder / "deployment_config.yaml"
            log(f"record: {count + 1} deployments into {store}")
            _fill(folder, real, events, count, copy_real=store != "cluster")
        commands = {
            f"{command} ({store})": [ARXDEPLOY, "-c", str(configs[store]), *argv]
            for store in STORES
            for command, argv in COMMANDS.items()
        }
        figures["requests"] = {name: _requests(c, argv) for name, argv in commands.items()}
        log(f"record: {rounds} rounds of the {len(commands)} commands, interleaved")
        times = _interleaved(commands, rounds)
        figures["in_process"] = {store: _in_process(configs[store], rounds) for store in STORES}
    for name, values in times.items():
        figures[name] = summary([t * 1000 for t in values], digits=1) | {"unit": "ms"}
    return figures


def _interleaved(commands: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    """Each round runs every command once, so that a burst of other work on a shared machine falls
    on all of them alike (hyperfine runs one command's runs back to back)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(WARMUP + rounds):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            if round_ >= WARMUP:
                times[name].append(time.perf_counter() - start)
    return times


def _in_process(config: Path, rounds: int) -> dict[str, Any]:
    """The store's own work, without the process around it: the calls ``history --limit 50`` and
    ``status`` make, on an app built as those commands build it (read-only), in ms."""
    from arxdeploy.bootstrap import build

    app = build(config, {}, reads_only=True)
    store = app.store
    calls = {
        "history(limit=50)": lambda: store.history(service=SERVICE, environment=ENVIRONMENT, limit=50),
        "status's reads": lambda: (
            store.history(service=SERVICE, environment=ENVIRONMENT, limit=1),
            store.live(service=SERVICE, environment=ENVIRONMENT),
            store.lock_holder(service=SERVICE, environment=ENVIRONMENT),
            store.unfinished(service=SERVICE, environment=ENVIRONMENT),
        ),
    }
    try:
        timed: dict[str, Any] = {}
        for name, call in calls.items():
            call()  # the first call opens the connection
            values = []
            for _ in range(rounds):
                start = time.perf_counter()
                call()
                values.append((time.perf_counter() - start) * 1000)
            timed[name] = summary(values, digits=2) | {"unit": "ms"}
        return timed
    finally:
        app.close()


@contextmanager
def _postgres() -> Any:
    from tests.fixtures.postgres import postgres_bindir, throwaway_cluster

    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server installed: apt-get install postgresql (make install-test as root)")
    with throwaway_cluster(bindir) as url:
        yield url


def _fill(folder: Path, real: Any, events: list[Any], count: int, *, copy_real: bool) -> None:
    """``count`` deployments like ``real`` (same log, shifted back an hour each), then ``real``'s own."""
    from arxdeploy.bootstrap import build
    from arxdeploy.domain.events import Event

    app = build(folder / "deployment_config.yaml", {})
    try:
        for n in range(count, 0, -1):
            shift = timedelta(hours=n)
            created = real.created_at - shift
            version = f"0.{count - n}"
            d = replace(real, id=f"{created:%Y%m%d-%H%M%S}-{n % 0x10000:04x}", version=version, created_at=created)
            log_ = [
                Event(e.type, e.at - shift, {**e.data, "version": version} if e.type == "switched" else e.data)
                for e in events
            ]
            app.store.create(deployment=d, events=log_)
        if copy_real:
            app.store.create(deployment=real, events=events)
    finally:
        app.close()


def _requests(c: Any, argv: list[str]) -> dict[str, int]:
    """One run of the command: the API requests it sent, for the record and for the target."""
    before = c.kube.calls
    subprocess.run(argv, check=True, capture_output=True)
    delta: Counter[str] = c.kube.calls - before
    record = sum(n for call, n in delta.items() if "/configmaps" in call or "/leases" in call)
    return {"record": record, "target": sum(delta.values()) - record}


def headline(figures: dict[str, Any]) -> str:
    parts = []
    for command in ("history --limit 50", "status"):
        medians = ", ".join(f"{store} {figures[f'{command} ({store})']['median']} ms" for store in STORES)
        parts.append(f"{command}: {medians}")
    return f"{figures['deployments']} deployments; " + "; ".join(parts)


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
