"""ConfigMap and Secret data as kube-apiserver keeps it: at most 1 MiB (``core.MaxSecretSize``,
``ValidateConfigMap``/``ValidateSecret`` in pkg/apis/core/validation/validation.go), Secret
``data`` in base64 and ``stringData`` merged into it; and metadata-only reads
(``PartialObjectMetadata``), as the API server answers ``Accept: ...;as=PartialObjectMetadataList``."""

from __future__ import annotations

import base64

import httpx

from tests.kube_emulator.conftest import CONFIGMAPS, configmap

SECRETS = "/api/v1/namespaces/default/secrets"
MIB = 1 << 20
PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def secret(name: str, **fields: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **fields}


def test_a_configmap_holds_at_most_one_mebibyte_of_data_as_the_api_server_says(api: httpx.Client) -> None:
    assert api.post(CONFIGMAPS, json=configmap("full", a="x" * (MIB - 1), b="y")).status_code == 201
    refused = api.post(CONFIGMAPS, json=configmap("over", a="x" * MIB, b="y"))
    body = refused.json()
    assert (refused.status_code, body["reason"]) == (422, "Invalid")
    # the error is on the root path, which field.Path prints as "[]"
    assert body["message"] == 'ConfigMap "over" is invalid: []: Too long: must have at most 1048576 bytes'
    assert body["details"]["causes"] == [
        {"reason": "FieldValueTooLong", "message": "Too long: must have at most 1048576 bytes", "field": "[]"}
    ]
    # multi-byte characters count as the bytes they take; an update past the limit is refused too
    assert api.post(CONFIGMAPS, json=configmap("wide", a="é" * (MIB // 2 + 1))).status_code == 422
    current = api.get(f"{CONFIGMAPS}/full").json()
    current["data"]["c"] = "z"
    assert api.put(f"{CONFIGMAPS}/full", json=current).status_code == 422


def test_binary_data_counts_decoded_and_may_not_repeat_a_data_key(api: httpx.Client) -> None:
    half = base64.b64encode(b"\0" * (MIB // 2)).decode()
    ok = dict(configmap("bin", a="x"), binaryData={"b": half})
    assert api.post(CONFIGMAPS, json=ok).status_code == 201
    over = dict(configmap("bin2", a="x" * (MIB // 2 + 1)), binaryData={"b": half})
    assert api.post(CONFIGMAPS, json=over).status_code == 422
    both = dict(configmap("bin3", a="x"), binaryData={"a": "eA=="})
    assert api.post(CONFIGMAPS, json=both).json()["details"]["causes"][0]["message"] == (
        'Invalid value: "a": duplicate of key present in binaryData'
    )


def test_a_secret_holds_at_most_one_mebibyte_decoded(api: httpx.Client) -> None:
    fits = base64.b64encode(b"k" * MIB).decode()  # 1.33 MiB of base64, 1 MiB of data
    assert api.post(SECRETS, json=secret("fits", data={"k": fits})).status_code == 201
    over = base64.b64encode(b"k" * (MIB + 1)).decode()
    body = api.post(SECRETS, json=secret("over", data={"k": over})).json()
    assert body["message"] == 'Secret "over" is invalid: data: Too long: must have at most 1048576 bytes'


def test_secret_data_must_be_base64_and_string_data_is_merged_into_it(api: httpx.Client) -> None:
    bad = api.post(SECRETS, json=secret("bad", data={"k": "not base64!"}))
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadRequest")
    assert bad.json()["message"] == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
    )
    made = api.post(SECRETS, json=secret("mixed", data={"a": "YQ==", "b": "Yg=="}, stringData={"b": "two"}))
    assert made.status_code == 201
    stored = api.get(f"{SECRETS}/mixed").json()
    assert stored["data"] == {"a": "YQ==", "b": base64.b64encode(b"two").decode()}
    assert "stringData" not in stored and stored["type"] == "Opaque"


def test_a_secrets_type_is_immutable(api: httpx.Client) -> None:
    made = api.post(SECRETS, json=secret("typed", type="arxdeploy.io/token", data={"k": "YQ=="})).json()
    changed = dict(made, type="Opaque")
    refused = api.put(f"{SECRETS}/typed", json=changed).json()
    assert refused["message"] == 'Secret "typed" is invalid: type: Invalid value: "Opaque": field is immutable'


def test_metadata_only_lists_and_gets(api: httpx.Client) -> None:
    for name in ("b", "a"):
        api.post(CONFIGMAPS, json=configmap(name, labels={"app": "web"}, big="x" * 1000))
    listed = api.get(CONFIGMAPS, params={"labelSelector": "app=web"}, headers={"Accept": PARTIAL_LIST}).json()
    assert (listed["kind"], listed["apiVersion"]) == ("PartialObjectMetadataList", "meta.k8s.io/v1")
    assert listed["metadata"]["resourceVersion"]
    assert [(i["kind"], i["apiVersion"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("PartialObjectMetadata", "meta.k8s.io/v1", "a"),
        ("PartialObjectMetadata", "meta.k8s.io/v1", "b"),
    ]
    assert all("data" not in i and i["metadata"]["labels"] == {"app": "web"} for i in listed["items"])
    one = api.get(f"{CONFIGMAPS}/a", headers={"Accept": PARTIAL}).json()
    assert (one["kind"], one["metadata"]["name"], "data" in one) == ("PartialObjectMetadata", "a", False)
    # kubectl asks for a Table first, with plain JSON after it: the emulator serves the JSON
    table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    assert api.get(f"{CONFIGMAPS}/a", headers={"Accept": table}).json()["data"] == {"big": "x" * 1000}


def test_asking_for_the_wrong_metadata_view_is_not_acceptable(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("a"))
    on_list = api.get(CONFIGMAPS, headers={"Accept": PARTIAL})
    assert (on_list.status_code, on_list.json()["reason"]) == (406, "NotAcceptable")
    on_object = api.get(f"{CONFIGMAPS}/a", headers={"Accept": PARTIAL_LIST})
    assert on_object.status_code == 406
    assert "is not a list" in on_object.json()["message"]
