"""Deployments on the local target through the real CLI: each outcome and its exit code."""

from __future__ import annotations

import json
import threading

import httpx
import psutil
import pytest

from tests.support import wait_until

from .conftest import Service

pytestmark = pytest.mark.slow


def deploy(service: Service, version: str, *extra: str) -> tuple[int, dict]:
    done = service.run("deploy", "--env", "staging", "--version", version, "--json", *extra)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_good_deploys_switch_colors_and_record_every_step(service: Service) -> None:
    code, first = deploy(service, "v1", "--reason", "first release")
    assert code == 0, first
    assert (first["state"], first["new_color"], first["previous_version"]) == ("succeeded", "blue", None)
    assert service.served_version() == "v1"

    code, second = deploy(service, "v2")
    assert code == 0, second
    assert (second["state"], second["new_color"], second["previous_version"]) == ("succeeded", "green", "v1")
    assert [s["step"] for s in second["steps"]] == [
        "validate",
        "security",  # the gates run on every deploy (here each says why it has nothing to check)
        "backup",
        "deploy",
        "verify",
        "switch",
        "monitor",
        "finalize",
    ]
    assert all(s["seconds"] >= 0 for s in second["steps"])
    monitor = next(s for s in second["steps"] if s["step"] == "monitor")
    assert monitor["seconds"] >= 2.0  # the monitoring window was honoured
    assert service.served_version() == "v2"

    status = service.json("status")
    [staging] = status["environments"]
    assert (staging["live_version"], staging["live_color"], staging["health"]["status"]) == ("v2", "green", "healthy")
    history = service.json("history")
    assert [h["version"] for h in history] == ["v2", "v1"]
    assert history[1]["reason"] == "first release"

    shown = service.json("show", second["id"][:-2])  # a unique prefix is enough
    assert shown["id"] == second["id"]
    assert [e["type"] for e in shown["events"]][:2] == ["state", "state"]
    assert any(e["type"] == "switched" and e["color"] == "green" for e in shown["events"])


def test_crashing_version_fails_and_the_live_one_keeps_serving(service: Service) -> None:
    assert deploy(service, "v1")[0] == 0
    code, result = deploy(service, "v2-crash")
    assert code == 1
    assert result["state"] == "failed"
    assert "cannot run: CrashLoop: replica" in result["failure"]["reason"]
    assert "v2-crash" in result["failure"]["reason"] or "exited" in result["failure"]["reason"]
    assert service.served_version() == "v1"
    logs = service.run("logs", "--env", "staging", "--all-colors")
    assert "v2-crash" in logs.stdout


def test_never_healthy_version_fails_at_the_progress_deadline(service: Service) -> None:
    service.write(deadline="2s")
    assert deploy(service, "v1")[0] == 0
    code, result = deploy(service, "v2-unhealthy")
    assert code == 1
    assert result["state"] == "failed"
    assert result["failure"]["step"] == "verify"
    assert "within 2s" in result["failure"]["reason"]
    assert "HTTP 500" in result["failure"]["answer"]
    assert service.served_version() == "v1"


def test_failure_after_the_switch_is_rolled_back_during_monitoring(service: Service) -> None:
    service.write(monitoring="6s")
    assert deploy(service, "v1")[0] == 0
    done = service.run("deploy", "--env", "staging", "--version", "v2-fails-after-1s")
    assert done.returncode == 1
    assert "rolled back" in done.stdout
    assert "failed 3 rounds in a row" in done.stdout
    assert "HTTP 500" in done.stdout  # the failing check's last answer is in the message
    assert service.served_version() == "v1"
    newest = service.newest()
    assert newest is not None and newest["state"] == "rolled_back"


def test_second_deploy_while_one_runs_exits_4_naming_the_holder(service: Service) -> None:
    assert deploy(service, "v1")[0] == 0
    service.write(monitoring="300s")  # v2 holds the environment until the test ends it
    first = service.start("deploy", "--env", "staging", "--version", "v2")
    try:
        running = service.wait_for(first, "v2", "monitoring")
        done = service.run("deploy", "--env", "staging", "--version", "v3")
        assert done.returncode == 4, done.stderr
        assert running.deployment.id in done.stderr
        assert "hint:" in done.stderr
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_bad_config_exits_2_naming_file_line_and_key(service: Service) -> None:
    text = service.config.read_text().replace("monitoring_duration", "monitoring_duraton")
    service.config.write_text(text)
    done = service.run("deploy", "--env", "staging", "--version", "v1")
    assert done.returncode == 2
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "monitoring_duraton" in row)
    assert f"{service.config}:{line}" in done.stderr
    assert "monitoring_duraton" in done.stderr and "monitoring_duration" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    validate = service.run("validate")
    assert validate.returncode == 2 and f":{line}" in validate.stderr


def test_no_request_fails_during_a_deploy_and_a_rollback(service: Service) -> None:
    service.write(monitoring="3s")
    assert deploy(service, "v1")[0] == 0
    stop = threading.Event()
    results: list[str] = []

    def load() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    response = client.get(f"{service.url}/api/version")
                    results.append(str(response.status_code))
                except httpx.HTTPError as exc:
                    results.append(type(exc).__name__)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        assert deploy(service, "v2")[0] == 0  # a switch under load
        code, result = deploy(service, "v3-fails-after-1s")  # a rollback under load
        assert (code, result["state"]) == (1, "rolled_back")
    finally:
        stop.set()
        for w in workers:
            w.join()
    failed = [r for r in results if r != "200"]
    assert len(results) > 100
    assert failed == [], f"{len(failed)} of {len(results)} requests failed: {sorted(set(failed))}"


def test_manual_rollback_uses_the_previous_good_version(service: Service) -> None:
    assert deploy(service, "v1")[0] == 0
    assert deploy(service, "v2")[0] == 0
    done = service.run("rollback", "--env", "staging", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert (result["kind"], result["version"], result["previous_version"]) == ("rollback", "v1", "v2")
    assert service.served_version() == "v1"


def test_stop_takes_the_environment_off_the_air_and_is_not_restored(service: Service) -> None:
    assert deploy(service, "v1")[0] == 0
    done = service.run("stop", "--env", "staging")
    assert done.returncode == 0, done.stderr
    status = service.json("status")
    assert status["environments"][0]["live_version"] is None
    assert service.served_version() is None
    assert service.newest()["kind"] == "stop"


def test_a_stopped_service_leaves_no_runtime_behind(service: Service) -> None:
    service.env["ARXDEPLOY_RUNTIME_IDLE_EXIT"] = "1"  # seconds; the runtime inherits it from the command
    assert deploy(service, "v1")[0] == 0
    runtime, replicas = service.runtime_pid(), service.replica_pids()
    assert runtime is not None and len(replicas) == 2
    assert service.run("stop", "--env", "staging").returncode == 0
    wait_until(lambda: not alive(runtime), timeout=60, interval=0.2, what="the idle runtime to exit")
    assert service.runtime_pid() is None  # runtime.json went with it
    assert not any(alive(pid) for pid in replicas)
    assert deploy(service, "v2")[0] == 0  # the next deploy starts a runtime again
    assert service.served_version() == "v2"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
