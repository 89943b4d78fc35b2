#!/usr/bin/env python3
"""Crash trial: kill `arxdeploy deploy` with SIGKILL at random moments and check recovery.

Each trial starts a deployment, kills it after a random delay, runs `arxdeploy reconcile`
(which recovers what the killed process left, then puts back what the record says is live)
and checks that:
  - every deployment has ended (no state is left in progress);
  - the router serves the recorded live version and its health endpoint answers 200;
  - only the live color's replicas are running.

    python scripts/crash_trial.py --trials 20 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import httpx

CONFIG = """\
service: crash-trial
target:
  type: local
  local:
    listen: 127.0.0.1:{port}
    command: ["{python}", "app.py", "--port", "{{port}}", "--version", "{{version}}"]
    drain_timeout: 2s
environments:
  staging:
    replicas: 2
    monitoring_duration: 1500ms
    rollback_timeout: 20s
deployment_strategy:
  blue_green:
    traffic_switch_delay: 200ms
    scale_down_delay: 500ms
health_checks:
  endpoints: [/health]
  interval: 200ms
  timeout: 1s
  success_threshold: 2
  failure_threshold: 3
  progress_deadline: 10s
"""
TERMINAL = {"succeeded", "failed", "rolled_back", "rejected", "expired"}


class Trial:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = resources.files("arxdeploy.demo_app").joinpath("app.py").read_text(encoding="utf-8")
        (folder / "app.py").write_text(app, encoding="utf-8")
        self.config = folder / "deployment_config.yaml"
        self.config.write_text(CONFIG.format(port=self.port, python=sys.executable), encoding="utf-8")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "arxdeploy.cli.main", "-c", str(self.config), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), capture_output=True, text=True, timeout=120, check=False)

    def json(self, *args: str) -> object:
        done = self.run(*args, "--json")
        if not done.stdout:
            raise AssertionError(f"`arxdeploy {' '.join(args)}` printed nothing: {done.stderr}")
        return json.loads(done.stdout)

    def replicas(self) -> int:
        import psutil

        info = json.loads((self.folder / ".arxdeploy" / "runtime.json").read_text())
        return len(psutil.Process(info["pid"]).children())

    def shutdown(self) -> None:
        path = self.folder / ".arxdeploy" / "runtime.json"
        if path.exists():
            pid = json.loads(path.read_text())["pid"]
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


def check_recovered(trial: Trial, killed_version: str) -> str:
    # The next change recovers what the kill left, then puts back what the record says is live.
    reconciled = trial.run("reconcile", "--env", "staging")
    if reconciled.returncode != 0:
        raise AssertionError(f"reconcile after the kill exited {reconciled.returncode}: {reconciled.stderr}")
    row = trial.json("status", "--env", "staging")["environments"][0]  # type: ignore[index]
    history = trial.json("history", "--env", "staging", "--limit", "50")
    assert isinstance(history, list)
    unfinished = [h for h in history if h["state"] not in TERMINAL]
    if unfinished:
        raise AssertionError(f"left unfinished: {unfinished}")
    live = row["live_version"]
    if live is None:
        raise AssertionError("nothing is live after recovery")
    answer = httpx.get(f"http://127.0.0.1:{trial.port}/api/version", timeout=3)
    health = httpx.get(f"http://127.0.0.1:{trial.port}/health", timeout=3)
    if answer.status_code != 200 or answer.json()["version"] != live or health.status_code != 200:
        raise AssertionError(f"router answers {answer.status_code} {answer.text!r}, recorded live {live}")
    deadline = time.monotonic() + 10
    while trial.replicas() != 2:  # the abandoned color may still be draining
        if time.monotonic() > deadline:
            raise AssertionError(f"{trial.replicas()} replica processes running, expected 2")
        time.sleep(0.05)
    newest = history[0]
    return f"{killed_version}: {newest['state']}, live {live}"


def main(trials: int, seed: int, verbose: bool = True) -> list[str]:
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="arxdeploy-crash-") as tmp:
        trial = Trial(Path(tmp))
        try:
            first = trial.run("deploy", "--env", "staging", "--version", "v0")
            if first.returncode != 0:
                raise AssertionError(f"first deploy failed: {first.stdout}{first.stderr}")
            for n in range(1, trials + 1):
                version = f"v{n}" if rng.random() < 0.7 else f"v{n}-fails-after-1s"
                delay = rng.uniform(0.0, 3.5)
                proc = subprocess.Popen(
                    trial.command("deploy", "--env", "staging", "--version", version),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                line = f"trial {n:2}: killed after {delay:.2f}s -> " + check_recovered(trial, version)
                results.append(line)
                if verbose:
                    print(line, flush=True)
        finally:
            trial.shutdown()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    options = parser.parse_args()
    print(f"seed {options.seed}")
    main(options.trials, options.seed)
    print(f"all {options.trials} trials recovered")
