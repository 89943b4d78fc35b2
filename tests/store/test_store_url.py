"""`store_url` in the config puts the deployment record in another database, PostgreSQL included;
the Kubernetes target keeps it in the cluster unless told otherwise."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from arxdeploy.bootstrap import build
from arxdeploy.domain import events
from arxdeploy.domain.events import Deployment
from arxdeploy.domain.states import Color, State
from arxdeploy.errors import ConfigError, StoreError
from arxdeploy.testing.clock import ManualClock
from tests.fixtures.kube import Cluster, forget_namespaces, make_namespace, short_digest

CONFIG = """\
service: shared-api
store_url: "{url}"
target:
  type: local
  local:
    command: ["true"]
environments:
  staging:
    replicas: 1
"""


def record_one(config: Path) -> str:
    """Record a deployment through the wired store, as the engine would."""
    app = build(config, {})
    try:
        now = ManualClock().now()
        d = Deployment(
            id="20260101-000000-abcd",
            service="shared-api",
            environment="staging",
            version="v1",
            previous_version=None,
            new_color=Color.BLUE,
            old_color=None,
            created_at=now,
        )
        app.store.create(deployment=d, events=[events.entered(State.REQUESTED, now)])
        return app.store.get(deployment_id="20260101-000000").deployment.id
    finally:
        app.close()


def test_sqlite_url_elsewhere(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "record.db"
    config = tmp_path / "deployment_config.yaml"
    config.write_text(CONFIG.format(url=f"sqlite:///{db}"))
    assert record_one(config) == "20260101-000000-abcd"
    assert db.exists()
    assert not (tmp_path / ".arxdeploy" / "state.db").exists()


def test_a_command_that_only_reads_reads_a_sqlite_url_without_sqlalchemy(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "record.db"
    config = tmp_path / "deployment_config.yaml"
    config.write_text(CONFIG.format(url=f"sqlite:///{db}"))
    record_one(config)
    app = build(config, {}, reads_only=True)
    try:
        assert repr(app.store) == f"RedactingStore(SqliteReader({str(db)!r}))"
        assert [s.deployment.id for s in app.store.history(service="shared-api")] == ["20260101-000000-abcd"]
    finally:
        app.close()


@pytest.mark.usefixtures("postgres_server")
def test_postgresql_url(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(CONFIG.format(url=postgres_url))
    assert record_one(config) == "20260101-000000-abcd"
    app = build(config, {})
    try:
        [summary] = app.store.history(service="shared-api")
        assert summary.state is State.REQUESTED
    finally:
        app.close()


KUBERNETES = """\
service: shop
{store_url}
target:
  type: kubernetes
  kubernetes:
    kubeconfig: {kubeconfig}
    namespace: "{{service}}-{{environment}}-{digest}"
environments:
  staging:
    replicas: 1
  production:
    replicas: 1
"""


def kubernetes_config(tmp_path: Path, cluster: Cluster, request: pytest.FixtureRequest, store_url: str = "") -> Path:
    test_id = request.node.nodeid
    request.addfinalizer(lambda: forget_namespaces(cluster, test_id))
    config = tmp_path / "deployment_config.yaml"
    text = KUBERNETES.format(store_url=store_url, kubeconfig=cluster.kubeconfig, digest=short_digest(test_id))
    config.write_text(text)
    return config


def test_the_kubernetes_target_keeps_its_record_in_the_cluster_by_default(
    tmp_path: Path, cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    kube = cluster.need_emulator()
    config = kubernetes_config(tmp_path, cluster, request)
    app = build(config, {})
    try:
        assert "ClusterStore(each environment's namespace" in repr(app.store)
        now = ManualClock().now()
        d = Deployment("20260101-000000-abcd", "shop", "staging", "v1", None, Color.BLUE, None, now)
        app.store.create(deployment=d, events=[events.entered(State.REQUESTED, now)])
    finally:
        app.close()
    namespace = f"shop-staging-{short_digest(request.node.nodeid)}"
    assert [o["metadata"]["name"] for o in kube.objects("configmaps", namespace, "arxdeploy.io/record")] == [
        "arxdeploy.v1.20260101-000000-abcd"
    ]
    # the store made the namespace as the target makes it: with its Pod Security labels
    made = kube.get("namespaces", None, namespace)
    assert made is not None and made["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert not (tmp_path / ".arxdeploy" / "state.db").exists()

    reader = build(config, {}, reads_only=True)  # a command that only reads: no SQLite, no write
    try:
        assert [s.deployment.id for s in reader.store.history(service="shop")] == ["20260101-000000-abcd"]
        with pytest.raises(StoreError, match="only reads the record"):
            reader.store.create(deployment=replace(d, id="20260101-000001-abcd"), events=[])
    finally:
        reader.close()


def test_a_database_url_keeps_the_kubernetes_targets_record_there(
    tmp_path: Path, cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    db = tmp_path / "record.db"
    config = kubernetes_config(tmp_path, cluster, request, f"store_url: sqlite:///{db}")
    app = build(config, {})
    try:
        assert repr(app.store).startswith("RedactingStore(SqlStore(")
    finally:
        app.close()


def test_one_named_namespace_holds_the_whole_record(
    tmp_path: Path, cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    named = f"record-{short_digest(request.node.nodeid)}"
    make_namespace(cluster.kubeconfig, named)
    config = kubernetes_config(tmp_path, cluster, request, f"store_url: kubernetes://{named}")
    app = build(config, {})
    try:
        assert repr(app.store) == f"RedactingStore(ClusterStore({named}))"
        now = ManualClock().now()
        for environment in ("staging", "production"):
            d = Deployment(
                f"20260101-00000{len(environment)}-abcd", "shop", environment, "v1", None, Color.BLUE, None, now
            )
            app.store.create(deployment=d, events=[])
        assert {s.deployment.environment for s in app.store.history(service="shop")} == {"staging", "production"}
    finally:
        app.close()


@pytest.mark.parametrize(
    ("url", "target", "message"),
    [
        ("kubernetes://", "local", "keeps the record in a Kubernetes cluster, and this service's target is not one"),
        ("kubernetes://Not_A_Namespace", "kubernetes", "is not kubernetes://"),
        ("kubernetes://a/b", "kubernetes", "is not kubernetes://"),
    ],
)
def test_a_kubernetes_store_url_that_cannot_be_is_refused_with_its_line(
    tmp_path: Path, url: str, target: str, message: str
) -> None:
    config = tmp_path / "deployment_config.yaml"
    section = "  local:\n    command: ['true']\n" if target == "local" else "  kubernetes: {}\n"
    head = f"service: shop\nstore_url: {url}\ntarget:\n  type: {target}\n"
    config.write_text(head + section + "environments:\n  staging:\n    replicas: 1\n")
    with pytest.raises(ConfigError) as caught:
        build(config, {})
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == ("store_url", 2)
    assert message in problem.message
