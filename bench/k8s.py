"""The Kubernetes target on the project's API emulator: API calls per operation, and rollback time.

An in-process ``KubeEmulator`` (real HTTPS, real lightkube client) stands in for the cluster; the
engine is wired exactly as the CLI wires it (``bootstrap.build``: a SQLite store named by
``store_url``, so the counts are the target's alone, as before the record moved into the cluster; the real
``HttpHealthProbe`` going through the API server's service proxy), and each operation is what
``arxdeploy deploy`` / ``arxdeploy rollback`` run after parsing their options: ``prepare`` (the
recovery check and restore), then ``Engine.deploy`` or ``Engine.rollback``. The service proxy's
backends are local HTTP servers; the emulator's pods become Ready 0.1 s after they are created.

1. Five blue-green deploys and five manual rollbacks: API requests by verb from ``kube.calls``
   deltas (health checks through the service proxy counted apart), and wall time minus the
   configured waits.
   The same with 3 and with 8 replicas, three of each (``api_calls_by_replicas``).
2. A version whose live backend starts answering 500 at a known moment after the switch: time
   from that flip to the live Service's selector back on the old color (polled every 10 ms).
3. Five blue-green deploys: time from the moment every pod of the new color is Ready (its
   Deployment's ``readyReplicas`` equal to its ``replicas``) to the live Service's selector on it,
   both polled every 10 ms.
4. A live color that its HPA scaled from 4 to 8 pods under load (``set_cpu_utilization``), then a
   deploy, three times: the new color's replicas and ready pods when the selector moves to it.
5. Credentials: the deploys and rollbacks of 1. with the kubeconfig's user holding a static token,
   a client certificate or an exec plugin (the emulator's, 15-minute tokens), each operation in a
   fresh app as each CLI command is its own process (the plugin runs once per command); then one
   deploy with a 10 s monitoring window while exec tokens live 1, 2 or 5 s: how often the plugin
   runs, and whether any request was refused (``kube.unauthorized``).

With ``ARXDEPLOY_BENCH_BASELINE_SRC`` set to another copy of arxdeploy's ``src`` (an older
commit), sections 1, 3 and 4 also run against it, in a child process, as ``baseline``: before and
after side by side. Call counts carry over to a real cluster; wall times do not (no network, no
etcd, no kubelet).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from arxdeploy.domain.request import Request
from arxdeploy.domain.states import Kind
from common import ENVIRONMENT, SERVICE, Settings, flow_config, log, run_alone, summary
from contention import MARK

NAME = "k8s"
READY_DELAY_S = 0.1  # the emulator's pods: Running and Ready this long after creation
POLL_S = 0.01
# When the live backend starts failing, after the selector moved to the new color: spread over
# one interval, because where a failure falls on the check grid decides how long detection takes.
FLIP_AFTER_SWITCH_S = (0.1, 0.3, 0.5, 0.7, 0.9)
VERBS = ("GET", "POST", "PATCH", "PUT", "DELETE")
REPLICA_COUNTS = (3, 8)
CALLS = Settings(replicas=2, monitoring=0.5, switch_delay=0.0, scale_down=0.0, interval=0.1, success_threshold=2)
AUTH_MODES: dict[str, dict[str, Any]] = {"token": {}, "cert": {"auth": "cert"}, "exec": {"auth": "exec"}}
SHORT_TOKENS = Settings(replicas=2, monitoring=10.0, interval=0.1, success_threshold=2)
TOKEN_TTL_S = (1, 2, 5)
ROLLBACK = Settings(replicas=2, monitoring=15.0, interval=1.0, timeout=1.0, success_threshold=2, failure_threshold=3)
SIZED = Settings(replicas=4, monitoring=0.5, switch_delay=0.0, scale_down=0.0, interval=0.1, success_threshold=2)
# The HPA measures CPU against the pods' request: they need one.
AUTOSCALED = {
    "autoscaling": {"max_replicas": 10, "cpu_utilization": 70},
    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
}
HPA_SYNC_S = 1.0  # the emulator's --horizontal-pod-autoscaler-sync-period
# 4 pods at 130 % of their CPU request: the HPA wants ceil(4 x 130 / 70) = 8 (one sync may double)
SCALED_LOAD, STEADY_LOAD, SCALED_TO = 130, 70, 8
BASELINE_ENV = "ARXDEPLOY_BENCH_BASELINE_SRC"


# --- the app behind the Services: one server per Service, whose health can be flipped --------


class Backend:
    """A stand-in app answering 200 on every path, or 500 while ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        failing = self.failing

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = (500, b'{"status": "failing"}') if failing.is_set() else (200, b'{"status": "ok"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- a cluster and an arxdeploy wired to it as the CLI wires it --------------------------------


@dataclass
class Cluster:
    kube: Any  # KubeEmulator
    app: Any  # bootstrap.App
    live: Backend
    preview: Backend
    namespace: str
    folder: Path

    def settings(self, s: Settings) -> None:
        """Rewrite the config and rebuild the app on it: the next operation uses these settings."""
        write_config(self.folder, self.kube.kubeconfig, s)
        self.fresh()

    def fresh(self) -> None:
        """A new app, as the next CLI command would build: a new connection (a plugin run first)."""
        from arxdeploy.bootstrap import build

        self.app.close()
        self.app = build(self.folder / "deployment_config.yaml", {})

    def deploy(self, version: str) -> Any:
        """What ``arxdeploy deploy`` runs; returns the final view."""
        return self._submit(Request(ENVIRONMENT, Kind.DEPLOY, version=version))

    def rollback(self) -> Any:
        """What ``arxdeploy rollback`` runs (to the previous good version)."""
        return self._submit(Request(ENVIRONMENT, Kind.ROLLBACK))

    def _submit(self, request: Request) -> Any:
        done = self.app.engine.submit(plan=self.app.plan(ENVIRONMENT), request=request)
        assert done.view is not None, done.notes
        return done.view

    def selector_color(self) -> str | None:
        service = self.kube.get("services", self.namespace, SERVICE)
        return ((service or {}).get("spec") or {}).get("selector", {}).get("color")

    def scale(self, color: str) -> tuple[int, int]:
        """The color's Deployment: (replicas asked, pods Ready)."""
        deployment = self.kube.get("deployments", self.namespace, f"{SERVICE}-{color}") or {}
        spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
        return int(spec.get("replicas") or 0), int(status.get("readyReplicas") or 0)


def write_config(
    folder: Path,
    kubeconfig: Path,
    s: Settings,
    environment: dict[str, Any] | None = None,
    *,
    store_url: str | None = None,
) -> None:
    """The config, the record in SQLite by default here: these figures count the target's requests (the
    record's own, in the cluster, are bench/record.py's)."""
    config = {
        "service": SERVICE,
        "store_url": store_url or f"sqlite:///{folder / '.arxdeploy' / 'state.db'}",
        "target": {
            "type": "kubernetes",
            "kubernetes": {
                "image": "registry.example/bench-api:{version}",
                "container_port": 8080,
                "kubeconfig": str(kubeconfig),
            },
        },
        "environments": {
            ENVIRONMENT: {
                "replicas": s.replicas,
                "monitoring_duration": s.monitoring,
                **(environment or {}),
            }
        },
        **flow_config(s, progress_deadline=20),
    }
    (folder / "deployment_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


@contextmanager
def cluster(settings: Settings, environment: dict[str, Any] | None = None, **emulator: Any) -> Iterator[Cluster]:
    """``emulator``: the emulator's options (``auth``, ``exec_token_ttl``, nodes, HPA, ...)."""
    from arxdeploy.bootstrap import build
    from arxdeploy.testing.kube import KubeEmulator

    folder = Path(tempfile.mkdtemp(prefix=MARK))
    live, preview = Backend(), Backend()
    try:
        with KubeEmulator(ready_delay=READY_DELAY_S, **emulator) as kube:
            write_config(folder, kube.kubeconfig, settings, environment)
            app = build(folder / "deployment_config.yaml", {})
            namespace = app.target.spec.namespace_for(ENVIRONMENT)
            kube.register_service_backend(namespace, SERVICE, live.url)
            kube.register_service_backend(namespace, f"{SERVICE}-preview", preview.url)
            made = Cluster(kube, app, live, preview, namespace, folder)
            try:
                yield made
            finally:
                made.app.close()
    finally:
        live.close()
        preview.close()
        shutil.rmtree(folder, ignore_errors=True)


# --- 1. API calls and wall time per operation ---------------------------------------------------


def by_verb(calls: Counter[str]) -> dict[str, int]:
    """Requests to the API server by verb, health checks through the service proxy apart."""
    api = Counter({k: n for k, n in calls.items() if "/proxy" not in k})
    out = {verb: sum(n for k, n in api.items() if k.startswith(verb + " ")) for verb in VERBS}
    out["total"] = sum(api.values())
    out["proxied_checks"] = sum(n for k, n in calls.items() if "/proxy" in k)
    return out


def by_resource(calls: Counter[str], namespace: str) -> dict[str, int]:
    """``"GET services/bench-api"`` and the like: which requests one operation made."""
    out: Counter[str] = Counter()
    for key, n in calls.items():
        verb, path = key.split(" ", 1)
        out[f"{verb} {path.split(f'/namespaces/{namespace}/', 1)[-1]}"] += n
    return dict(sorted(out.items(), key=lambda item: (-item[1], item[0])))


def measured(c: Cluster, operation: str, run: Any, waits: float) -> dict[str, Any]:
    before, refused, runs = c.kube.calls, c.kube.unauthorized, c.kube.exec_runs
    start = time.perf_counter()
    view = run()
    seconds = time.perf_counter() - start
    delta = c.kube.calls - before
    if view.state.value != "succeeded":
        raise RuntimeError(f"{operation} ended {view.state.value}: {view.failure}")
    return {
        "operation": operation,
        "wall_s": round(seconds, 3),
        "overhead_s": round(seconds - waits, 3),
        "requests": by_verb(delta),
        "refused_401": sum((c.kube.unauthorized - refused).values()),
        "plugin_runs": c.kube.exec_runs - runs,
        "requests_by_resource": by_resource(delta, c.namespace),
    }


def operation_figures(runs: list[dict[str, Any]], waits: float) -> dict[str, Any]:
    counts = {key: sorted({r["requests"][key] for r in runs}) for key in runs[0]["requests"]}
    per_run = ("operation", "wall_s", "overhead_s", "requests", "refused_401", "plugin_runs")
    return {
        "configured_waits_s": round(waits, 3),
        "requests": {key: values[0] if len(values) == 1 else values for key, values in counts.items()},
        "wall_s": summary([r["wall_s"] for r in runs]),
        "overhead_s": summary([r["overhead_s"] for r in runs]),
        "plugin_runs": sorted({r["plugin_runs"] for r in runs}),
        "refused_401": sum(r["refused_401"] for r in runs),
        "requests_by_resource": runs[-1]["requests_by_resource"],
        "runs": [{k: r[k] for k in per_run} for r in runs],
    }


def api_calls(quick: bool, settings: Settings = CALLS, repeats: int | None = None) -> dict[str, Any]:
    repeats = repeats or (2 if quick else 5)
    deploy_waits = settings.configured_waits()
    # A manual rollback has no monitoring window and no delays: only the readiness rounds.
    rollback_waits = (settings.success_threshold - 1) * settings.interval
    deploys, rollbacks = [], []
    with cluster(settings) as c:
        c.deploy("v0")  # the first version: nothing to replace, not measured
        for n in range(1, repeats + 1):
            log(f"k8s: deploy {n}")
            deploys.append(measured(c, f"deploy v{n}", lambda n=n: c.deploy(f"v{n}"), deploy_waits))
        for n in range(1, repeats + 1):
            log(f"k8s: rollback {n}")
            rollbacks.append(measured(c, "rollback", c.rollback, rollback_waits))
    return {
        "settings": asdict(settings),
        "deploy": operation_figures(deploys, deploy_waits),
        "rollback": operation_figures(rollbacks, rollback_waits),
    }


def by_replicas(quick: bool) -> dict[str, Any]:
    """1.'s operations with the seed's production size (3) and an autoscaled one (8)."""
    return {str(n): api_calls(quick, replace(CALLS, replicas=n), repeats=2 if quick else 3) for n in REPLICA_COUNTS}


# --- 3. credentials: a token, a client certificate, an exec plugin --------------------------------


def credential_modes(quick: bool) -> dict[str, Any]:
    """1.'s operations per auth mode, each in a fresh app (a CLI command: connect, plugin run, work)."""
    repeats = 2 if quick else 5
    deploy_waits = CALLS.configured_waits()
    rollback_waits = (CALLS.success_threshold - 1) * CALLS.interval
    modes: dict[str, Any] = {}
    for mode, auth in AUTH_MODES.items():
        deploys, rollbacks = [], []
        with cluster(CALLS, **auth) as c:
            c.deploy("v0")
            for n in range(1, repeats + 1):
                log(f"k8s: {mode} deploy {n}")
                c.fresh()
                deploys.append(measured(c, f"deploy v{n}", lambda n=n: c.deploy(f"v{n}"), deploy_waits))
            for n in range(1, repeats + 1):
                log(f"k8s: {mode} rollback {n}")
                c.fresh()
                rollbacks.append(measured(c, "rollback", c.rollback, rollback_waits))
        modes[mode] = {
            "deploy": operation_figures(deploys, deploy_waits),
            "rollback": operation_figures(rollbacks, rollback_waits),
        }
    return {"settings": asdict(CALLS), "modes": modes}


def short_tokens(quick: bool) -> dict[str, Any]:
    """One deploy outliving many exec tokens: plugin runs and refused requests per token lifetime."""
    settings = replace(SHORT_TOKENS, monitoring=3.0) if quick else SHORT_TOKENS
    waits = settings.configured_waits()
    runs = []
    for ttl in TOKEN_TTL_S:
        with cluster(settings, auth="exec", exec_token_ttl=ttl) as c:
            c.deploy("v0")
            c.fresh()
            log(f"k8s: deploy with {ttl}s exec tokens")
            run = measured(c, f"deploy, {ttl}s tokens", lambda c=c: c.deploy("v1"), waits)
            run["token_ttl_s"] = ttl
            run["token_lifetimes_s"] = [
                round((m.expires - m.issued).total_seconds(), 3) for m in c.kube.minted[-run["plugin_runs"] :]
            ]
            runs.append(run)
    return {
        "settings": asdict(settings),
        "runs": [
            {k: r[k] for k in ("token_ttl_s", "plugin_runs", "refused_401", "wall_s", "requests", "token_lifetimes_s")}
            for r in runs
        ],
    }


# --- 2. failing check to the selector switched back ---------------------------------------------


@dataclass
class Flip:
    """Once the live selector is on ``bad``, wait, make the live backend fail, time the way back."""

    c: Cluster
    bad: str
    good: str
    after_switch: float
    flipped_at: float | None = None  # time.time(), to compare with the engine's timestamps
    back_at: float | None = None
    polls: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            while not self._stop.is_set() and self.c.selector_color() != self.bad:
                self._stop.wait(POLL_S)
            self._stop.wait(self.after_switch)
            if self._stop.is_set():
                return
            self.flipped_at = time.time()
            self.c.live.failing.set()
            while not self._stop.is_set():
                self.polls += 1
                if self.c.selector_color() == self.good:
                    self.back_at = time.time()
                    break
                self._stop.wait(POLL_S)
        finally:
            self.c.live.failing.clear()  # the old color's pods are healthy: its re-verification passes

    def stop(self) -> None:
        self._stop.set()


def one_failure(c: Cluster, n: int, after_switch: float) -> dict[str, Any]:
    good = c.selector_color() or "blue"
    bad = "green" if good == "blue" else "blue"
    flip = Flip(c, bad, good, after_switch)
    thread = threading.Thread(target=flip.run, daemon=True)
    thread.start()
    try:
        view = c.deploy(f"v2-r{n}")
    finally:
        flip.stop()
        thread.join(timeout=10)
    if view.state.value != "rolled_back" or flip.flipped_at is None or flip.back_at is None:
        raise RuntimeError(f"v2-r{n} ended {view.state.value} without a timed switch back: {view.failure}")
    detected = next(s.ended.timestamp() for s in view.steps if s.step == "monitor")
    rollback = next(s for s in view.steps if s.step == "rollback")
    return {
        "flip_after_switch_s": after_switch,
        "flip_to_selector_back_s": round(flip.back_at - flip.flipped_at, 3),
        "flip_to_detected_s": round(detected - flip.flipped_at, 3),
        "detected_to_selector_back_s": round(flip.back_at - detected, 3),
        "rollback_step_s": round(rollback.seconds, 3),
        "failure": view.failure.reason if view.failure else None,
        "polls": flip.polls,
    }


def rollback_time(quick: bool) -> dict[str, Any]:
    runs = []
    with cluster(ROLLBACK) as c:
        c.settings(Settings(replicas=ROLLBACK.replicas, monitoring=0, interval=0.1))  # the good version, quickly
        c.deploy("v1")
        c.settings(ROLLBACK)
        for n, after_switch in enumerate(FLIP_AFTER_SWITCH_S[::2] if quick else FLIP_AFTER_SWITCH_S, start=1):
            log(f"k8s: failing version {n}")
            runs.append(one_failure(c, n, after_switch))
    keys = ("flip_to_selector_back_s", "flip_to_detected_s", "detected_to_selector_back_s", "rollback_step_s")
    return {
        "settings": asdict(ROLLBACK),
        "poll_interval_s": POLL_S,
        **{key: summary([r[key] for r in runs]) for key in keys},
        "per_rollback": runs,
    }


# --- 3 and 4. the new color: all ready -> switch, and its size at the switch -------------------


@dataclass
class Switch:
    """Polls the new color's Deployment and the live selector until the selector is on it."""

    c: Cluster
    color: str
    ready_at: float | None = None  # time.perf_counter(): every pod of the color Ready
    switched_at: float | None = None
    at_switch: tuple[int, int] = (0, 0)  # (replicas, ready) when the selector moved
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            replicas, ready = self.c.scale(self.color)
            if self.ready_at is None and replicas and ready == replicas:
                self.ready_at = time.perf_counter()
            if self.c.selector_color() == self.color:
                self.switched_at = time.perf_counter()
                self.at_switch = self.c.scale(self.color)
                return
            self._stop.wait(POLL_S)

    def stop(self) -> None:
        self._stop.set()


def timed_deploy(c: Cluster, version: str) -> dict[str, Any]:
    """Deploy ``version``; when every new pod was Ready, when the selector moved, the size then."""
    color = "green" if c.selector_color() == "blue" else "blue"
    watch = Switch(c, color)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        view = c.deploy(version)
    finally:
        watch.stop()
        thread.join(timeout=10)
    if view.state.value != "succeeded" or watch.ready_at is None or watch.switched_at is None:
        raise RuntimeError(f"{version} ended {view.state.value} without a timed switch: {view.failure}")
    replicas, ready = watch.at_switch
    return {
        "version": version,
        "color": color,
        "ready_to_switch_s": round(watch.switched_at - watch.ready_at, 3),
        "replicas_at_switch": replicas,
        "ready_at_switch": ready,
    }


def ready_to_switch(quick: bool) -> dict[str, Any]:
    runs = []
    with cluster(CALLS) as c:
        c.deploy("v0")
        for n in range(1, (2 if quick else 5) + 1):
            log(f"k8s: ready -> switch {n}")
            runs.append(timed_deploy(c, f"v{n}"))
    return {
        "settings": asdict(CALLS),
        "poll_interval_s": POLL_S,
        "ready_to_switch_s": summary([r["ready_to_switch_s"] for r in runs]),
        "runs": runs,
    }


def scaled_by_load(c: Cluster, color: str) -> None:
    """Load on ``color`` until its HPA made it SCALED_TO pods, all Ready; then load that keeps it there."""
    c.kube.set_cpu_utilization(c.namespace, f"{SERVICE}-{color}", SCALED_LOAD)
    deadline = time.monotonic() + 60
    while c.scale(color) != (SCALED_TO, SCALED_TO):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the HPA did not scale {color} to {SCALED_TO}: {c.scale(color)}")
        time.sleep(POLL_S)
    c.kube.set_cpu_utilization(c.namespace, f"{SERVICE}-{color}", STEADY_LOAD)  # within the HPA's tolerance


def hpa_sized_switch(quick: bool) -> dict[str, Any]:
    runs = []
    with cluster(SIZED, AUTOSCALED, hpa_sync_period=HPA_SYNC_S) as c:
        c.deploy("v0")
        for n in range(1, (2 if quick else 3) + 1):
            live = c.selector_color() or "blue"
            log(f"k8s: HPA-scaled live color {n}")
            scaled_by_load(c, live)
            runs.append({"live_replicas": c.scale(live)[0], **timed_deploy(c, f"v{n}")})
    return {
        "settings": asdict(SIZED),
        "environment": AUTOSCALED,
        "hpa_sync_period_s": HPA_SYNC_S,
        "replicas_at_switch": sorted({r["replicas_at_switch"] for r in runs}),
        "ready_at_switch": sorted({r["ready_at_switch"] for r in runs}),
        "ready_to_switch_s": summary([r["ready_to_switch_s"] for r in runs]),
        "runs": runs,
    }


def new_color(quick: bool) -> dict[str, Any]:
    """Sections 3 and 4 (what a baseline run measures too)."""
    return {"ready_to_switch": ready_to_switch(quick), "hpa_scaled_live_color": hpa_sized_switch(quick)}


def baseline(quick: bool) -> dict[str, Any] | None:
    """Sections 1, 3 and 4 against the sources in ``ARXDEPLOY_BENCH_BASELINE_SRC``, in a child process."""
    source = os.environ.get(BASELINE_ENV)
    if not source:
        return None
    log(f"k8s: baseline from {source}")
    code = (
        "import json, k8s, common; "
        f"figures = {{'sources_sha256': common.source_digest(), 'api_calls': k8s.api_calls({quick!r})}}; "
        f"print(json.dumps({{**figures, **k8s.new_color({quick!r})}}))"
    )
    env = {**os.environ, "PYTHONPATH": source}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"source": source, **figures}


def measure(quick: bool) -> dict[str, Any]:
    return {
        "emulator_ready_delay_s": READY_DELAY_S,
        "api_calls": api_calls(quick),
        "api_calls_by_replicas": by_replicas(quick),
        "failing_check_to_switch_back": rollback_time(quick),
        "credentials": credential_modes(quick),
        "short_exec_tokens": short_tokens(quick),
        **new_color(quick),
        "baseline": baseline(quick),
    }


def headline(figures: dict[str, Any]) -> str:
    calls, back = figures["api_calls"], figures["failing_check_to_switch_back"]["flip_to_selector_back_s"]
    token, exec_ = figures["credentials"]["modes"]["token"], figures["credentials"]["modes"]["exec"]
    ttl_runs = ", ".join(
        f"{r['token_ttl_s']}s tokens: {r['plugin_runs']}" for r in figures["short_exec_tokens"]["runs"]
    )
    ready, sized = figures["ready_to_switch"]["ready_to_switch_s"], figures["hpa_scaled_live_color"]
    return (
        f"deploy {calls['deploy']['requests']['total']} API requests (+{calls['deploy']['requests']['proxied_checks']}"
        f" proxied checks), overhead {calls['deploy']['overhead_s']['median']}s; rollback "
        f"{calls['rollback']['requests']['total']} (+{calls['rollback']['requests']['proxied_checks']}), "
        f"{calls['rollback']['overhead_s']['median']}s; failing check -> selector back median {back['median']}s, "
        f"max {back['max']}s; exec auth: deploy {exec_['deploy']['requests']['total']} requests, overhead "
        f"{exec_['deploy']['overhead_s']['median']}s (token {token['deploy']['overhead_s']['median']}s); "
        f"plugin runs with {ttl_runs}; "
        f"all ready -> switch median {ready['median']}s; new color at the switch after an HPA "
        f"scale-up to {SCALED_TO}: {sized['replicas_at_switch']} replicas"
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
