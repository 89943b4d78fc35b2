"""Create, read, replace, delete: server-set fields, conflicts and Status errors."""

from __future__ import annotations

import httpx
import pytest

from arxdeploy.testing.kube import KubeEmulator
from tests.kube_emulator.conftest import CONFIGMAPS, DEPLOYMENTS, MERGE, configmap, deployment


def test_create_sets_the_server_fields(api: httpx.Client) -> None:
    response = api.post(DEPLOYMENTS, json=deployment())
    assert response.status_code == 201
    meta = response.json()["metadata"]
    assert meta["namespace"] == "default"
    assert meta["uid"]
    assert meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert response.json()["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted


def test_resource_versions_increase_across_all_objects(api: httpx.Client) -> None:
    versions = [
        int(api.post(CONFIGMAPS, json=configmap(f"c{n}")).json()["metadata"]["resourceVersion"]) for n in range(5)
    ]
    assert versions == sorted(versions)
    assert len(set(versions)) == 5


def test_creating_twice_is_already_exists(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("settings"))
    response = api.post(CONFIGMAPS, json=configmap("settings"))
    assert response.status_code == 409
    status = response.json()
    assert status["kind"] == "Status"
    assert status["status"] == "Failure"
    assert status["reason"] == "AlreadyExists"
    assert status["details"] == {"name": "settings", "kind": "configmaps"}
    assert status["code"] == 409


def test_creating_in_a_missing_namespace_is_not_found(api: httpx.Client) -> None:
    response = api.post("/api/v1/namespaces/nowhere/configmaps", json=configmap("settings"))
    assert response.status_code == 404
    assert response.json()["message"] == 'namespaces "nowhere" not found'


def test_generate_name_gets_a_random_suffix(api: httpx.Client) -> None:
    body = configmap("")
    body["metadata"] = {"generateName": "run-"}
    names = {api.post(CONFIGMAPS, json=body).json()["metadata"]["name"] for _ in range(3)}
    assert len(names) == 3
    assert all(name.startswith("run-") and len(name) == 9 for name in names)


def test_get_of_a_missing_object_is_a_not_found_status(api: httpx.Client) -> None:
    response = api.get(f"{DEPLOYMENTS}/ghost")
    assert response.status_code == 404
    assert response.json()["reason"] == "NotFound"
    assert response.json()["message"] == 'deployments.apps "ghost" not found'
    assert response.json()["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


def test_replace_with_a_stale_resource_version_is_a_conflict(api: httpx.Client) -> None:
    created = api.post(CONFIGMAPS, json=configmap("settings", a="1")).json()
    first = dict(created, data={"a": "2"})
    assert api.put(f"{CONFIGMAPS}/settings", json=first).status_code == 200
    stale = dict(created, data={"a": "3"})
    response = api.put(f"{CONFIGMAPS}/settings", json=stale)
    assert response.status_code == 409
    assert response.json()["reason"] == "Conflict"
    assert "the object has been modified" in response.json()["message"]
    assert api.get(f"{CONFIGMAPS}/settings").json()["data"] == {"a": "2"}


def test_replace_without_a_resource_version_is_unconditional(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("settings", a="1"))
    response = api.put(f"{CONFIGMAPS}/settings", json=configmap("settings", a="9"))
    assert response.status_code == 200
    assert response.json()["data"] == {"a": "9"}


def test_a_no_op_replace_keeps_the_resource_version(api: httpx.Client) -> None:
    created = api.post(CONFIGMAPS, json=configmap("settings", a="1")).json()
    again = api.put(f"{CONFIGMAPS}/settings", json=created).json()
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_generation_counts_spec_changes_only(api: httpx.Client) -> None:
    created = api.post(DEPLOYMENTS, json=deployment(replicas=0)).json()
    labelled = api.patch(
        f"{DEPLOYMENTS}/web",
        json={"metadata": {"labels": {"team": "a"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert labelled["metadata"]["generation"] == 1
    scaled = api.patch(
        f"{DEPLOYMENTS}/web", json={"spec": {"replicas": 1}}, headers={"Content-Type": "application/merge-patch+json"}
    ).json()
    assert scaled["metadata"]["generation"] == 2
    assert scaled["metadata"]["uid"] == created["metadata"]["uid"]
    assert scaled["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


def test_lists_carry_kind_and_resource_version(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("b"))
    api.post(CONFIGMAPS, json=configmap("a"))
    listed = api.get(CONFIGMAPS).json()
    assert listed["kind"] == "ConfigMapList"
    assert listed["apiVersion"] == "v1"
    assert listed["metadata"]["resourceVersion"].isdigit()
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a", "b"]


def test_lists_page_with_limit_and_continue(api: httpx.Client) -> None:
    for n in range(5):
        api.post(CONFIGMAPS, json=configmap(f"c{n}"))
    names, token = [], ""
    while True:
        page = api.get(CONFIGMAPS, params={"limit": 2, **({"continue": token} if token else {})}).json()
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"c{n}" for n in range(5)]


def test_cluster_wide_deployment_list_spans_namespaces(api: httpx.Client) -> None:
    api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    api.post(DEPLOYMENTS, json=deployment("one", replicas=0))
    api.post("/apis/apps/v1/namespaces/other/deployments", json=deployment("two", replicas=0))
    items = api.get("/apis/apps/v1/deployments").json()["items"]
    assert {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items} == {
        ("default", "one"),
        ("other", "two"),
    }


def test_delete_answers_with_a_success_status(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("settings"))
    response = api.delete(f"{CONFIGMAPS}/settings")
    assert response.status_code == 200
    assert response.json()["status"] == "Success"
    assert api.get(f"{CONFIGMAPS}/settings").status_code == 404
    assert api.delete(f"{CONFIGMAPS}/settings").status_code == 404


def test_delete_with_stale_preconditions_is_a_conflict(api: httpx.Client) -> None:
    created = api.post(CONFIGMAPS, json=configmap("settings")).json()
    api.put(f"{CONFIGMAPS}/settings", json=configmap("settings", a="1"))
    options = {"preconditions": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    response = api.request("DELETE", f"{CONFIGMAPS}/settings", json=options)
    assert response.status_code == 409


def test_deletecollection_honours_the_label_selector(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("a", {"tier": "web"}))
    api.post(CONFIGMAPS, json=configmap("b", {"tier": "db"}))
    api.post(CONFIGMAPS, json=configmap("c", {"tier": "web"}))
    deleted = api.delete(CONFIGMAPS, params={"labelSelector": "tier=web"}).json()
    assert sorted(i["metadata"]["name"] for i in deleted["items"]) == ["a", "c"]
    assert [i["metadata"]["name"] for i in api.get(CONFIGMAPS).json()["items"]] == ["b"]


def test_post_without_content_type_and_json_with_charset_are_accepted(api: httpx.Client) -> None:
    raw = httpx.Request("POST", "/x", json=configmap("plain")).content
    bare = api.post(CONFIGMAPS, content=raw, headers={"Content-Type": ""})
    assert bare.status_code == 201
    charset = api.post(
        CONFIGMAPS,
        content=raw.replace(b"plain", b"charset"),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 201


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (configmap("Bad_Name"), 422, "Invalid"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, 400, "BadRequest"),
        (dict(configmap("x"), metadata={"name": "x", "namespace": "other"}), 400, "BadRequest"),
    ],
)
def test_invalid_bodies_are_rejected(api: httpx.Client, body: dict[str, object], code: int, reason: str) -> None:
    response = api.post(CONFIGMAPS, json=body)
    assert response.status_code == code
    assert response.json()["reason"] == reason


def test_a_deployment_whose_selector_misses_its_template_is_invalid(api: httpx.Client) -> None:
    body = deployment()
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    response = api.post(DEPLOYMENTS, json=body)
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_a_deployment_selector_is_immutable(api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=0))
    changed = deployment(replicas=0, labels={"app": "web", "v": "2"})
    response = api.put(f"{DEPLOYMENTS}/web", json=changed)
    assert response.status_code == 422
    assert "immutable" in response.json()["message"]


def test_unsupported_methods_are_method_not_allowed(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("settings"))
    assert api.post(f"{CONFIGMAPS}/settings", json={}).status_code == 405
    assert api.put(CONFIGMAPS, json={}).json()["reason"] == "MethodNotAllowed"


def test_deleting_a_namespace_deletes_its_contents(api: httpx.Client) -> None:
    api.post("/api/v1/namespaces", json={"metadata": {"name": "temp"}})
    api.post("/api/v1/namespaces/temp/configmaps", json=configmap("settings"))
    assert api.delete("/api/v1/namespaces/temp").status_code == 200
    assert api.get("/api/v1/namespaces/temp/configmaps/settings").status_code == 404
    assert api.get("/api/v1/namespaces/temp").status_code == 404


def test_services_get_a_cluster_ip_that_updates_keep(api: httpx.Client) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    created = api.post("/api/v1/namespaces/default/services", json=service).json()
    assert created["spec"]["clusterIP"].startswith("10.96.")
    assert created["spec"]["ports"][0]["targetPort"] == 80
    replaced = api.put("/api/v1/namespaces/default/services/web", json=service).json()
    assert replaced["spec"]["clusterIP"] == created["spec"]["clusterIP"]


def test_dry_run_validates_but_keeps_nothing(api: httpx.Client) -> None:
    before = api.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    created = api.post(CONFIGMAPS, json=configmap("settings", a="1"), params={"dryRun": "All"})
    assert created.status_code == 201
    assert created.json()["data"] == {"a": "1"}
    assert api.get(f"{CONFIGMAPS}/settings").status_code == 404
    assert api.post(CONFIGMAPS, json=configmap("Bad_Name"), params={"dryRun": "All"}).status_code == 422
    api.post(CONFIGMAPS, json=configmap("settings", a="1"))
    patched = api.patch(f"{CONFIGMAPS}/settings", json={"data": {"a": "2"}}, headers=MERGE, params={"dryRun": "All"})
    assert patched.json()["data"] == {"a": "2"}
    assert api.delete(f"{CONFIGMAPS}/settings", params={"dryRun": "All"}).status_code == 200
    kept = api.get(f"{CONFIGMAPS}/settings").json()
    assert kept["data"] == {"a": "1"}
    assert int(kept["metadata"]["resourceVersion"]) == int(before) + 1  # only the real create counted


def test_an_immutable_configmap_keeps_its_data_and_its_flag_but_not_its_labels(api: httpx.Client) -> None:
    body = {**configmap("settings-0123456789", LOG_LEVEL="info"), "immutable": True}
    assert api.post(CONFIGMAPS, json=body).status_code == 201
    url = f"{CONFIGMAPS}/settings-0123456789"
    for change in ({"data": {"LOG_LEVEL": "debug"}}, {"binaryData": {"x": "AA=="}}, {"immutable": False}):
        response = api.patch(url, json=change, headers=MERGE)
        assert response.status_code == 422, change
        assert "field is immutable when `immutable` is set" in response.json()["message"]
    relabelled = api.patch(url, json={"metadata": {"labels": {"team": "payments"}}}, headers=MERGE)
    assert relabelled.status_code == 200  # only the data is frozen, as on a real API server
    assert api.get(url).json()["data"] == body["data"]


def test_pod_disruption_budgets_are_served(api: httpx.Client) -> None:
    url = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    assert api.post(url, json=budget).status_code == 201
    assert api.get(f"{url}/web").json()["spec"]["maxUnavailable"] == 1
    assert api.delete(f"{url}/web").status_code == 200


def test_an_injected_fault_fails_the_request_before_or_after_it_is_carried_out(
    kube: KubeEmulator, api: httpx.Client
) -> None:
    kube.inject_fault(503, method="POST", path="/configmaps", retry_after=2)
    refused = api.post(CONFIGMAPS, json=configmap("before"))
    assert (refused.status_code, refused.json()["reason"], refused.headers["Retry-After"]) == (
        503,
        "ServiceUnavailable",
        "2",
    )
    assert api.get(f"{CONFIGMAPS}/before").status_code == 404  # never made
    # a timeout once etcd has committed: the answer is lost, the write is not
    kube.inject_fault(504, method="POST", path="/configmaps", after=True)
    lost = api.post(CONFIGMAPS, json=configmap("after"))
    assert (lost.status_code, lost.json()["reason"]) == (504, "Timeout")
    assert api.get(f"{CONFIGMAPS}/after").status_code == 200
    assert kube.pending_faults() == 0
