"""Approval gates: the approving call → the deployment moving on; and the server's status reads.

(g) A deploy waits at its gate (a real `arxdeploy deploy` process); the approval is POSTed to a
real `arxdeploy server` with a person's token. Measured: from the moment the server's answer
arrived to the gate step's end as the waiting process recorded it (both from this machine's
clock). Target: under 1 s. The waiting process polls the record every 0.2 s.

(h) `GET /api/v1/status` with a token, loaded by wrk at 1 and 16 connections: requests per
second and latency. One uvicorn process, SQLite store.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from typing import Any

import httpx

from common import ARXDEPLOY, ENVIRONMENT, Service, Settings, free_port, log, run_alone, summary, timestamp

NAME = "approvals"
SETTINGS = Settings(replicas=1, monitoring=0.5, scale_down=0.0, interval=0.2, success_threshold=1)
GATES = {
    "approval_gates": {
        "enabled": True,
        "required_for": [ENVIRONMENT],
        "approvers": ["bo@example.com"],
        "auto_approve_staging": False,
    }
}


class GatedService(Service):
    def _config(self, s: Settings) -> dict[str, Any]:
        return {**super()._config(s), **GATES}


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"no {what} within {timeout:g}s")


def pending(svc: Service) -> str | None:
    rows = svc.cli("approvals", "--json").json()
    return str(rows[0]["id"]) if rows else None


def one_approval(svc: Service, url: str, token: str, version: str) -> float:
    env_cmd = [ARXDEPLOY, "-c", str(svc.config), "deploy", "--env", ENVIRONMENT, "--version", version, "--json"]
    deploy = subprocess.Popen(env_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deployment_id = wait_for(lambda: pending(svc), 30, "approval request")
        answer = httpx.post(
            f"{url}/api/v1/approvals/{deployment_id}/approve",
            json={"reason": "bench"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        answered_at = time.time()
        answer.raise_for_status()
        out, _ = deploy.communicate(timeout=60)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.communicate()
    if deploy.returncode != 0:
        raise RuntimeError(f"deploy of {version} exited {deploy.returncode}")
    gate = next(s for s in json.loads(out)["steps"] if s["step"] == "gate")
    return timestamp(gate["ended_at"]) - answered_at


def wrk(url: str, token: str, connections: int, seconds: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            f"{url}/api/v1/status",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    text = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", text, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "connections": connections,
        "seconds": seconds,
        "requests_per_s": rate,
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def measure(quick: bool) -> dict[str, Any]:
    svc = GatedService(SETTINGS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [ARXDEPLOY, "-c", str(svc.config), "server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        token = svc.cli("token", "create", "--for", "bo@example.com", "--json").json()["token"]
        wait_for(lambda: _healthy(url), 30, "server")
        latencies = []
        for n in range(1, 4 if quick else 11):
            log(f"approvals: approval {n}")
            latencies.append(one_approval(svc, url, token, f"v{n}"))
        reads = [wrk(url, token, c, 3 if quick else 10) for c in (1, 16)] if shutil.which("wrk") else []
    finally:
        server.terminate()
        server.wait(timeout=30)
        svc.close()
    return {
        "settings": {"poll_seconds": 0.2, "store": "sqlite", "server": "uvicorn, 1 process"},
        "approval_to_moving_on_s": summary(latencies),
        "approval_to_moving_on_runs_s": [round(x, 3) for x in latencies],
        "status_reads": reads,
    }


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def headline(figures: dict[str, Any]) -> str:
    moved = figures["approval_to_moving_on_s"]
    reads = ", ".join(f"{r['requests_per_s']:.0f} req/s at {r['connections']} conn" for r in figures["status_reads"])
    return f"approval → moving on median {moved['median']:.3f}s, max {moved['max']:.3f}s; status reads {reads}"


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
