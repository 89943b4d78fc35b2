"""`arxdeploy demo`: a sample service deployed three times on this machine, explained."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

CONFIG = """\
# A sample service on the local target: real processes behind arxdeploy's router.
service: demo-api
target:
  type: local
  local:
    listen: 127.0.0.1:{port}
    command: ["{python}", "app.py", "--port", "{{port}}", "--version", "{{version}}"]
environments:
  staging:
    branches: [develop]
    replicas: 2
    monitoring_duration: 5s
    rollback_timeout: 30s
deployment_strategy:
  type: blue_green
  blue_green:
    traffic_switch_delay: 1s
    scale_down_delay: 2s
health_checks:
  endpoints: [/health, /api/health, /api/version]
  interval: 500ms
  timeout: 1s
  success_threshold: 2
  failure_threshold: 3
  progress_deadline: 30s
"""

STEPS = [
    (
        "Deploy v1: nothing is live yet, so v1 starts as blue and takes the traffic once healthy.",
        ["deploy", "--env", "staging", "--version", "v1", "--reason", "first release"],
        0,
    ),
    (
        "Deploy v2 blue-green: green starts beside blue, is checked, then takes the traffic in one switch.",
        ["deploy", "--env", "staging", "--version", "v2", "--reason", "new feature"],
        0,
    ),
    (
        "Deploy v3, which breaks 3 seconds after it starts: the monitoring window catches it.",
        ["deploy", "--env", "staging", "--version", "v3-fails-after-3s", "--reason", "risky change"],
        1,
    ),
    ("Where things stand:", ["status"], 0),
    ("Every deployment is recorded:", ["history"], 0),
    ("Stop the sample service:", ["stop", "--env", "staging", "--reason", "demo over"], 0),
]


@dataclass
class Traffic:
    """Requests sent through the router for the whole demo.

    A 500 is the broken version answering (what the monitoring window catches); anything
    else that is not a success is the router failing a request, which must never happen.
    """

    url: str
    sent: int = 0
    broken: int = 0
    router_failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import httpx

        live = False  # until v1 is live the router may not listen yet, or answer 503
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.wait(0.02):
                try:
                    response = client.get(self.url)
                except httpx.HTTPError as exc:
                    if live:
                        self.sent += 1
                        self.router_failures.append(type(exc).__name__)
                    continue
                if not live and response.status_code == 503:
                    continue
                live = True
                self.sent += 1
                if response.status_code == 500:
                    self.broken += 1
                elif not response.is_success:
                    self.router_failures.append(f"HTTP {response.status_code}")

    def stop(self) -> None:
        self._stop.set()


def _kinds(failures: list[str]) -> str:
    from collections import Counter

    return ", ".join(f"{kind} x{count}" for kind, count in Counter(failures).most_common())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(*, keep: bool = False, verbose: bool = False) -> int:
    out = Console(highlight=False)
    folder = Path(tempfile.mkdtemp(prefix="arxdeploy-demo-"))
    port = _free_port()
    app = resources.files("arxdeploy.demo_app").joinpath("app.py").read_text(encoding="utf-8")
    (folder / "app.py").write_text(app, encoding="utf-8")
    config = folder / "deployment_config.yaml"
    config.write_text(CONFIG.format(port=port, python=sys.executable), encoding="utf-8")
    out.print(
        Panel.fit(
            f"A sample service (app.py) and its deployment_config.yaml are in {folder}.\n"
            f"Its router listens on http://127.0.0.1:{port}; a client sends it a request every 20 ms\n"
            "while the three deployments run.",
            title="arxdeploy demo",
        )
    )
    traffic = Traffic(f"http://127.0.0.1:{port}/")
    sender = threading.Thread(target=traffic.run, daemon=True)
    sender.start()
    failures = 0
    try:
        for text, args, expected in STEPS:
            if args[0] != "deploy":
                traffic.stop()  # the client watched the three deployments
            out.print(f"\n[bold cyan]{text}[/]\n[dim]$ arxdeploy {' '.join(args)}[/]")
            command = [sys.executable, "-m", "arxdeploy.cli.main", "-c", str(config), *args]
            code = subprocess.run(command + (["-v"] if verbose else []), check=False).returncode
            if code != expected:
                failures += 1
                out.print(f"[red]expected exit {expected}, got {code}[/]")
    finally:
        traffic.stop()
        sender.join(timeout=5)
        _shutdown(folder / ".arxdeploy")
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    ok = failures == 0 and not traffic.router_failures
    out.print(
        Panel.fit(
            "What you saw:\n"
            " 1. v1 started, passed its checks on every replica, then took the traffic.\n"
            " 2. v2 started beside v1 as the other color, passed its checks, took the\n"
            "    traffic in one atomic switch, was watched for 5s; then v1 was retired.\n"
            " 3. v3 passed its checks and took the traffic, then began failing. After 3\n"
            "    failed rounds the traffic went back to v2, still running (warm).\n"
            f"The router answered {traffic.sent} requests meanwhile: {traffic.broken} were v3's\n"
            f"own 500s before the rollback, and {len(traffic.router_failures)} failed at the router"
            + (f" ({_kinds(traffic.router_failures)})" if traffic.router_failures else "")
            + ".\n"
            "Every step is recorded: `arxdeploy show ID` prints one deployment's log.",
            title="arxdeploy demo: done" if ok else "arxdeploy demo: problems",
        )
    )
    if keep:
        out.print(f"The sample service's folder is kept: {folder}")
    return 0 if ok else 1


def _shutdown(state_dir: Path) -> None:
    from arxdeploy.targets.local.client import LocalTarget

    target = LocalTarget(state_dir=state_dir, service="demo-api", environments={})
    try:
        target.shutdown_runtime()
    finally:
        target.close()
