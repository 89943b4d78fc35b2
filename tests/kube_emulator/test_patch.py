"""The four PATCH content types, their failures, and optimistic concurrency through patches."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from arxdeploy.testing.kube.patch import PatchError, json_patch, merge_patch, strategic_merge
from tests.kube_emulator.conftest import (
    APPLY,
    CONFIGMAPS,
    DEPLOYMENTS,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    configmap,
    deployment,
)

POD_SPEC: dict[str, Any] = {
    "containers": [
        {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]},
        {"name": "sidecar", "image": "proxy:1"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "tolerations": [{"key": "a"}],
}


def test_merge_patch_follows_rfc_7386() -> None:
    original = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    patched = merge_patch(original, {"a": "z", "c": {"f": None}, "list": [3], "new": {"x": 1}})
    assert patched == {"a": "z", "c": {"d": "e"}, "list": [3], "new": {"x": 1}}


def test_json_patch_follows_rfc_6902() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    ops = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "replace", "path": "/c", "value": "y"},
        {"op": "copy", "from": "/c", "path": "/d"},
        {"op": "move", "from": "/d", "path": "/e~1f"},
        {"op": "remove", "path": "/a/b/0"},
        {"op": "test", "path": "/a/b", "value": [2, 3]},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [2, 3]}, "c": "y", "e/f": "y"}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/c", "value": "nope"}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/missing"}])


def test_strategic_merge_merges_keyed_lists_and_replaces_others() -> None:
    patch = {
        "containers": [
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}], "ports": [{"containerPort": 81}]},
            {"name": "new", "image": "new:1"},
        ],
        "tolerations": [{"key": "b"}],
        "volumes": [{"name": "data", "$patch": "delete"}],
    }
    merged = strategic_merge(POD_SPEC, patch)
    app = merged["containers"][0]
    assert [c["name"] for c in merged["containers"]] == ["app", "sidecar", "new"]
    assert app["image"] == "app:2"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert app["ports"] == [{"containerPort": 80}, {"containerPort": 81}]
    assert merged["tolerations"] == [{"key": "b"}]
    assert merged["volumes"] == []


def test_strategic_merge_directives_and_null() -> None:
    replaced = strategic_merge(POD_SPEC, {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]})
    assert replaced["containers"] == [{"name": "only", "image": "x"}]
    deleted = strategic_merge({"a": {"b": 1}, "c": 2}, {"a": {"$patch": "delete"}, "c": None})
    assert deleted == {}
    map_replaced = strategic_merge({"s": {"x": 1, "y": 2}}, {"s": {"$patch": "replace", "z": 3}})
    assert map_replaced == {"s": {"z": 3}}
    ordered = strategic_merge(
        {"containers": [{"name": "a"}, {"name": "b"}]},
        {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "i"}]},
    )
    assert ordered == {"containers": [{"name": "b"}, {"name": "a", "image": "i"}]}


def test_merge_patch_over_http(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("settings", a="1", b="2"))
    patched = api.patch(f"{CONFIGMAPS}/settings", json={"data": {"a": None, "c": "3"}}, headers=MERGE)
    assert patched.status_code == 200
    assert patched.json()["data"] == {"b": "2", "c": "3"}


def test_json_patch_test_failure_is_unprocessable(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("settings", a="1"))
    ops = [{"op": "test", "path": "/data/a", "value": "2"}, {"op": "replace", "path": "/data/a", "value": "3"}]
    response = api.patch(f"{CONFIGMAPS}/settings", json=ops, headers=JSON_PATCH)
    assert response.status_code == 422
    assert response.json()["kind"] == "Status"
    assert api.get(f"{CONFIGMAPS}/settings").json()["data"] == {"a": "1"}
    ops[0]["value"] = "1"
    assert api.patch(f"{CONFIGMAPS}/settings", json=ops, headers=JSON_PATCH).json()["data"] == {"a": "3"}


def test_strategic_merge_patch_over_http_keeps_other_containers(api: httpx.Client) -> None:
    body = deployment(replicas=0)
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "proxy:1"})
    api.post(DEPLOYMENTS, json=body)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.example/web:2"}]}}}}
    containers = api.patch(f"{DEPLOYMENTS}/web", json=patch, headers=STRATEGIC).json()["spec"]["template"]["spec"][
        "containers"
    ]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "registry.example/web:2"), ("sidecar", "proxy:1")]
    assert containers[0]["ports"] == [{"containerPort": 8080}]


def test_apply_creates_then_merges(api: httpx.Client) -> None:
    manifest = yaml.safe_dump(configmap("settings", a="1"))
    created = api.patch(f"{CONFIGMAPS}/settings", content=manifest, headers=APPLY, params={"fieldManager": "t"})
    assert created.status_code == 201
    again = yaml.safe_dump(configmap("settings", b="2"))
    merged = api.patch(f"{CONFIGMAPS}/settings", content=again, headers=APPLY, params={"fieldManager": "t"})
    assert merged.status_code == 200
    assert merged.json()["data"] == {"a": "1", "b": "2"}  # no field ownership: a stays (documented)


def test_apply_requires_a_field_manager(api: httpx.Client) -> None:
    response = api.patch(f"{CONFIGMAPS}/settings", content=yaml.safe_dump(configmap("settings")), headers=APPLY)
    assert response.status_code == 400


def test_a_patch_carrying_a_stale_resource_version_is_a_conflict(api: httpx.Client) -> None:
    created = api.post(CONFIGMAPS, json=configmap("settings", a="1")).json()
    api.patch(f"{CONFIGMAPS}/settings", json={"data": {"a": "2"}}, headers=MERGE)
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"a": "3"}}
    response = api.patch(f"{CONFIGMAPS}/settings", json=stale, headers=MERGE)
    assert response.status_code == 409
    assert response.json()["reason"] == "Conflict"


def test_patch_errors(api: httpx.Client) -> None:
    assert api.patch(f"{CONFIGMAPS}/ghost", json={}, headers=MERGE).status_code == 404
    api.post(CONFIGMAPS, json=configmap("settings"))
    unsupported = api.patch(f"{CONFIGMAPS}/settings", json={}, headers={"Content-Type": "application/json"})
    assert unsupported.status_code == 415
    broken = api.patch(f"{CONFIGMAPS}/settings", content=b"{not json", headers=MERGE)
    assert broken.status_code == 400
    assert broken.json()["reason"] == "BadRequest"
