"""``KubernetesTarget`` against the API emulator over real HTTPS, through lightkube.

Set ``ARXDEPLOY_TEST_KUBECONFIG`` to run against a real cluster; assertions that need the
emulator (pod behaviours, request counts, the service proxy's backend) are then skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, Secret, Service
from lightkube.types import PatchType

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError, TransientTargetError
from arxdeploy.ports import ColorState, EnvironmentState
from arxdeploy.targets.kubernetes import backup as backups
from arxdeploy.targets.kubernetes import kinds
from arxdeploy.targets.kubernetes.client import Connection, connect
from arxdeploy.targets.kubernetes.spec import KubeSpec, with_templates
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from tests.fixtures.kube import Cluster
from tests.support import wait_until

from .test_manifests import READS_CONFIG, TEMPLATE

ENV = "staging"
HPA = kinds.kind_of("HorizontalPodAutoscaler")
PDB = kinds.kind_of("PodDisruptionBudget")
IMAGE = "ghcr.io/arxos/arxos-backend:{}"


def ready(target: KubernetesTarget, color: Color, version: str, replicas: int = 2) -> EnvironmentState:
    def check() -> EnvironmentState | None:
        state = target.inspect(environment=ENV)
        own = state.colors.get(color)
        ok = own is not None and own.version == version and sum(r.running for r in own.replicas) == replicas
        return state if ok else None

    return wait_until(check, timeout=20, what=f"{replicas} ready replicas of {color.value} {version}")


def rolled_out(target: KubernetesTarget, color: Color, version: str, url: str) -> EnvironmentState:
    """Ready, and the rollout complete: every replica is then reached through its Service's ``url``.

    Pods turn Ready a moment before the Deployment's status says the rollout is complete; until
    then each replica is checked through its own pod.
    """

    def check() -> EnvironmentState | None:
        state = ready(target, color, version)
        return state if {r.url for r in state.colors[color].replicas} == {url} else None

    return wait_until(check, timeout=20, what=f"{color.value}'s replicas reached through {url}")


def selector(target: KubernetesTarget, name: str) -> dict[str, str]:
    service = target.connection.client.get(Service, name, namespace=target.spec.namespace_for(ENV))
    assert service.spec is not None
    return dict(service.spec.selector or {})


def patches(calls: Counter[str], namespace: str, name: str) -> int:
    return calls[f"PATCH /api/v1/namespaces/{namespace}/services/{name}"]


def test_first_deploy_into_an_empty_namespace(target: KubernetesTarget, cluster: Cluster, app_url: str) -> None:
    ns = target.spec.namespace_for(ENV)
    assert target.inspect(environment=ENV) == EnvironmentState(environment=ENV, live_color=None)

    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)  # idempotent

    client = target.connection.client
    assert client.get(Namespace, ns).metadata is not None
    deployment = client.get(Deployment, "arxos-blue", namespace=ns)
    assert deployment.spec is not None and deployment.spec.replicas == 2
    hpa = client.get(HPA, "arxos-blue", namespace=ns)  # untyped: the emulator omits status.desiredReplicas
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    assert selector(target, "arxos-preview") == {"app": "arxos", "color": "blue"}
    assert selector(target, "arxos") == {"app": "arxos", "color": "none"}  # no traffic before the switch

    preview = target.connection.server + f"/api/v1/namespaces/{ns}/services/arxos-preview:http/proxy"
    state = rolled_out(target, Color.BLUE, "1.0", preview)
    assert state.live_color is None
    blue = state.colors[Color.BLUE]
    assert blue.problem is None and blue.size == 2
    assert [r.index for r in blue.replicas] == [1, 2]
    assert state.preview_url == preview

    target.switch(environment=ENV, color=Color.BLUE)
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (Color.BLUE, "1.0")
    assert state.live_url == target.connection.server + f"/api/v1/namespaces/{ns}/services/arxos:http/proxy"

    if cluster.kube is not None:  # the health probe's way in: service proxy plus bearer token
        cluster.kube.register_service_backend(ns, "arxos", app_url)
        ca = target.probe_verify()
        answer = httpx.get(state.live_url + "/health", auth=target.probe_auth(), verify=ca)
        assert answer.status_code == 200
        assert httpx.get(state.live_url + "/health", verify=ca).status_code == 401  # the token is needed


def test_blue_green_second_deploy_switches_with_one_selector_patch(target: KubernetesTarget, cluster: Cluster) -> None:
    ns = target.spec.namespace_for(ENV)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)

    target.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=2)
    services = target.connection.server + f"/api/v1/namespaces/{ns}/services"
    state = rolled_out(target, Color.GREEN, "1.1", f"{services}/arxos-preview:http/proxy")
    assert (state.live_color, state.live_version) == (Color.BLUE, "1.0")  # untouched until the switch
    assert selector(target, "arxos-preview") == {"app": "arxos", "color": "green"}
    assert state.preview_url == f"{services}/arxos-preview:http/proxy"
    assert {r.url for r in state.colors[Color.BLUE].replicas} == {state.live_url}

    kube = cluster.kube
    if kube is not None:
        kube.reset_calls()
    target.switch(environment=ENV, color=Color.GREEN)
    if kube is not None:
        writes = {k: v for k, v in kube.calls.items() if not k.startswith("GET ")}
        assert writes == {f"PATCH /api/v1/namespaces/{ns}/services/arxos": 1}
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (Color.GREEN, "1.1")

    target.switch(environment=ENV, color=Color.GREEN)  # already there: no write
    if kube is not None:
        assert patches(kube.calls, ns, "arxos") == 1

    with pytest.raises(TargetError, match="green takes traffic"):
        target.stop_color(environment=ENV, color=Color.GREEN, drain_timeout=timedelta(seconds=1))
    target.stop_color(environment=ENV, color=Color.BLUE, drain_timeout=timedelta(seconds=1))
    target.stop_color(environment=ENV, color=Color.BLUE, drain_timeout=timedelta(seconds=1))  # idempotent
    state = target.inspect(environment=ENV)
    assert list(state.colors) == [Color.GREEN]
    names = [h["metadata"]["name"] for h in target.connection.client.list(HPA, namespace=ns)]
    assert names == ["arxos-green"]


def test_rollback_is_the_selector_back_and_none_means_no_endpoints(target: KubernetesTarget) -> None:
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    target.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=2)
    ready(target, Color.GREEN, "1.1")
    target.switch(environment=ENV, color=Color.GREEN)

    target.switch(environment=ENV, color=Color.BLUE)
    assert selector(target, "arxos") == {"app": "arxos", "color": "blue"}
    state = ready(target, Color.BLUE, "1.0")
    assert (state.live_color, state.live_version) == (Color.BLUE, "1.0")

    target.switch(environment=ENV, color=None)
    assert selector(target, "arxos") == {"app": "arxos", "color": "none"}
    state = target.inspect(environment=ENV)
    assert state.live_color is None and state.live_url is None
    assert set(state.colors) == {Color.BLUE, Color.GREEN}  # nothing stopped, only traffic


def test_a_live_color_whose_deployment_was_deleted_is_started_again(target: KubernetesTarget) -> None:
    # What the engine's restore does when the target lost the live version: the Service still
    # selects blue, but nothing runs there to protect.
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    target.connection.client.delete(Deployment, "arxos-blue", namespace=target.spec.namespace_for(ENV))
    assert target.inspect(environment=ENV).colors == {}

    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    state = ready(target, Color.BLUE, "1.0")
    assert (state.live_color, state.live_version) == (Color.BLUE, "1.0")


def test_export_gives_objects_without_server_fields_and_secret_names_only(target: KubernetesTarget) -> None:
    ns = target.spec.namespace_for(ENV)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    client = target.connection.client
    client.create(ConfigMap(metadata=ObjectMeta(name="arxos-settings", namespace=ns), data={"LOG_LEVEL": "info"}))
    client.create(Secret(metadata=ObjectMeta(name="arxos-db", namespace=ns), stringData={"password": "hunter2"}))

    export = target.export(environment=ENV)

    files = export.files
    assert export.facts["namespace"] == ns and export.facts["namespace_existed"] is True
    assert set(files) >= {
        "deployment-arxos-blue.yaml",
        "horizontalpodautoscaler-arxos-blue.yaml",
        "service-arxos.yaml",
        "service-arxos-preview.yaml",
        "networkpolicy-arxos-ingress.yaml",
        "configmap-arxos-settings.yaml",
        "secret-names.json",
    }
    assert not any(name.startswith("secret-arxos") for name in files)
    assert {"Deployment/arxos-blue", "Service/arxos", "ConfigMap/arxos-settings"} <= set(export.facts["objects"])
    assert export.versions == ("1.0",)
    assert json.loads(files["secret-names.json"]) == ["arxos-db"]
    assert b"hunter2" not in b"".join(files.values()) and "hunter2" not in json.dumps(dict(export.facts))

    deployment = yaml.safe_load(files["deployment-arxos-blue.yaml"])
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert "status" not in deployment
    assert not set(deployment["metadata"]) & {"uid", "resourceVersion", "creationTimestamp", "managedFields"}
    assert deployment["spec"]["replicas"] == 2
    service = yaml.safe_load(files["service-arxos.yaml"])
    assert service["spec"]["selector"] == {"app": "arxos", "color": "blue"}
    assert "clusterIP" not in service["spec"]


def test_a_restore_from_backup_recolours_the_saved_objects_and_needs_their_secrets(target: KubernetesTarget) -> None:
    ns = target.spec.namespace_for(ENV)
    client = target.connection.client
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    client.create(Secret(metadata=ObjectMeta(name="arxos-db", namespace=ns), stringData={"password": "hunter2"}))
    reads = [{"secretRef": {"name": "arxos-db"}}, {"configMapRef": {"name": "arxos-settings"}}]
    uses = {"spec": {"template": {"spec": {"containers": [{"name": "arxos", "envFrom": reads}]}}}}
    client.patch(Deployment, "arxos-blue", uses, namespace=ns, patch_type=PatchType.STRATEGIC)
    # a ConfigMap made by hand, as before arxdeploy named them by content
    client.create(ConfigMap(metadata=ObjectMeta(name="arxos-settings", namespace=ns), data={"LOG_LEVEL": "info"}))
    saved = target.export(environment=ENV)
    client.patch(ConfigMap, "arxos-settings", {"data": {"LOG_LEVEL": "debug"}}, namespace=ns)

    # 1.0 comes back on green, as it was saved: the Secret reference, and the settings it read
    # then, as a ConfigMap of its own; the one the live color reads is left as it is.
    target.start_color(environment=ENV, color=Color.GREEN, version="1.0", replicas=2, saved=saved)
    green = client.get(Deployment, "arxos-green", namespace=ns)
    assert green.spec is not None and green.spec.template.metadata is not None
    assert green.spec.selector.matchLabels == {"app": "arxos", "color": "green"}
    assert green.spec.template.metadata.labels is not None
    assert green.spec.template.metadata.labels["color"] == "green"
    assert green.spec.template.spec is not None
    secret_ref, config_ref = green.spec.template.spec.containers[0].envFrom or []
    assert secret_ref.secretRef is not None and secret_ref.secretRef.name == "arxos-db"
    assert config_ref.configMapRef is not None and config_ref.configMapRef.name is not None
    assert config_ref.configMapRef.name.startswith("arxos-settings-")
    own = client.get(ConfigMap, config_ref.configMapRef.name, namespace=ns)
    assert (own.data, own.immutable) == ({"LOG_LEVEL": "info"}, True)
    assert client.get(ConfigMap, "arxos-settings", namespace=ns).data == {"LOG_LEVEL": "debug"}
    spreads = green.spec.template.spec.topologySpreadConstraints or []
    assert spreads and all(
        c.labelSelector and c.labelSelector.matchLabels == {"app": "arxos", "color": "green"} for c in spreads
    )
    assert client.get(HPA, "arxos-green", namespace=ns)["spec"]["scaleTargetRef"]["name"] == "arxos-green"
    budget = client.get(PDB, "arxos-green", namespace=ns)
    assert budget["spec"]["selector"]["matchLabels"] == {"app": "arxos", "color": "green"}
    ready(target, Color.GREEN, "1.0")

    # Without its Secret the saved version could never start: refused, naming the Secret.
    target.stop_color(environment=ENV, color=Color.GREEN, drain_timeout=timedelta(0))
    client.delete(Secret, "arxos-db", namespace=ns)
    with pytest.raises(TargetError, match="Secret arxos-db, which no longer exists") as failed:
        target.start_color(environment=ENV, color=Color.GREEN, version="1.0", replicas=2, saved=saved)
    assert "hunter2" not in str(failed.value)

    # A version the backup did not run is rendered from the config, as a deploy would.
    target.start_color(environment=ENV, color=Color.GREEN, version="0.9", replicas=2, saved=saved)
    assert target.inspect(environment=ENV).colors[Color.GREEN].version == "0.9"


class _Interfering(Client):
    """Another writer changes the Service between our read and our patch, once."""

    def __init__(self, *args: Any, other: Client, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.other = other
        self.armed = False

    def patch(self, *args: Any, **kwargs: Any) -> Any:
        if self.armed and args[0] is Service:
            self.armed = False
            change = {"metadata": {"annotations": {"team": "payments"}}}
            self.other.patch(Service, args[1], change, namespace=kwargs["namespace"], patch_type=PatchType.MERGE)
        return super().patch(*args, **kwargs)


def test_a_stale_switch_gets_409_and_is_retried_after_reading_again(
    k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster
) -> None:
    plain = connect(kubeconfig=cluster.kubeconfig, context=None)
    single = KubeConfig.from_file(cluster.kubeconfig).get()
    interfering = _Interfering(config=single, field_manager="arxdeploy", other=plain.client)
    connection = Connection(client=interfering, server=plain.server, access=plain.access)
    with KubernetesTarget(spec=k8s_spec, state_dir=tmp_path, connection=connection) as target:
        ns = k8s_spec.namespace_for(ENV)
        target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
        ready(target, Color.BLUE, "1.0")
        if cluster.kube is not None:
            cluster.kube.reset_calls()
        interfering.armed = True

        target.switch(environment=ENV, color=Color.BLUE)
        calls = cluster.kube.calls if cluster.kube is not None else None

        assert not interfering.armed
        assert selector(target, "arxos") == {"app": "arxos", "color": "blue"}
        service = plain.client.get(Service, "arxos", namespace=ns)
        assert service.metadata is not None and service.metadata.annotations == {"team": "payments"}  # not lost
        if calls is not None:
            # theirs, our stale one (409), our retry after reading again
            assert patches(calls, ns, "arxos") == 3
            assert calls[f"GET /api/v1/namespaces/{ns}/services/arxos"] == 2
    plain.client.close()


def test_client_errors_become_target_errors(k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster) -> None:
    kube = cluster.need_emulator()
    good = connect(kubeconfig=kube.kubeconfig, context=None)
    bad_config = tmp_path / "kubeconfig"
    bad_config.write_text(kube.kubeconfig.read_text().replace(kube.token, "wrong-token"))
    wrong = connect(kubeconfig=bad_config, context=None)
    with KubernetesTarget(spec=k8s_spec, state_dir=tmp_path, connection=wrong) as target:
        with pytest.raises(TargetError, match="did not accept our credentials") as caught:
            target.inspect(environment=ENV)
        assert not isinstance(caught.value, TransientTargetError)
        assert caught.value.__cause__ is not None

    good.client.close()
    unreachable = tmp_path / "unreachable"
    unreachable.write_text(kube.kubeconfig.read_text().replace(kube.url, "https://127.0.0.1:1"))
    far = connect(kubeconfig=unreachable, context=None)
    with (
        KubernetesTarget(spec=k8s_spec, state_dir=tmp_path, connection=far) as target,
        pytest.raises(TransientTargetError, match="cannot reach the API server"),
    ):
        target.inspect(environment=ENV)

    with pytest.raises(TargetError, match=r"no context 'nope' in kubeconfig .*known: arxdeploy-emulator"):
        connect(kubeconfig=kube.kubeconfig, context="nope")


def test_a_template_folder_deploys_with_our_services(k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster) -> None:
    cluster.need_emulator()  # the template's image exists only for the emulator
    folder = tmp_path / "k8s" / ENV
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(TEMPLATE)
    spec = with_templates(k8s_spec, tmp_path / "k8s")
    with KubernetesTarget(spec=spec, state_dir=tmp_path / "state") as target:
        target.start_color(environment=ENV, color=Color.GREEN, version="3.1", replicas=2)
        ready(target, Color.GREEN, "3.1")
        target.switch(environment=ENV, color=Color.GREEN)
        state = target.inspect(environment=ENV)
        assert (state.live_color, state.live_version) == (Color.GREEN, "3.1")
        settings = target.connection.client.get(ConfigMap, "arxos-settings", namespace=spec.namespace_for(ENV))
        assert settings.data == {"LOG_LEVEL": "info"}


def test_inspect_finds_a_live_service_made_before_arxdeploy_managed_it(target: KubernetesTarget) -> None:
    from lightkube.models.core_v1 import ServicePort, ServiceSpec

    ns = target.spec.namespace_for(ENV)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    client = target.connection.client
    client.delete(Service, "arxos", namespace=ns)
    by_hand = ServiceSpec(selector={"app": "arxos", "color": "blue"}, ports=[ServicePort(port=80)])
    client.create(Service(metadata=ObjectMeta(name="arxos", namespace=ns), spec=by_hand))  # no labels
    assert target.inspect(environment=ENV).live_color is Color.BLUE


def test_each_pod_is_checked_on_the_port_our_services_target_in_it(
    k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster
) -> None:
    """A template's port named http (9090 here) is where the checks go, whatever container_port says."""
    kube = cluster.need_emulator()  # the template's image exists only for the emulator
    kube.set_behaviour("never-ready", image="registry.example/arxos:9.0-port")  # checked pod by pod
    folder = tmp_path / "k8s" / ENV
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(READS_CONFIG)
    spec = with_templates(replace(k8s_spec, container_port=8080), tmp_path / "k8s")
    with KubernetesTarget(spec=spec, state_dir=tmp_path / "state") as target:
        target.start_color(environment=ENV, color=Color.BLUE, version="9.0-port", replicas=2)

        def listed() -> ColorState | None:
            blue = target.inspect(environment=ENV).colors.get(Color.BLUE)
            return blue if blue is not None and len(blue.replicas) == 2 else None

        blue = wait_until(listed, timeout=20, what="two pods of blue")
        assert all(r.url.endswith(":9090/proxy") and "/pods/" in r.url for r in blue.replicas), blue.replicas


def test_the_secrets_a_saved_color_needs_are_named_wherever_its_pods_read_them() -> None:
    pod = {
        "volumes": [
            {"name": "a", "secret": {"secretName": "tls"}},
            {"name": "b", "projected": {"sources": [{"secret": {"name": "projected"}}, {"configMap": {"name": "x"}}]}},
            {"name": "c", "secret": {"secretName": "maybe", "optional": True}},
        ],
        "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
        "containers": [
            {
                "name": "app",
                "envFrom": [{"secretRef": {"name": "env", "optional": True}}],
                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            }
        ],
    }
    saved = {"kind": "Deployment", "spec": {"template": {"spec": pod}}}
    # an optional Secret does not keep pods from starting: a restore does not need it
    assert backups.secret_refs(saved) == {"tls", "projected", "init-env", "db"}


def test_log_tails_show_a_crash_loops_last_run_and_why_a_container_has_no_log(
    target: KubernetesTarget, cluster: Cluster
) -> None:
    kube = cluster.need_emulator()
    kube.set_behaviour("crashloop", image=IMAGE.format("2.0-crash"))
    kube.set_behaviour("image-pull-error", image=IMAGE.format("2.1-missing"))
    target.start_color(environment=ENV, color=Color.BLUE, version="2.0-crash", replicas=1)
    target.start_color(environment=ENV, color=Color.GREEN, version="2.1-missing", replicas=1)

    def settled() -> list[tuple[str, str]] | None:
        tails = target.log_tails(environment=ENV, lines=10, all_colors=True)
        return tails if len(tails) == 2 and "exiting" in tails[0][1] and "pull" in tails[1][1] else None

    (crashed, log), (waiting, why) = wait_until(settled, what="a crash and a failed pull")
    assert crashed.startswith("pod/arxos-blue-") and crashed.endswith(" container arxos (blue, 2.0-crash)")
    assert log.splitlines() == [f"starting {IMAGE.format('2.0-crash')}", "listening on :8080", "exiting with status 1"]
    assert waiting.endswith("(green, 2.1-missing)")
    assert why.startswith('(no log: container "arxos" in pod "arxos-green-') and "is waiting to start:" in why
    # Nothing is live: every color's pods, as with --all-colors.
    assert target.log_tails(environment=ENV, lines=1, all_colors=False)[0][1] == "exiting with status 1"
