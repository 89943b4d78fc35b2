"""The cluster store beyond the contract: the objects it writes, logs past one object's size, record
objects deleted by hand, writes whose answer was lost, and where it refuses to write.

On the session's emulator (tests/conftest.py ``cluster``): each test's namespaces are its own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from arxdeploy.domain.events import Event, entered, note, switched
from arxdeploy.domain.states import Color, State
from arxdeploy.errors import NotFoundError, StoreError
from arxdeploy.ports import TokenRecord
from arxdeploy.store import cluster_objects
from arxdeploy.store.cluster import ClusterStore, Placement
from arxdeploy.targets.kubernetes.rest import Objects
from arxdeploy.testing.kube import KubeEmulator
from tests.fixtures.kube import Cluster, forget_namespaces, record_store, short_digest
from tests.store.helpers import at, deployment, holder

MIB = 1 << 20
SVC = {"service": "shop", "environment": "production"}


@pytest.fixture
def kube(cluster: Cluster) -> KubeEmulator:
    return cluster.need_emulator()


@pytest.fixture
def store(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[ClusterStore]:
    with record_store(cluster.kubeconfig, request.node.nodeid) as made:
        yield made
    forget_namespaces(cluster, request.node.nodeid)


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """The production namespace of this test's store."""
    return f"shop-production-{short_digest(request.node.nodeid)}"


@pytest.fixture
def api(kube: KubeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=30) as client:
        yield client


def configmaps(kube: KubeEmulator, ns: str, selector: str = "") -> list[dict[str, Any]]:
    return kube.objects("configmaps", ns, selector)


def big(i: int, size: int) -> Event:
    return note(f"round {i} " + "x" * size, at(i))


# --- the objects ---------------------------------------------------------------------------


def test_a_deployment_is_one_configmap_with_its_summary_its_log_and_labels_to_select_it(
    store: ClusterStore, kube: KubeEmulator, ns: str
) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[entered(State.DEPLOYING, at(1))])
    store.append(deployment_id="d1a2b3c4d5e6", events=[switched(Color.GREEN, "v2", at(2)), note("fine", at(3))])

    (head,) = configmaps(kube, ns)
    assert head["metadata"]["name"] == "arxdeploy.v1.d1a2b3c4d5e6"
    assert head["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "arxdeploy",
        "arxdeploy.io/record": "deployment",
        "arxdeploy.io/service": "shop",
        "arxdeploy.io/environment": "production",
        "arxdeploy.io/deployment": "d1a2b3c4d5e6",
        "arxdeploy.io/state": "deploying",
        "arxdeploy.io/switched": "true",
    }
    summary = json.loads(head["metadata"]["annotations"]["arxdeploy.io/summary"])
    assert (summary["deployment"]["version"], summary["state"], summary["count"]) == ("v2", "deploying", 3)
    assert summary["switched"]["event"]["version"] == "v2" and summary["parts"] == []
    lines = head["data"]["events"].split("\n")
    assert [json.loads(line)["type"] for line in lines] == ["state", "switched", "note"]
    # selectable with kubectl as with the store: the unfinished deployments of an environment
    unfinished = "arxdeploy.io/service=shop,arxdeploy.io/state notin (failed,succeeded)"
    assert [o["metadata"]["name"] for o in configmaps(kube, ns, unfinished)] == ["arxdeploy.v1.d1a2b3c4d5e6"]


def test_a_long_log_is_sealed_into_immutable_parts_each_under_the_size_limit(
    store: ClusterStore, kube: KubeEmulator, ns: str
) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[entered(State.MONITORING, at(0))])
    appended = [big(i, 60_000) for i in range(1, 41)]  # 2.4 MB in all, 60 kB a batch
    for event in appended:
        store.append(deployment_id="d1a2b3c4d5e6", events=[event])

    assert store.events(deployment_id="d1a2b3c4d5e6") == [entered(State.MONITORING, at(0)), *appended]
    objects = configmaps(kube, ns, "arxdeploy.io/deployment=d1a2b3c4d5e6")
    sizes = {o["metadata"]["name"]: len(o["data"]["events"].encode()) for o in objects}
    assert len(objects) > 10 and all(size <= MIB for size in sizes.values())
    assert sizes["arxdeploy.v1.d1a2b3c4d5e6"] <= cluster_objects.HEAD_BUDGET
    parts = [o for o in objects if o["metadata"]["labels"]["arxdeploy.io/record"] == "events"]
    assert parts and all(p["immutable"] is True for p in parts)
    assert store.get(deployment_id="d1a2b3c4d5e6").updated_at == at(40)


def test_one_batch_bigger_than_an_object_goes_into_several_parts(
    store: ClusterStore, kube: KubeEmulator, ns: str
) -> None:
    batch = [big(i, 700_000) for i in range(3)]  # 2.1 MB at once
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=batch)
    store.append(deployment_id="d1a2b3c4d5e6", events=[entered(State.FAILED, at(9))])

    assert store.events(deployment_id="d1a2b3c4d5e6") == [*batch, entered(State.FAILED, at(9))]
    assert len(configmaps(kube, ns, "arxdeploy.io/record=events")) == 3


def test_an_event_bigger_than_an_object_is_refused_and_nothing_is_recorded(
    store: ClusterStore, kube: KubeEmulator, ns: str
) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[])
    with pytest.raises(StoreError, match="more than one Kubernetes object holds"):
        store.append(deployment_id="d1a2b3c4d5e6", events=[note("ok", at(1)), big(2, MIB)])

    assert store.events(deployment_id="d1a2b3c4d5e6") == []
    assert len(configmaps(kube, ns)) == 1


def test_the_lock_is_a_lease_with_its_holder_its_duration_and_its_times(
    store: ClusterStore, kube: KubeEmulator, ns: str
) -> None:
    ours = holder("dep-a", acquired=0, ttl=90)
    store.acquire_lock(**SVC, holder=ours)
    assert store.renew_lock(**SVC, holder=ours, expires_at=at(120))

    lease = kube.get("leases", ns, "arxdeploy.v1.shop.production")
    assert lease is not None
    assert lease["spec"] == {
        "holderIdentity": "ana@laptop pid 4242 (dep-a)",
        "leaseDurationSeconds": 90,
        "acquireTime": "2025-03-01T12:00:00.000000Z",
        "renewTime": "2025-03-01T12:00:30.000000Z",  # renewed so as to expire at 120 s
        "leaseTransitions": 0,
    }
    theirs = holder("dep-b", acquired=120, pid=7)
    assert store.acquire_lock(**SVC, holder=theirs) == theirs  # ours ran out at 120 s
    taken = kube.get("leases", ns, "arxdeploy.v1.shop.production")
    assert taken is not None and taken["spec"]["leaseTransitions"] == 1
    store.release_lock(**SVC, holder=theirs)
    released = kube.get("leases", ns, "arxdeploy.v1.shop.production")
    assert released is not None and released["spec"]["holderIdentity"] == ""
    assert store.lock_holder(**SVC) is None


def test_tokens_are_secrets_in_the_last_environments_namespace_without_the_token_text(
    store: ClusterStore, kube: KubeEmulator, request: pytest.FixtureRequest
) -> None:
    token = TokenRecord("a1b2c3", "ana@example.com", "0" * 64, at(1), "ops@ci-1")
    store.add_token(token=token)

    staging = f"shop-staging-{short_digest(request.node.nodeid)}"
    (secret,) = kube.objects("secrets", staging, "arxdeploy.io/record=token")
    assert (secret["type"], secret["metadata"]["labels"]["arxdeploy.io/token"]) == ("arxdeploy.io/token", "a1b2c3")
    assert json.loads(base64.b64decode(secret["data"]["token"]))["secret_sha256"] == "0" * 64
    assert store.placement.tokens == (staging, "staging")


# --- objects deleted by hand -----------------------------------------------------------------


def test_a_missing_part_of_a_log_is_reported_naming_the_object_and_what_to_do(
    store: ClusterStore, kube: KubeEmulator, api: httpx.Client, ns: str
) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[big(i, 400_000) for i in range(3)])
    (part, *_) = configmaps(kube, ns, "arxdeploy.io/record=events")
    name = part["metadata"]["name"]
    assert api.delete(f"/api/v1/namespaces/{ns}/configmaps/{name}").status_code == 200

    with pytest.raises(StoreError) as caught:
        store.events(deployment_id="d1a2b3c4d5e6")

    assert f"ConfigMap {ns}/{name}" in caught.value.message and "is missing" in caught.value.message
    assert caught.value.hint is not None
    assert f"kubectl delete configmap -n {ns} -l arxdeploy.io/deployment=d1a2b3c4d5e6" in caught.value.hint
    assert store.get(deployment_id="d1a2b3c4d5e6").state is State.REQUESTED  # the summary still reads


def test_a_head_deleted_while_its_deployment_runs_is_reported(
    store: ClusterStore, api: httpx.Client, ns: str, cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[])
    assert api.delete(f"/api/v1/namespaces/{ns}/configmaps/arxdeploy.v1.d1a2b3c4d5e6").status_code == 200

    with pytest.raises(StoreError) as caught:
        store.append(deployment_id="d1a2b3c4d5e6", events=[note("x", at(1))])

    head = f"ConfigMap {ns}/arxdeploy.v1.d1a2b3c4d5e6"
    assert caught.value.message == f"the record of deployment d1a2b3c4d5e6 ({head}) was deleted while it was in use"
    assert caught.value.hint is not None and "from a backup of the namespace" in caught.value.hint
    with record_store(cluster.kubeconfig, request.node.nodeid) as other, pytest.raises(NotFoundError):
        other.get(deployment_id="d1a2b3c4d5e6")  # another process, which never saw it: not in the record


def test_a_summary_edited_by_hand_is_reported_not_a_traceback(
    store: ClusterStore, kube: KubeEmulator, api: httpx.Client, ns: str
) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[])
    path = f"/api/v1/namespaces/{ns}/configmaps/arxdeploy.v1.d1a2b3c4d5e6"
    head = api.get(path).json()
    head["metadata"]["annotations"]["arxdeploy.io/summary"] = "{not json"
    assert api.put(path, json=head).status_code == 200

    with pytest.raises(StoreError, match=f"ConfigMap {ns}/arxdeploy.v1.d1a2b3c4d5e6 cannot be read"):
        store.history(service="shop")


# --- writes whose answer was lost --------------------------------------------------------------


def test_an_append_whose_answer_was_lost_is_recorded_once(store: ClusterStore, kube: KubeEmulator) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[entered(State.DEPLOYING, at(1))])
    kube.inject_fault(504, method="PUT", path="/configmaps/arxdeploy.v1.d1a2b3c4d5e6", after=True)

    store.append(deployment_id="d1a2b3c4d5e6", events=[note("once", at(2))])

    assert kube.pending_faults() == 0
    assert [e.type for e in store.events(deployment_id="d1a2b3c4d5e6")] == ["state", "note"]


def test_a_create_whose_answer_was_lost_is_not_taken_for_another_deployment(
    store: ClusterStore, kube: KubeEmulator
) -> None:
    kube.inject_fault(504, method="POST", path="/configmaps", after=True)

    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[entered(State.VALIDATING, at(1))])

    assert kube.pending_faults() == 0
    assert store.get(deployment_id="d1a2b3c4d5e6").state is State.VALIDATING
    with pytest.raises(StoreError, match="already exists"):  # a second create is still refused
        store.create(deployment=deployment("d1a2b3c4d5e6"), events=[])


def test_a_renewal_whose_answer_was_lost_still_counts(store: ClusterStore, kube: KubeEmulator) -> None:
    ours = holder("dep-a", acquired=0)
    store.acquire_lock(**SVC, holder=ours)
    kube.inject_fault(504, method="PUT", path="/leases/", after=True)

    assert store.renew_lock(**SVC, holder=ours, expires_at=at(500)) is True
    assert store.lock_holder(**SVC) == replace(ours, expires_at=at(500))


def test_reads_are_asked_again_after_a_server_error(store: ClusterStore, kube: KubeEmulator) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[])
    kube.inject_fault(503, times=2, method="GET", path="/configmaps")

    assert store.history(service="shop")[0].deployment.id == "d1a2b3c4d5e6"
    assert kube.pending_faults() == 0


# --- where it may write ------------------------------------------------------------------------


def test_a_read_only_store_refuses_every_write_and_sends_none(
    cluster: Cluster, kube: KubeEmulator, request: pytest.FixtureRequest
) -> None:
    with record_store(cluster.kubeconfig, request.node.nodeid, read_only=True) as reader:
        kube.reset_calls()
        with pytest.raises(StoreError, match="only reads the record"):
            reader.create(deployment=deployment("d1a2b3c4d5e6"), events=[])
        with pytest.raises(StoreError, match="only reads the record"):
            reader.acquire_lock(**SVC, holder=holder("dep-a", acquired=0))
        assert reader.history(service="shop") == []
    assert [c for c in kube.calls if not c.startswith("GET ")] == []


def test_a_named_namespace_must_exist_and_the_error_says_how_to_make_it(cluster: Cluster, tmp_path: Path) -> None:
    missing = f"record-{short_digest(str(tmp_path))}"
    placement = Placement(service="shop", environments=("production",), namespace=missing)
    objects = Objects.from_kubeconfig(kubeconfig=cluster.kubeconfig, context=None, environ={})
    with ClusterStore(objects, placement) as store, pytest.raises(StoreError) as caught:
        store.create(deployment=deployment("d1a2b3c4d5e6"), events=[])
    assert caught.value.message == f"namespace {missing}, where the record lives, does not exist"
    assert caught.value.hint is not None and f"kubectl create namespace {missing}" in caught.value.hint
