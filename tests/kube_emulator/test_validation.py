"""Validation as kube-apiserver answers it: 422 Invalid, one cause per field, the messages of
k8s.io/apimachinery/pkg/util/validation; decoding errors are 400."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from arxdeploy.testing.kube import KubeEmulator, validation
from tests.kube_emulator.conftest import (
    CONFIGMAPS,
    DEPLOYMENTS,
    SERVICES,
    configmap,
    deployment,
    kubectl,
    needs_kubectl,
)

SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def causes(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Invalid", 422)
    return [(c["field"], c["reason"]) for c in body["details"]["causes"]]


def test_an_invalid_name_is_answered_as_the_api_server_does(api: httpx.Client) -> None:
    response = api.post(CONFIGMAPS, json=configmap("Bad_Name"))
    body = response.json()
    assert causes(response) == [("metadata.name", "FieldValueInvalid")]
    assert body["details"]["name"] == "Bad_Name"
    assert body["details"]["kind"] == "ConfigMap"
    assert "group" not in body["details"]
    assert body["details"]["causes"][0]["message"] == f'Invalid value: "Bad_Name": {SUBDOMAIN}'
    assert body["message"] == f'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN}'
    grouped = api.post(DEPLOYMENTS, json=deployment(name="Web")).json()
    assert grouped["details"]["group"] == "apps"
    assert grouped["message"].startswith('Deployment.apps "Web" is invalid: metadata.name: Invalid value: "Web"')


@pytest.mark.parametrize(
    ("path", "name", "ok"),
    [
        (CONFIGMAPS, "a.b-c", True),  # DNS-1123 subdomain
        (CONFIGMAPS, "x" * 253, True),
        (CONFIGMAPS, "x" * 254, False),
        (CONFIGMAPS, "-a", False),
        ("/api/v1/namespaces", "team-a", True),  # namespaces: DNS-1123 label
        ("/api/v1/namespaces", "team.a", False),
        ("/api/v1/namespaces", "x" * 64, False),
        (SERVICES, "web-1", True),  # services: DNS-1035 label
        (SERVICES, "1web", False),
        (SERVICES, "web.a", False),
    ],
)
def test_names_follow_each_kinds_rule(api: httpx.Client, path: str, name: str, ok: bool) -> None:
    body: dict[str, Any] = {"metadata": {"name": name}}
    if path == SERVICES:
        body["spec"] = {"ports": [{"port": 80}]}
    response = api.post(path, json=body)
    assert response.status_code == (201 if ok else 422), response.text


def test_label_keys_and_values(api: httpx.Client) -> None:
    good = {"app": "web", "example.com/tier": "front", "a_b.c-d": "", "x": "A" * 63}
    assert api.post(CONFIGMAPS, json=configmap("good", good)).status_code == 201
    for labels in (
        {"app": "x" * 64},
        {"app": "-web"},
        {"app": "a b"},
        {"Example.com/tier": "x"},
        {"/tier": "x"},
        {"a/b/c": "x"},
        {"k" * 64: "x"},
    ):
        response = api.post(CONFIGMAPS, json=configmap("bad", labels))
        assert causes(response)[0] == ("metadata.labels", "FieldValueInvalid"), labels
    value = api.post(CONFIGMAPS, json=configmap("bad", {"app": "-web"})).json()["details"]["causes"][0]["message"]
    assert value == f'Invalid value: "-web": {LABEL_VALUE}'
    assert api.post(CONFIGMAPS, json=configmap("bad", {"app": 1})).status_code == 400  # not a string: decoding


def test_every_problem_is_a_cause(api: httpx.Client) -> None:
    body = configmap("Bad", {"app": "-x"})
    body["metadata"]["annotations"] = {"a b": "1"}
    response = api.post(CONFIGMAPS, json=body)
    assert causes(response) == [
        ("metadata.name", "FieldValueInvalid"),
        ("metadata.labels", "FieldValueInvalid"),
        ("metadata.annotations", "FieldValueInvalid"),
    ]
    assert response.json()["message"].startswith('ConfigMap "Bad" is invalid: [metadata.name: Invalid value: "Bad"')


def test_annotations_may_hold_256_kib_in_all(api: httpx.Client) -> None:
    fits = configmap("fits")
    fits["metadata"]["annotations"] = {"a": "x" * (validation.ANNOTATIONS_LIMIT - 1)}
    assert api.post(CONFIGMAPS, json=fits).status_code == 201
    over = configmap("over")
    over["metadata"]["annotations"] = {"a": "x" * validation.ANNOTATIONS_LIMIT}
    response = api.post(CONFIGMAPS, json=over)
    assert causes(response) == [("metadata.annotations", "FieldValueTooLong")]
    assert response.json()["details"]["causes"][0]["message"] == "Too long: must have at most 262144 bytes"


def test_updates_are_validated_too(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("settings"))
    patched = api.patch(
        f"{CONFIGMAPS}/settings",
        json={"metadata": {"labels": {"app": "no spaces"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert causes(patched) == [("metadata.labels", "FieldValueInvalid")]


def test_generate_name_is_cut_to_fit_and_checked(api: httpx.Client) -> None:
    created = api.post(CONFIGMAPS, json={"metadata": {"generateName": "x" * 70 + "-"}}).json()
    assert len(created["metadata"]["name"]) == 63
    bad = api.post(CONFIGMAPS, json={"metadata": {"generateName": "Bad-"}})
    assert ("metadata.generateName", "FieldValueInvalid") in causes(bad)


def test_workload_rules(api: httpx.Client) -> None:
    body = deployment(replicas=-1)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["name"] = "Web"
    container["ports"] = [{"containerPort": 0, "name": "HTTP"}]
    container["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    body["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    fields = causes(api.post(DEPLOYMENTS, json=body))
    assert fields == [
        ("spec.replicas", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].name", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].ports[0].name", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].ports[0].name", "FieldValueInvalid"),
        ("spec.template.spec.containers[0].resources.requests", "FieldValueInvalid"),
        ("spec.template.spec.restartPolicy", "FieldValueNotSupported"),
    ]
    missing = deployment()
    del missing["spec"]["template"]["spec"]["containers"][0]["image"]
    assert causes(api.post(DEPLOYMENTS, json=missing)) == [
        ("spec.template.spec.containers[0].image", "FieldValueRequired")
    ]


def test_a_quantity_that_does_not_parse_is_a_decoding_error(api: httpx.Client) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "lots"}}
    response = api.post(DEPLOYMENTS, json=body)
    assert response.status_code == 400
    assert "quantities must match the regular expression" in response.json()["message"]


def test_services_hpas_and_leases(api: httpx.Client) -> None:
    two_ports = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}, {"port": 70000, "name": "b"}]}}
    assert causes(api.post(SERVICES, json=two_ports)) == [
        ("spec.ports[0].name", "FieldValueRequired"),
        ("spec.ports[1].port", "FieldValueInvalid"),
        ("spec.ports[1].targetPort", "FieldValueInvalid"),  # defaulted to the port, then checked
    ]
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment"}, "minReplicas": 4, "maxReplicas": 2},
    }
    response = api.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", json=hpa)
    assert causes(response) == [
        ("spec.scaleTargetRef.name", "FieldValueRequired"),
        ("spec.maxReplicas", "FieldValueInvalid"),
    ]
    assert "must be greater than or equal to `minReplicas`" in response.json()["message"]
    lease = {"metadata": {"name": "lock"}, "spec": {"leaseDurationSeconds": 0}}
    leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    assert causes(api.post(leases, json=lease)) == [("spec.leaseDurationSeconds", "FieldValueInvalid")]


def test_field_selectors_name_only_fields_the_kind_supports(api: httpx.Client) -> None:
    assert (
        api.get("/api/v1/namespaces/default/pods", params={"fieldSelector": "status.phase=Running"}).status_code == 200
    )
    events = api.get("/api/v1/namespaces/default/events", params={"fieldSelector": "involvedObject.kind=Pod"})
    assert events.status_code == 200
    refused = api.get(CONFIGMAPS, params={"fieldSelector": "data.a=1"})
    assert refused.status_code == 400
    assert refused.json()["message"] == "field label not supported: data.a"


@needs_kubectl
def test_kubectl_reports_the_invalid_field(kube: KubeEmulator) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {app: -web}\n"
    error = kubectl(kube.kubeconfig, "apply", "-f", "-", stdin=manifest, ok=False)
    assert 'The ConfigMap "settings" is invalid: metadata.labels: Invalid value: "-web"' in error
