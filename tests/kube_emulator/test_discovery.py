"""Discovery, authentication and the kubeconfig."""

from __future__ import annotations

import httpx
import pytest
import yaml

from arxdeploy.testing.kube import KubeEmulator


def test_version_answers_with_and_without_a_trailing_slash(api: httpx.Client) -> None:
    for path in ("/version", "/version/"):
        body = api.get(path).json()
        assert body["major"] == "1"
        assert body["gitVersion"].startswith("v1.")


def test_core_and_group_discovery_list_every_served_resource(api: httpx.Client) -> None:
    assert api.get("/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g["preferredVersion"]["groupVersion"] for g in api.get("/apis").json()["groups"]}
    assert groups == {
        "apps": "apps/v1",
        "autoscaling": "autoscaling/v2",
        "networking.k8s.io": "networking.k8s.io/v1",
        "coordination.k8s.io": "coordination.k8s.io/v1",
        "events.k8s.io": "events.k8s.io/v1",
        "authentication.k8s.io": "authentication.k8s.io/v1",
        "policy": "policy/v1",
        "gateway.networking.k8s.io": "gateway.networking.k8s.io/v1",
    }
    core = {r["name"]: r for r in api.get("/api/v1").json()["resources"]}
    assert {"namespaces", "nodes", "pods", "services", "configmaps", "secrets", "events"} <= set(core)
    assert core["namespaces"]["namespaced"] is False
    assert core["nodes"]["namespaced"] is False
    assert core["pods"]["kind"] == "Pod"
    assert "pods/status" in core
    assert core["pods/proxy"]["kind"] == "PodProxyOptions"
    assert "services/proxy" in core
    apps = api.get("/apis/apps/v1").json()
    assert apps["kind"] == "APIResourceList"
    assert apps["groupVersion"] == "apps/v1"
    by_name = {r["name"]: r for r in apps["resources"]}
    assert set(by_name["deployments"]["verbs"]) >= {"create", "get", "list", "watch", "patch", "update", "delete"}
    assert "deletecollection" in by_name["deployments"]["verbs"]
    assert by_name["deployments/status"]["kind"] == "Deployment"
    assert by_name["deployments/scale"]["kind"] == "Scale"
    assert by_name["deployments/scale"]["group"] == "autoscaling"
    hpa = api.get("/apis/autoscaling/v2").json()["resources"]
    assert hpa[0]["name"] == "horizontalpodautoscalers"
    assert api.get("/apis/networking.k8s.io/v1").json()["resources"][0]["kind"] == "NetworkPolicy"
    [lease] = api.get("/apis/coordination.k8s.io/v1").json()["resources"]
    assert (lease["name"], lease["kind"], lease["namespaced"]) == ("leases", "Lease", True)
    assert "watch" in lease["verbs"]
    [review] = api.get("/apis/authentication.k8s.io/v1").json()["resources"]
    assert (review["name"], review["verbs"]) == ("selfsubjectreviews", ["create"])
    assert api.get("/apis/policy/v1").json()["resources"][0]["kind"] == "PodDisruptionBudget"


def test_unknown_paths_are_not_found_statuses(api: httpx.Client) -> None:
    for path in ("/apis/batch/v1", "/apis/apps/v2", "/api/v1/namespaces/default/widgets", "/openapi/v2"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["kind"] == "Status"


def test_requests_without_the_token_are_unauthorized(kube: KubeEmulator) -> None:
    with httpx.Client(base_url=kube.url, verify=kube.ssl_context()) as anonymous:
        response = anonymous.get("/api/v1/namespaces")
        assert response.status_code == 401
        assert response.json()["reason"] == "Unauthorized"
        wrong = anonymous.get("/api/v1/namespaces", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert anonymous.get("/version").status_code == 200  # public, as on a real cluster


def test_kubeconfig_points_at_the_emulator_with_a_token_and_its_ca(kube: KubeEmulator) -> None:
    config = yaml.safe_load(kube.kubeconfig.read_text())
    assert config["current-context"] == "arxdeploy-emulator"
    assert config["clusters"][0]["name"] == "arxdeploy-emulator"
    assert config["clusters"][0]["cluster"]["server"] == kube.url
    assert config["clusters"][0]["cluster"]["certificate-authority-data"]
    assert config["users"][0]["user"]["token"] == kube.token
    assert kube.url.startswith("https://127.0.0.1:")


def test_calls_count_requests_by_method_and_path(kube: KubeEmulator, api: httpx.Client) -> None:
    kube.reset_calls()
    api.get("/api/v1/namespaces/default/pods")
    api.get("/api/v1/namespaces/default/pods")
    assert kube.calls["GET /api/v1/namespaces/default/pods"] == 2


def test_openapi_v3_declares_server_side_field_validation(api: httpx.Client) -> None:
    index = api.get("/openapi/v3").json()["paths"]
    assert "apis/apps/v1" in index
    doc = api.get(index["apis/apps/v1"]["serverRelativeURL"]).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}


def test_the_python_api_refuses_cleanly_once_stopped() -> None:
    kube = KubeEmulator().start()
    kube.stop()
    kube.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        kube.objects("pods")
