"""What every benchmark shares: a throwaway service, free ports, stats, results and machine info.

Each benchmark module has ``NAME``, ``measure(quick) -> dict`` and ``headline(figures) -> str``
and ends with ``run_alone(sys.modules[__name__])``, so it runs alone (``python bench/router.py``)
or from ``run.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from contention import MARK, ForeignLoad, wait_until_quiet

RESULTS = Path(__file__).resolve().parent / "results"
# The console script next to this interpreter: what a user (or CI) actually runs.
ARXDEPLOY = str(Path(sys.executable).with_name("arxdeploy"))
SERVICE = "bench-api"
ENVIRONMENT = "staging"
APP_COMMAND = [sys.executable, "app.py", "--port", "{port}", "--version", "{version}"]  # the demo app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# --- a throwaway service on the local target ----------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The knobs of ``deployment_config.yaml`` the benchmarks turn (seconds)."""

    replicas: int = 2
    monitoring: float = 1.0
    switch_delay: float = 0.0
    scale_down: float = 0.0
    interval: float = 0.3
    timeout: float = 1.0
    success_threshold: int = 2
    failure_threshold: int = 3

    def configured_waits(self) -> float:
        """The time a deploy with an old color to retire spends waiting on purpose."""
        return self.switch_delay + self.monitoring + self.scale_down + (self.success_threshold - 1) * self.interval


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float  # process wall time
    # time.time() just before the start and just after the exit, to compare with arxdeploy's timestamps
    started_at: float
    ended_at: float

    def json(self) -> Any:
        return json.loads(self.stdout)


def flow_config(s: Settings, *, progress_deadline: float) -> dict[str, Any]:
    """The deployment_strategy and health_checks sections for these settings, any target."""
    return {
        "deployment_strategy": {
            "blue_green": {"traffic_switch_delay": s.switch_delay, "scale_down_delay": s.scale_down}
        },
        "health_checks": {
            "endpoints": ["/health"],
            "interval": s.interval,
            "timeout": s.timeout,
            "success_threshold": s.success_threshold,
            "failure_threshold": s.failure_threshold,
            "progress_deadline": progress_deadline,
        },
    }


class Service:
    """The demo app in a temporary folder, deployed with the real CLI; its own runtime."""

    def __init__(self, settings: Settings) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=MARK))  # MARK: its runtime counts as ours
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.folder / "deployment_config.yaml"
        app = resources.files("arxdeploy.demo_app").joinpath("app.py").read_text(encoding="utf-8")
        (self.folder / "app.py").write_text(app, encoding="utf-8")
        self.write_config(settings)

    def write_config(self, settings: Settings) -> None:
        """Every command reads the config afresh: the next one uses these settings."""
        self.config.write_text(yaml.safe_dump(self._config(settings), sort_keys=False), encoding="utf-8")

    def _config(self, s: Settings) -> dict[str, Any]:
        return {
            "service": SERVICE,
            "target": {
                "type": "local",
                "local": {
                    "listen": f"127.0.0.1:{self.port}",
                    "command": APP_COMMAND,
                },
            },
            "environments": {
                ENVIRONMENT: {"replicas": s.replicas, "monitoring_duration": s.monitoring, "rollback_timeout": 30}
            },
            **flow_config(s, progress_deadline=30),
        }

    def cli(self, *args: str, expect: Sequence[int] = (0,), timeout: float = 120.0) -> Run:
        started_at, start = time.time(), time.perf_counter()
        done = subprocess.run(
            [ARXDEPLOY, "-c", str(self.config), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        seconds, ended_at = time.perf_counter() - start, time.time()
        run = Run(done.returncode, done.stdout, done.stderr, seconds, started_at, ended_at)
        if run.code not in expect:
            raise RuntimeError(f"`arxdeploy {' '.join(args)}` exited {run.code}: {run.stderr.strip() or run.stdout}")
        return run

    def deploy(self, version: str, *, expect: int = 0) -> tuple[dict[str, Any], Run]:
        """The ``--json`` result of one deploy, and how its process ran."""
        run = self.cli("deploy", "--env", ENVIRONMENT, "--version", version, "--json", expect=(expect,))
        return run.json(), run

    def show(self, deployment_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.cli("show", deployment_id, "--json").json()
        return result

    def _target(self) -> Any:
        from arxdeploy.targets.local.client import LocalTarget

        return LocalTarget(state_dir=self.folder / ".arxdeploy", service=SERVICE, environments={})

    def live_replicas(self) -> list[Any]:
        """The live color's replicas (``url``, ``pid``), read from the runtime's control API."""
        with self._target() as target:
            state = target.inspect(environment=ENVIRONMENT)
        return list(state.colors[state.live_color].replicas)

    def start_candidate(self, version: str, *, replicas: int, weight: int) -> list[Any]:
        """``version`` on the other color beside the live one, taking ``weight`` percent of the
        requests (``LocalTarget.set_weight``: the CLI has no command for it); its replicas."""
        import httpx

        from arxdeploy.domain.states import Color
        from arxdeploy.targets.local.client import LocalEnvironmentSpec, LocalTarget

        listen = f"127.0.0.1:{self.port}"
        spec = LocalEnvironmentSpec(command=tuple(APP_COMMAND), cwd=self.folder, env={}, listen=listen)
        state_dir = self.folder / ".arxdeploy"
        with LocalTarget(state_dir=state_dir, service=SERVICE, environments={ENVIRONMENT: spec}) as target:
            live = target.inspect(environment=ENVIRONMENT).live_color
            other = Color.GREEN if live == Color.BLUE else Color.BLUE
            target.start_color(environment=ENVIRONMENT, color=other, version=version, replicas=replicas)
            started = list(target.inspect(environment=ENVIRONMENT).colors[other].replicas)
            deadline = time.monotonic() + 30
            for replica in started:
                while True:
                    try:
                        if httpx.get(replica.url + "/health", timeout=1).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{version} replica {replica.index} did not answer /health in 30 s")
                    time.sleep(0.02)
            target.set_weight(environment=ENVIRONMENT, color=other, weight=weight)
        return started

    def candidate_color(self) -> Any:
        """The color that is not live."""
        from arxdeploy.domain.states import Color

        with self._target() as target:
            live = target.inspect(environment=ENVIRONMENT).live_color
        return Color.GREEN if live == Color.BLUE else Color.BLUE

    def set_weight(self, color: Any, weight: int) -> None:
        with self._target() as target:
            target.set_weight(environment=ENVIRONMENT, color=color, weight=weight)

    def metrics(self) -> str:
        """The runtime's /metrics (the routers' counts), as Prometheus scrapes it."""
        import httpx

        info = json.loads((self.folder / ".arxdeploy" / "runtime.json").read_text())
        return httpx.get(info["url"] + "/metrics", timeout=10).text

    def runtime_pid(self) -> int:
        return int(json.loads((self.folder / ".arxdeploy" / "runtime.json").read_text())["pid"])

    def close(self) -> None:
        with self._target() as target:
            target.shutdown_runtime()  # stops the router and every replica, then the runtime
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def service(settings: Settings, first_version: str | None = "v1") -> Iterator[Service]:
    """A service with ``first_version`` live; always torn down, runtime included."""
    svc = Service(settings)
    try:
        if first_version:
            # The first version is not what is measured: deploy it without the configured waits.
            svc.write_config(replace(settings, monitoring=0, switch_delay=0, scale_down=0))
            svc.deploy(first_version)
            svc.write_config(settings)
        yield svc
    finally:
        svc.close()


# --- figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so small samples still make sense."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "p90": round(percentile(values, 90), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def timestamp(iso: str) -> float:
    """An ISO time arxdeploy printed, as time.time() would have said it."""
    return datetime.fromisoformat(iso).timestamp()


def seconds_between(start: str, end: str) -> float:
    return timestamp(end) - timestamp(start)


# --- results and the machine --------------------------------------------------------------


def _first_line(command: Sequence[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # nginx -v writes to stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def source_digest() -> str:
    """A digest of the arxdeploy sources measured: results stay tied to the code without git."""
    import arxdeploy

    digest = hashlib.sha256()
    root = Path(arxdeploy.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def machine_info() -> dict[str, Any]:
    mem_kib = _proc_field("/proc/meminfo", "MemTotal") or "0 kB"
    os_name = None
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "ram_gib": round(int(mem_kib.split()[0]) / 1024**2, 1),
        "kernel": platform.release(),
        "os": os_name,
        "python": platform.python_version(),
        "arxdeploy": metadata.version("arxdeploy"),
        "arxdeploy_sources_sha256": source_digest(),
        "aiohttp": metadata.version("aiohttp"),
        "uvloop": metadata.version("uvloop"),  # the runtime's event loop (its routers)
        "httptools": metadata.version("httptools"),
        "nginx": _first_line(["nginx", "-v"]),
        "wrk": _first_line(["wrk", "--version"]),
        "hyperfine": _first_line(["hyperfine", "--version"]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def results_dir(quick: bool) -> Path:
    """``bench/results``; quick runs go to ``bench/results/quick`` (ignored by git) so they never replace real ones."""
    folder = RESULTS / "quick" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_result(name: str, figures: dict[str, Any], *, quick: bool) -> Path:
    """``<results_dir>/<name>.json``, written whole or not at all."""
    data = {"benchmark": name, "quick": quick, "machine": machine_info(), **figures}
    path = results_dir(quick) / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_one(benchmark: ModuleType, quick: bool, wait_quiet: float = 0.0) -> dict[str, Any]:
    """Run a benchmark module, write its results file, print its headline; returns the figures."""
    waited = wait_until_quiet(wait_quiet) if wait_quiet else 0.0
    log(f"{benchmark.NAME}: starting{' (quick)' if quick else ''}")
    start = time.perf_counter()
    with ForeignLoad() as foreign:
        figures = benchmark.measure(quick)
    seconds = time.perf_counter() - start
    figures |= {
        "bench_seconds": round(seconds, 1),
        "foreign_cpu_seconds": round(foreign.cpu_seconds, 1),
        "foreign_cpu_share": round(foreign.cpu_seconds / (seconds * (os.cpu_count() or 1)), 3),
        "waited_for_quiet_seconds": round(waited, 1),
    }
    path = write_result(benchmark.NAME, figures, quick=quick)
    log(
        f"{benchmark.NAME}: {benchmark.headline(figures)} ({figures['bench_seconds']}s, "
        f"other processes used {figures['foreign_cpu_share']:.0%} of the CPU; {path})"
    )
    return figures


def options_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every entry point takes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and shorter runs (a smoke test)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each benchmark, wait up to this long for other processes to leave the CPU idle",
    )
    return parser


def run_alone(benchmark: ModuleType) -> None:
    """``python bench/<name>.py [--quick] [--wait-quiet SECONDS]``."""
    options = options_parser(benchmark.__doc__).parse_args()
    run_one(benchmark, options.quick, options.wait_quiet)
