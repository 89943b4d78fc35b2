"""The ConfigMaps a color's pods read are the color's: named by content, immutable, rolled back with it.

On the emulator, through the target and through whole deployments: a new color never changes
what the live one reads, a failed deployment leaves it as it was, a rollback from a backup brings
back the settings that version ran with, and a retired color's ConfigMaps go once nothing reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.core_v1 import ConfigMap

from arxdeploy.backup.stored import StoredBackups
from arxdeploy.domain.states import Color, State
from arxdeploy.engine.run import Engine
from arxdeploy.targets.kubernetes.spec import KubeSpec, with_templates
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from tests.drive import deploy, rollback
from tests.fixtures.kube import Cluster

from .conftest import forget, kept_by, save
from .test_engine import PLAN, engine  # noqa: F401 - a fixture, on the templated target below
from .test_target import ready

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ARXDEPLOY_TEST_KUBECONFIG")), reason="the template's image exists only for the emulator"
)


ENV = "staging"
IMAGE = "registry.example/arxos:{}"
HASHED = "arxdeploy.io/content-hash"

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {service}-{color}, namespace: {namespace}, labels: {app: {service}, color: {color}}}
spec:
  replicas: {replicas}
  selector: {matchLabels: {app: {service}, color: {color}}}
  template:
    metadata: {labels: {app: {service}, color: {color}}}
    spec:
      containers:
        - name: arxos
          image: "registry.example/{service}:{version}"
          ports: [{name: http, containerPort: 8080}]
          envFrom: [{configMapRef: {name: {service}-settings}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: {service}-{color}, namespace: {namespace}}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: {service}, color: {color}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {service}-unread, namespace: {namespace}}
data: {NOTE: nobody mounts this one}
"""


def settings(level: str) -> str:
    meta = "{name: {service}-settings, namespace: {namespace}}"
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {meta}\ndata: {{LOG_LEVEL: {level}}}\n"


def spec_with(k8s_spec: KubeSpec, folder: Path, level: str) -> KubeSpec:
    """``k8s_spec`` rendering from a template folder whose settings say LOG_LEVEL=``level``."""
    where = folder / level / ENV
    where.mkdir(parents=True, exist_ok=True)
    (where / "app.yaml").write_text(APP)
    (where / "settings.yaml").write_text(settings(level))
    return with_templates(k8s_spec, folder / level)


@pytest.fixture
def target(k8s_spec: KubeSpec, tmp_path: Path, backups: StoredBackups) -> Iterator[KubernetesTarget]:
    """The engine's first target: settings at LOG_LEVEL=info."""
    with KubernetesTarget(spec=spec_with(k8s_spec, tmp_path / "k8s", "info"), kept=kept_by(backups)) as made:
        yield made


def hashed(target: KubernetesTarget) -> dict[str, dict[str, str]]:
    """Name -> data of every ConfigMap named by its content in the environment."""
    ns = target.spec.namespace_for(ENV)
    found = target.connection.client.list(ConfigMap, namespace=ns, labels={HASHED: None})
    return {c.metadata.name: dict(c.data or {}) for c in found if c.metadata and c.metadata.name}


def reads(cluster: Cluster, target: KubernetesTarget, color: Color) -> str:
    """The ConfigMap a color's pods read (its Deployment as the emulator stores it)."""
    deployment = kube_get(cluster, target, "deployments", f"arxos-{color.value}")
    (source,) = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    name: str = source["configMapRef"]["name"]
    return name


def kube_get(cluster: Cluster, target: KubernetesTarget, kind: str, name: str) -> dict[str, Any]:
    found = cluster.need_emulator().get(kind, target.spec.namespace_for(ENV), name)
    assert found is not None, f"{kind}/{name}"
    return found


def test_a_new_color_with_other_settings_leaves_the_live_ones_and_a_warm_rollback_reads_its_own(
    target: KubernetesTarget, k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster, backups: StoredBackups
) -> None:
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    info = reads(cluster, target, Color.BLUE)
    assert info.startswith("arxos-settings-") and hashed(target) == {info: {"LOG_LEVEL": "info"}}
    blue_before = kube_get(cluster, target, "deployments", "arxos-blue")

    with KubernetesTarget(spec=spec_with(k8s_spec, tmp_path / "k8s", "debug"), kept=kept_by(backups)) as debug:
        debug.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=2)
        ready(debug, Color.GREEN, "1.1")
        debug.switch(environment=ENV, color=Color.GREEN)
    changed = reads(cluster, target, Color.GREEN)
    assert changed != info
    assert hashed(target) == {info: {"LOG_LEVEL": "info"}, changed: {"LOG_LEVEL": "debug"}}
    blue_after = kube_get(cluster, target, "deployments", "arxos-blue")
    assert blue_after["spec"] == blue_before["spec"]  # not one field of the warm color was written
    assert blue_after["metadata"]["generation"] == blue_before["metadata"]["generation"]
    # nothing by the template's plain name: no settings that both colors would share
    assert kube_get(cluster, target, "configmaps", "arxos-unread")["data"] == {"NOTE": "nobody mounts this one"}
    assert cluster.need_emulator().get("configmaps", target.spec.namespace_for(ENV), "arxos-settings") is None

    # The warm rollback is the selector back: blue reads what it read, untouched all along.
    target.switch(environment=ENV, color=Color.BLUE)
    assert reads(cluster, target, Color.BLUE) == info
    assert hashed(target)[info] == {"LOG_LEVEL": "info"}


def test_a_retired_colors_configmaps_go_once_no_color_and_no_kept_backup_reads_them(
    target: KubernetesTarget, k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster, backups: StoredBackups
) -> None:
    stop = {"environment": ENV, "drain_timeout": timedelta(0)}
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    info = reads(cluster, target, Color.BLUE)
    with KubernetesTarget(spec=spec_with(k8s_spec, tmp_path / "k8s", "debug"), kept=kept_by(backups)) as debug:
        debug.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=2)
        changed = reads(cluster, target, Color.GREEN)
        assert set(hashed(target)) == {info, changed}

        # A candidate stopped before any switch (a failed deployment's clean-up): its settings go.
        debug.stop_color(color=Color.GREEN, **stop)  # type: ignore[arg-type]
        assert set(hashed(target)) == {info}
        assert (
            cluster.need_emulator().get("poddisruptionbudgets", target.spec.namespace_for(ENV), "arxos-green") is None
        )

        debug.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=2)
        ready(debug, Color.GREEN, "1.1")
        debug.switch(environment=ENV, color=Color.GREEN)
        both = save(backups, debug.export(environment=ENV))  # saves both colors

        # The old color retired: a kept backup still reads its settings, so they stay.
        debug.stop_color(color=Color.BLUE, **stop)  # type: ignore[arg-type]
        assert set(hashed(target)) == {info, changed}
        assert kube_get(cluster, target, "configmaps", "arxos-unread")  # not a color's: never collected

    forget(backups, both)  # pruned, as backup.keep does
    with KubernetesTarget(spec=spec_with(k8s_spec, tmp_path / "k8s", "warn"), kept=kept_by(backups)) as warn:
        warn.start_color(environment=ENV, color=Color.BLUE, version="1.2", replicas=2)
        ready(warn, Color.BLUE, "1.2")
        warn.switch(environment=ENV, color=Color.BLUE)
        latest = reads(cluster, target, Color.BLUE)
        warn.stop_color(color=Color.GREEN, **stop)  # type: ignore[arg-type]
    # green's settings, and info which nothing reads any more, went with this retirement
    assert hashed(target) == {latest: {"LOG_LEVEL": "warn"}}


def test_a_failed_deploy_leaves_the_live_colors_config_and_pod_template_as_they_were(
    engine: Engine,  # noqa: F811 - the fixture imported above
    target: KubernetesTarget,
    k8s_spec: KubeSpec,
    tmp_path: Path,
    cluster: Cluster,
    backups: StoredBackups,
) -> None:
    _, view = deploy(engine, plan=PLAN, version="1.0")
    assert view.state is State.SUCCEEDED, view.failure
    info = reads(cluster, target, Color.BLUE)
    blue_before = kube_get(cluster, target, "deployments", "arxos-blue")

    # the session's emulator keeps behaviours by image: a version no other test deploys
    cluster.need_emulator().set_behaviour("crashloop", image=IMAGE.format("1.1-crashes"))
    with KubernetesTarget(spec=spec_with(k8s_spec, tmp_path / "k8s", "debug"), kept=kept_by(backups)) as debug:
        _, view = deploy(replace(engine, target=debug), plan=PLAN, version="1.1-crashes")
    assert view.state is State.FAILED
    assert view.failure is not None and "CrashLoopBackOff" in str(view.failure)

    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version, list(state.colors)) == (Color.BLUE, "1.0", [Color.BLUE])
    blue_after = kube_get(cluster, target, "deployments", "arxos-blue")
    assert blue_after["spec"]["template"] == blue_before["spec"]["template"]
    assert blue_after["metadata"]["generation"] == blue_before["metadata"]["generation"]
    assert reads(cluster, target, Color.BLUE) == info
    # the live settings as they were; the failed version's went with its color at the clean-up
    assert hashed(target) == {info: {"LOG_LEVEL": "info"}}


def test_a_rollback_from_a_backup_brings_back_the_settings_that_version_ran_with(
    engine: Engine,  # noqa: F811 - the fixture imported above
    target: KubernetesTarget,
    k8s_spec: KubeSpec,
    tmp_path: Path,
    cluster: Cluster,
    backups: StoredBackups,
) -> None:
    assert deploy(engine, plan=PLAN, version="1.0")[1].state is State.SUCCEEDED
    info = reads(cluster, target, Color.BLUE)
    with KubernetesTarget(spec=spec_with(k8s_spec, tmp_path / "k8s", "debug"), kept=kept_by(backups)) as debug:
        _, view = deploy(replace(engine, target=debug), plan=PLAN, version="1.1")
    assert view.state is State.SUCCEEDED, view.failure
    changed = reads(cluster, target, Color.GREEN)
    assert list(target.inspect(environment=ENV).colors) == [Color.GREEN]  # blue retired (scale_down_delay 0)
    assert set(hashed(target)) == {info, changed}  # the backup taken before 1.1 still reads info

    # Someone deleted it meanwhile; the templates say something else again by now.
    target.connection.client.delete(ConfigMap, info, namespace=target.spec.namespace_for(ENV))
    with KubernetesTarget(spec=spec_with(k8s_spec, tmp_path / "k8s", "trace"), kept=kept_by(backups)) as trace:
        back, view = rollback(replace(engine, target=trace), plan=PLAN)
    assert view.state is State.SUCCEEDED, view.failure
    assert back.version == "1.0"
    now = target.inspect(environment=ENV)
    assert (now.live_color, now.live_version) == (Color.BLUE, "1.0")
    assert reads(cluster, target, Color.BLUE) == info  # the same name: the same content
    assert hashed(target)[info] == {"LOG_LEVEL": "info"}
    assert all(data != {"LOG_LEVEL": "trace"} for data in hashed(target).values())


def test_two_versions_with_the_same_settings_share_one_configmap_and_it_stays_while_one_reads_it(
    target: KubernetesTarget, cluster: Cluster
) -> None:
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    info = reads(cluster, target, Color.BLUE)
    before = kube_get(cluster, target, "configmaps", info)["metadata"]["resourceVersion"]

    target.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=2)  # applies it again
    assert reads(cluster, target, Color.GREEN) == info
    assert kube_get(cluster, target, "configmaps", info)["metadata"]["resourceVersion"] == before  # not written
    target.stop_color(environment=ENV, color=Color.GREEN, drain_timeout=timedelta(0))
    assert hashed(target) == {info: {"LOG_LEVEL": "info"}}  # blue still reads it
