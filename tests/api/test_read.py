"""Reading the record over HTTP: status, history, one deployment, its events; health; metrics; 500s."""

from __future__ import annotations

import logging
import random
import string

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from arxdeploy.api import create_app
from arxdeploy.api.metrics import METHODS, Metrics
from tests.api.conftest import SECRET, LiveServer, World
from tests.api.test_approvals import assert_error


def test_healthz_needs_no_token(world: World) -> None:
    response = world.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-content-type-options"] == "nosniff"


def test_status_and_history_read_the_store(world: World) -> None:
    staging = world.deploy_staging("v1")
    production = world.request_production("v2")

    status = world.get("/api/v1/status").json()
    assert status["service"] == "demo-api"
    by_env = {row["environment"]: row for row in status["environments"]}
    assert list(by_env) == ["staging", "production"]
    assert by_env["staging"]["live"]["version"] == "v1"
    assert by_env["staging"]["live"]["color"] == staging.new_color.value
    assert by_env["staging"]["live"]["deployment_id"] == staging.id
    assert by_env["staging"]["last_deployment"]["state"] == "succeeded"
    assert by_env["production"]["live"] is None
    assert by_env["production"]["last_deployment"] == {
        "id": production.id,
        "kind": "deploy",
        "version": "v2",
        "state": "awaiting_approval",
        "created_at": production.created_at.isoformat(),
    }
    assert by_env["production"]["pending_approvals"] == 1

    history = world.get("/api/v1/deployments").json()
    assert [d["id"] for d in history] == [production.id, staging.id]
    assert [d["id"] for d in world.get("/api/v1/deployments", params={"limit": 1}).json()] == [production.id]
    only = world.get("/api/v1/deployments", params={"environment": "staging"}).json()
    assert [d["id"] for d in only] == [staging.id]
    assert only[0]["state"] == "succeeded"
    assert only[0]["traffic_on"] == staging.new_color.value

    shown = world.get(f"/api/v1/deployments/{production.id[:17]}").json()  # a unique prefix
    assert shown["id"] == production.id
    assert shown["state"] == "awaiting_approval"
    assert shown["requested_by"] == "ana@example.com"

    events = world.get(f"/api/v1/deployments/{staging.id}/events").json()
    assert events[0]["type"] == "state" and events[0]["state"] == "requested"
    assert any(e["type"] == "switched" and e["version"] == "v1" for e in events)
    assert all({"type", "v", "at"} <= set(e) for e in events)

    pending = world.get("/api/v1/approvals", params={"environment": "production"}).json()
    assert [p["id"] for p in pending] == [production.id]
    assert pending[0]["min_approvals"] == 2
    assert pending[0]["seconds_left"] == 30 * 60
    assert pending[0]["changes"][0] == "version: nothing live -> v2"
    assert world.get("/api/v1/approvals", params={"environment": "staging"}).json() == []


def test_secrets_are_masked_in_every_body(world: World) -> None:
    d = world.request_production(reason=f"rotate the key {SECRET}")
    for path in [
        f"/api/v1/deployments/{d.id}",
        "/api/v1/approvals",
        f"/api/v1/approvals/{d.id}",
        "/api/v1/deployments",
    ]:
        text = world.get(path).text
        assert SECRET not in text
        assert "rotate the key ***" in text


def test_an_unexpected_error_is_a_generic_500(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_kwargs: object) -> None:
        raise RuntimeError(f"database melted near {SECRET}")

    monkeypatch.setattr(world.app.store, "history", broken)
    with caplog.at_level(logging.ERROR, logger="arxdeploy.api"):
        response = world.get("/api/v1/deployments")
    error = assert_error(response, 500, "internal")
    assert "melted" not in response.text and SECRET not in response.text
    assert error["message"].startswith("internal error")
    assert any("melted" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_metrics_parse_and_have_the_families(world: World) -> None:
    world.deploy_staging("v1")
    world.request_production("v2")
    world.get("/api/v1/status")
    world.client.get("/api/v1/status")  # a 401

    response = world.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {
        "arxdeploy_deployments",
        "arxdeploy_pending_approvals",
        "arxdeploy_http_requests",
        "arxdeploy_live_info",
    } <= set(families)

    def samples(name: str, suffix: str = "") -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(s.labels.items())): s.value for s in families[name].samples if s.name == name + suffix}

    assert samples("arxdeploy_deployments")[(("environment", "staging"), ("state", "succeeded"))] == 1
    assert samples("arxdeploy_deployments")[(("environment", "production"), ("state", "awaiting_approval"))] == 1
    assert samples("arxdeploy_pending_approvals") == {
        (("environment", "production"),): 1,
        (("environment", "staging"),): 0,
    }
    live = samples("arxdeploy_live_info")
    assert len(live) == 1
    ((labels, value),) = live.items()
    assert dict(labels)["version"] == "v1" and dict(labels)["environment"] == "staging" and value == 1
    requests = samples("arxdeploy_http_requests", "_total")
    assert requests[(("method", "GET"), ("route", "/api/v1/status"), ("status", "200"))] == 1
    assert requests[(("method", "GET"), ("route", "/api/v1/status"), ("status", "401"))] == 1


# Methods llhttp (httptools) parses besides the ones the API serves: they reach the app.
PARSED_METHODS = ("PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "PURGE", "REPORT")


def test_strangers_cannot_add_series_to_the_metrics(world: World) -> None:
    def series() -> dict[tuple[str, str, str], float]:
        text = world.client.get("/metrics").text
        (family,) = [f for f in text_string_to_metric_families(text) if f.name == "arxdeploy_http_requests"]
        return {
            (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
            for s in family.samples
            if s.name.endswith("_total")
        }

    # One request of each kind first: every series the strangers' requests can fall into exists.
    world.client.request("PROPFIND", "/nothing-here")
    world.client.request("PROPFIND", "/api/v1/status")
    series()
    before = series()  # the scrape itself is counted too
    rng = random.Random(20261205)  # reproducible: a failure names the same requests again
    strangers = 150
    reached = 0
    for _ in range(strangers):
        # Methods an HTTP parser knows (WebDAV, UPnP, ...) and made-up ones.
        method = rng.choice([*PARSED_METHODS, "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))])
        if method in METHODS:
            method += "X"
        junk = "".join(rng.choices(string.ascii_letters + string.digits + "-_~", k=rng.randint(1, 40)))
        path = rng.choice([f"/x-{junk}", f"/api/v1/x-{junk}", f"/x-{junk}/{junk}", "/api/v1/status"])
        answer = world.client.request(method, path, headers={"Authorization": f"Bearer {junk}"})
        # A method the HTTP parser does not know (httptools knows a fixed list) is refused with
        # 400 before the app sees it, and counts nowhere; the others reach the app and count once.
        assert answer.status_code in (400, 404, 405), (method, path, answer.text)
        reached += answer.status_code != 400
    after = series()

    assert after.keys() == before.keys()
    assert {method for method, _, _ in after} <= METHODS | {"other"}
    grew = sum(after[k] - before[k] for k in after if k[0] == "other")
    assert grew == reached > 0
    assert after[("GET", "/metrics", "200")] == before[("GET", "/metrics", "200")] + 1


def test_every_request_label_has_a_bounded_set_of_values(world: World) -> None:
    metrics = Metrics(world.app)
    for method, status in [("get", 418), ("BREW", 599), ("GET", 404), ("POST", 201), ("PATCH", 302)]:
        metrics.count_request(method=method, route=None, status=status)
    counted = {
        (s.labels["method"], s.labels["route"], s.labels["status"])
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == "arxdeploy_http_requests_total"
    }
    assert counted == {
        ("other", "unmatched", "4xx"),
        ("other", "unmatched", "5xx"),
        ("GET", "unmatched", "404"),
        ("POST", "unmatched", "201"),
        ("PATCH", "unmatched", "3xx"),
    }


def test_each_server_has_its_own_registry(world: World) -> None:
    # A second application in the same process must not collide in prometheus_client's global registry.
    other = LiveServer(create_app(world.app))
    other.start()
    try:
        with httpx.Client(base_url=other.url, timeout=10) as client:
            client.get("/metrics")
            text = client.get("/metrics").text  # counts the first scrape, and nothing of the other server
    finally:
        other.stop()
    requests = [f for f in text_string_to_metric_families(text) if f.name == "arxdeploy_http_requests"]
    counted = [(s.labels["route"], s.value) for s in requests[0].samples if s.name.endswith("_total")]
    assert counted == [("/metrics", 1.0)]


def test_a_deployment_reads_as_the_cli_prints_it(world: World) -> None:
    from arxdeploy.domain.events import fold
    from arxdeploy.testing.target import FakeTarget
    from arxdeploy.views import deployment_json

    staging = world.deploy_staging("v1")
    target = world.engine.target
    assert isinstance(target, FakeTarget)
    target.fail_on["switch"] = 1  # the next deployment fails at the switch and rolls back
    for d in (staging, world.deploy_staging_failed("v2"), world.request_production("v3")):
        summary = world.app.store.get(deployment_id=d.id)
        view = fold(world.app.store.events(deployment_id=d.id))
        assert world.get(f"/api/v1/deployments/{d.id}").json() == deployment_json(summary.deployment, view)
