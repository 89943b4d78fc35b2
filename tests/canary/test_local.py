"""A canary on the real local target: the real `arxdeploy` in subprocesses, real replicas behind
the real router. The split is counted at the front door; promote and abort come from another
process; a kill -9 of the deploying process while the canary shares traffic is recovered with
all of the traffic on the old version and the record complete."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

import httpx
import pytest

from arxdeploy.domain.events import Event, fold
from arxdeploy.store.sql import SqlStore
from tests.e2e.conftest import Service
from tests.support import wait_until

pytestmark = pytest.mark.slow

REQUESTS = 1000  # ten times round the router's 100 slots
TOLERANCE = 3  # percentage points


def canary_config(service: Service, steps: str, *, sticky: bool = False) -> None:
    """The e2e config with a canary strategy of ``steps`` (YAML flow sequence); ``sticky``: the
    split keeps each client (its X-User-Id header) on one color."""
    service.write(monitoring="1s")
    text = service.config.read_text(encoding="utf-8")
    assert "  type: blue_green\n" in text and "    rollback_timeout: 20s\n" in text
    text = text.replace("  type: blue_green\n", f"  type: canary\n  canary:\n    steps: {steps}\n")
    if sticky:
        text = text.replace(
            "    rollback_timeout: 20s\n", "    rollback_timeout: 20s\n    sticky: {header: X-User-Id}\n"
        )
    if "analysis:" in steps:
        # The metric its analysis step names (the router's own counts), judged in one short window;
        # no traffic flows in these tests, so too little data passes as configured.
        text += (
            "analysis:\n  metrics:\n    error_rate: {provider: router, measure: error_rate, max: 0.01}\n"
            "  canary: {interval: 1s, count: 1, inconclusive: pass}\n"
        )
    service.config.write_text(text, encoding="utf-8")


def events_of(service: Service, deployment_id: str) -> list[Event]:
    with SqlStore(f"sqlite:///{service.state_dir / 'state.db'}") as store:
        return store.events(deployment_id=deployment_id)


def wait_for_step(service: Service, proc: subprocess.Popen[bytes], index: int, kind: str) -> str:
    """Wait until the newest deployment recorded the start of canary step ``index`` (of ``kind``)
    and, for a pause for a person, its ``paused`` event; returns the deployment's id."""

    def there() -> str | None:
        assert proc.poll() is None, "the deploy exited before the canary step"
        newest = service.recorded()
        if newest is None or newest.deployment.version != "v2":
            return None
        log = events_of(service, newest.deployment.id)
        started = any(
            e.type == "canary_step" and e.data["index"] == index and e.data["phase"] == "started" for e in log
        )
        waits = kind != "until_approved" or any(e.type == "paused" for e in log)
        return newest.deployment.id if started and waits else None

    return wait_until(there, timeout=120, interval=0.2, what=f"canary step {index} ({kind})")


def split_at_front_door(service: Service) -> dict[str, float]:
    """Each version's percent of ``REQUESTS`` new requests through the router, counted from their answers."""
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=service.url, timeout=10) as client:  # no cookie or header: turns, not sticky
        for _ in range(REQUESTS):
            response = client.get("/api/version")
            assert response.status_code == 200, response.text
            counts[response.json()["version"]] += 1
    return {version: 100 * count / REQUESTS for version, count in counts.items()}


def only_v1(service: Service) -> bool:
    """A hundred new requests (one full turn of the router's slots) all answered by v1."""
    with httpx.Client(base_url=service.url, timeout=10) as client:
        return all(client.get("/api/version").json()["version"] == "v1" for _ in range(100))


def deployed_v1(service: Service) -> None:
    done = service.run("deploy", "--env", "staging", "--version", "v1")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("weight", [10, 50])
def test_the_split_measured_at_the_front_door_matches_the_weight_and_a_promote_from_another_process_ends_it(
    service: Service, weight: int
) -> None:
    deployed_v1(service)
    canary_config(service, f"[{{weight: {weight}}}, {{pause: until_approved}}, {{weight: 100}}]")
    proc = service.start("deploy", "--env", "staging", "--version", "v2")
    deployment_id = wait_for_step(service, proc, 2, "until_approved")

    split = split_at_front_door(service)
    assert abs(split.get("v2", 0) - weight) <= TOLERANCE, split
    assert abs(split.get("v1", 0) - (100 - weight)) <= TOLERANCE, split
    status = service.json("status", "--env", "staging")["environments"][0]
    assert status["weights"] == {"blue": 100 - weight, "green": weight}
    assert any(f"`arxdeploy promote {deployment_id}` goes on" in note for note in status["notes"]), status["notes"]
    shown = service.json("show", deployment_id)
    assert shown["state"] == "progressing"
    assert shown["canary"] == {
        "weight": weight,
        "step": f"2/3 pause (weight {weight}%)",
        "paused": f"canary step 2/3 at {weight}%",
    }

    shown_text = service.run("show", deployment_id).stdout
    assert f"canary:    {weight}% on green; step 2/3 pause (weight {weight}%)" in shown_text, shown_text
    assert f"paused:    canary step 2/3 at {weight}%: `arxdeploy promote {deployment_id}`" in shown_text, shown_text
    assert service.json("history", "--limit", "1")[0]["canary"]["weight"] == weight
    listed = " ".join(service.run("history", "--limit", "1").stdout.split())  # however Rich wraps the cell
    assert "progressing" in listed and f"{weight}%" in listed and "paused" in listed, listed
    status_text = service.run("status", "--env", "staging").stdout
    assert f"staging: traffic split (canary): blue {100 - weight}%, green {weight}%" in status_text, status_text

    promoted = service.run("promote", deployment_id, "--reason", "dashboards look fine")
    assert promoted.returncode == 0, promoted.stderr
    assert "promoted by" in promoted.stdout
    assert proc.wait(timeout=120) == 0, service.output(proc)
    shown = service.json("show", deployment_id)
    assert shown["state"] == "succeeded"
    canary = next(s for s in shown["steps"] if s["step"] == "canary")
    assert "promoted by" in canary["detail"] and "dashboards look fine" in canary["detail"]
    assert split_at_front_door(service) == {"v2": 100.0}


def test_a_sticky_split_keeps_each_client_on_its_version_and_matches_the_weight_over_many_clients(
    service: Service,
) -> None:
    deployed_v1(service)
    canary_config(service, "[{weight: 20}, {pause: until_approved}, {weight: 100}]", sticky=True)
    proc = service.start("deploy", "--env", "staging", "--version", "v2")
    deployment_id = wait_for_step(service, proc, 2, "until_approved")

    seen: dict[str, set[str]] = {}
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for turn in range(2):  # every client twice: the second answer must be the first one's version
            for user in range(REQUESTS // 2):
                response = client.get("/api/version", headers={"X-User-Id": f"user-{user}"})
                assert response.status_code == 200, (turn, response.text)
                seen.setdefault(f"user-{user}", set()).add(response.json()["version"])
    assert all(len(versions) == 1 for versions in seen.values()), "a client changed versions while the weights stood"
    on_v2 = 100 * sum(versions == {"v2"} for versions in seen.values()) / len(seen)
    assert abs(on_v2 - 20) <= TOLERANCE, on_v2

    assert service.run("abort", deployment_id, "--reason", "enough").returncode == 0
    assert proc.wait(timeout=120) != 0


def test_an_abort_while_paused_from_another_process_sends_all_traffic_back(service: Service) -> None:
    deployed_v1(service)
    canary_config(service, "[{weight: 20}, {pause: until_approved}, {weight: 100}]")
    proc = service.start("deploy", "--env", "staging", "--version", "v2")
    deployment_id = wait_for_step(service, proc, 2, "until_approved")

    aborted = service.run("abort", deployment_id, "--reason", "p99 doubled")
    assert aborted.returncode == 0, aborted.stderr
    assert proc.wait(timeout=120) != 0
    shown = service.json("show", deployment_id)
    assert shown["state"] == "rolled_back"
    assert shown["failure"]["step"] == "canary" and shown["failure"]["reason"].endswith("(via cli): p99 doubled")
    rollback = next(s for s in shown["steps"] if s["step"] == "rollback")
    assert "green's 20% back to blue" in rollback["detail"]
    assert split_at_front_door(service) == {"v1": 100.0}
    assert service.run("abort", deployment_id, "--reason", "again").returncode != 0  # nothing left to abort


KILLS = [
    # (steps, the step to kill in, its kind, the new version's share then)
    ("[{weight: 10}, {pause: 300s}, {weight: 100}]", 2, "pause", 10),
    ("[{weight: 10}, {weight: 50}, {pause: until_approved}, {weight: 100}]", 3, "until_approved", 50),
    ("[{weight: 25}, {analysis: [error_rate]}, {weight: 100}, {pause: 300s}]", 4, "pause", 100),
]


@pytest.mark.parametrize(("steps", "index", "kind", "share"), KILLS)
def test_kill_9_of_a_canary_is_recovered_with_all_traffic_on_the_old_version(
    service: Service, steps: str, index: int, kind: str, share: int
) -> None:
    deployed_v1(service)
    canary_config(service, steps)
    proc = service.start("deploy", "--env", "staging", "--version", "v2")
    deployment_id = wait_for_step(service, proc, index, kind)
    status = service.json("status", "--env", "staging")["environments"][0]
    assert status["weights"] == ({"green": 100} if share == 100 else {"blue": 100 - share, "green": share})

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # Before any command: the runtime's watchdog stops the candidate whose process died, and
    # stopping it takes its weight away.
    wait_until(lambda: only_v1(service), timeout=120, interval=0.5, what="the runtime to give all traffic back to v1")
    reconciled = service.run("reconcile", "--env", "staging")
    assert reconciled.returncode == 0, reconciled.stderr
    assert f"recovered interrupted deployment {deployment_id}" in reconciled.stdout + reconciled.stderr

    view = fold(events_of(service, deployment_id))
    assert view.state.value == "rolled_back" and view.failure is not None
    assert view.failure.reason.startswith("interrupted")
    assert [s.step for s in view.steps][-2:] == ["canary", "rollback"]
    assert split_at_front_door(service) == {"v1": 100.0}
    row = service.json("status", "--env", "staging")["environments"][0]
    assert (row["live_version"], row["weights"], row["drift"]) == ("v1", None, None)
    assert len(service.replica_pids()) == 2  # the candidate's replicas are gone
