"""``diff``: what ``start_color`` would change for the next color, against the emulator or a cluster.

Assertions use the version label, replicas and selectors, not the image: on a real cluster the
test image (``ARXDEPLOY_TEST_IMAGE``) may carry no ``{version}``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

from arxdeploy.domain.states import Color
from arxdeploy.errors import NotFoundError
from arxdeploy.targets.kubernetes.diff import diff, next_color
from arxdeploy.targets.kubernetes.manifests import image_for
from arxdeploy.targets.kubernetes.spec import KubeSpec, with_templates
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from tests.fixtures.kube import Cluster

from .test_manifests import TEMPLATE
from .test_target import ready, selector

ENV = "staging"
MARKERS = ("+ new object: ", "~ changed: ", "= unchanged: ")


def markers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(MARKERS)]


def section(text: str, marker: str) -> list[str]:
    """The lines under ``marker`` up to the next marker."""
    lines = text.splitlines()
    start = lines.index(marker) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(MARKERS)), len(lines))
    return lines[start:end]


@pytest.mark.parametrize(
    ("live", "expected"), [(None, Color.BLUE), (Color.BLUE, Color.GREEN), (Color.GREEN, Color.BLUE)]
)
def test_next_color_is_the_one_not_live(live: Color | None, expected: Color) -> None:
    assert next_color(live) is expected


def test_a_missing_or_empty_namespace_shows_every_object_as_new(target: KubernetesTarget) -> None:
    ns = target.spec.namespace_for(ENV)
    text = diff(target, environment=ENV, version="1.0", replicas=2)
    assert markers(text) == [
        f"+ new object: Namespace {ns}",
        "+ new object: Deployment arxos-blue",
        "+ new object: HorizontalPodAutoscaler arxos-blue",
        "+ new object: PodDisruptionBudget arxos-blue",
        "+ new object: NetworkPolicy arxos-ingress",
        "+ new object: Service arxos",
        "+ new object: Service arxos-preview",
    ]
    deployment = section(text, "+ new object: Deployment arxos-blue")
    assert deployment[:2] == [f"--- /dev/null ({ns})", "+++ new/Deployment/arxos-blue"]
    assert all(line.startswith(("+", "@@")) for line in deployment[2:])
    assert "+  replicas: 2" in deployment
    assert "+    arxdeploy.io/version: '1.0'" in deployment
    assert f"+      - image: {image_for(target.spec, '1.0')}" in deployment
    assert "+    color: none" in section(text, "+ new object: Service arxos")  # no traffic before a switch
    assert "+    color: blue" in section(text, "+ new object: Service arxos-preview")
    assert "&id" not in text and "*id" not in text  # every value spelled out, no YAML anchors

    client = target.connection.client
    assert ns not in {n.metadata.name for n in client.list(Namespace) if n.metadata}  # a diff creates nothing
    client.create(Namespace(metadata=ObjectMeta(name=ns)))
    text = diff(target, environment=ENV, version="1.0", replicas=2)
    assert markers(text)[0] == "+ new object: Deployment arxos-blue"  # the namespace exists: start_color keeps it
    assert all(m.startswith("+ new object: ") for m in markers(text))


def test_nothing_to_change_is_an_empty_string_and_replicas_show(target: KubernetesTarget) -> None:
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)

    assert diff(target, environment=ENV, version="1.0", replicas=2) == ""

    text = diff(target, environment=ENV, version="1.0", replicas=3)
    assert markers(text) == [
        "= unchanged: Service arxos (its selector is the switch's alone)",
        "~ changed: Deployment arxos-blue",
        "~ changed: HorizontalPodAutoscaler arxos-blue",
        "= unchanged: PodDisruptionBudget arxos-blue",
        "= unchanged: NetworkPolicy arxos-ingress",
        "= unchanged: Service arxos-preview",
    ]
    deployment = section(text, "~ changed: Deployment arxos-blue")
    assert deployment[:2] == ["--- live/Deployment/arxos-blue", "+++ new/Deployment/arxos-blue"]
    assert [line for line in deployment if line.startswith(("-", "+")) and line[1:2] == " "] == [
        "-  replicas: 2",
        "+  replicas: 3",
    ]
    hpa = section(text, "~ changed: HorizontalPodAutoscaler arxos-blue")
    assert {"-  minReplicas: 2", "+  minReplicas: 3"} <= set(hpa)
    assert not any("maxReplicas" in line for line in hpa if line.startswith(("-", "+")))  # the config's bound


def test_after_a_deploy_the_next_color_is_new_and_the_preview_moves(target: KubernetesTarget) -> None:
    ns = target.spec.namespace_for(ENV)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)

    text = diff(target, environment=ENV, version="1.1", replicas=2)

    assert markers(text) == [
        "= unchanged: Service arxos (its selector is the switch's alone)",
        "+ new object: Deployment arxos-green",
        "+ new object: HorizontalPodAutoscaler arxos-green",
        "+ new object: PodDisruptionBudget arxos-green",
        "= unchanged: NetworkPolicy arxos-ingress",
        "~ changed: Service arxos-preview",
    ]
    assert "+    arxdeploy.io/version: '1.1'" in section(text, "+ new object: Deployment arxos-green")
    preview = section(text, "~ changed: Service arxos-preview")
    assert [line for line in preview if line.startswith(("-", "+")) and line[1:2] == " "] == [
        "-    color: blue",
        "+    color: green",
    ]
    # a diff writes nothing: no green Deployment, the preview still on blue
    names = [d.metadata.name for d in target.connection.client.list(Deployment, namespace=ns) if d.metadata]
    assert names == ["arxos-blue"]
    assert selector(target, "arxos-preview") == {"app": "arxos", "color": "blue"}
    assert selector(target, "arxos") == {"app": "arxos", "color": "blue"}


def test_after_a_switch_the_diff_targets_the_old_color_and_shows_its_changes(
    target: KubernetesTarget, cluster: Cluster
) -> None:
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    target.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=2)
    ready(target, Color.GREEN, "1.1")
    target.switch(environment=ENV, color=Color.GREEN)

    text = diff(target, environment=ENV, version="1.1", replicas=2)

    assert markers(text) == [
        "= unchanged: Service arxos (its selector is the switch's alone)",
        "~ changed: Deployment arxos-blue",
        "~ changed: HorizontalPodAutoscaler arxos-blue",
        "~ changed: PodDisruptionBudget arxos-blue",
        "= unchanged: NetworkPolicy arxos-ingress",
        "~ changed: Service arxos-preview",
    ]
    deployment = section(text, "~ changed: Deployment arxos-blue")
    changed = [line for line in deployment if line.startswith(("-", "+")) and line[1:2] == " "]
    # the object's labels and the pod template's
    assert changed.count("-    arxdeploy.io/version: '1.0'") == 1
    assert changed.count("+    arxdeploy.io/version: '1.1'") == 1
    assert changed.count("-        arxdeploy.io/version: '1.0'") == 1
    assert changed.count("+        arxdeploy.io/version: '1.1'") == 1
    if cluster.kube is not None:  # the emulator's image carries the version
        assert f"-      - image: {image_for(target.spec, '1.0')}" in changed
        assert f"+      - image: {image_for(target.spec, '1.1')}" in changed
    assert "-  replicas: 2" not in changed
    preview = section(text, "~ changed: Service arxos-preview")
    assert {"-    color: green", "+    color: blue"} <= set(preview)


def test_a_template_folder_diffs_its_own_kinds_and_an_unknown_environment_fails_first(
    k8s_spec: KubeSpec, tmp_path: Path
) -> None:
    folder = tmp_path / "k8s" / ENV
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(TEMPLATE)
    spec = with_templates(k8s_spec, tmp_path / "k8s")
    with KubernetesTarget(spec=spec, state_dir=tmp_path / "state") as target:
        try:
            with pytest.raises(NotFoundError, match="no environment 'qa'"):
                diff(target, environment="qa", version="3.1", replicas=2)
            text = diff(target, environment=ENV, version="3.1", replicas=2)
            assert markers(text) == [
                f"+ new object: Namespace {spec.namespace_for(ENV)}",
                "+ new object: Deployment arxos-blue",
                "+ new object: ConfigMap arxos-settings",
                "+ new object: Service arxos",
                "+ new object: Service arxos-preview",
            ]
            assert "+  LOG_LEVEL: info" in section(text, "+ new object: ConfigMap arxos-settings")

            target.start_color(environment=ENV, color=Color.BLUE, version="3.1", replicas=2)
            assert diff(target, environment=ENV, version="3.1", replicas=2) == ""
        finally:  # the fixture's clean-up on a real cluster covers its own target only
            with contextlib.suppress(Exception):
                target.connection.client.delete(Namespace, spec.namespace_for(ENV))
