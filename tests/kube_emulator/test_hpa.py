"""The HPA controller: an autoscaling/v2 HPA scales its Deployment from the CPU utilization a test sets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arxdeploy.testing.kube import KubeEmulator
from arxdeploy.testing.kube.hpa import resource_replicas
from tests.kube_emulator.conftest import DEPLOYMENTS, deployment, rollout_done, wait_for

HPAS = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"


@pytest.mark.parametrize(
    ("current", "ready", "unready", "utilization", "target", "expected"),
    [
        (2, 2, 0, 140, 70, 4),  # ceil(2 x 140/70)
        (2, 2, 0, 75, 70, 2),  # within the 10 % tolerance
        (2, 2, 0, 78, 70, 3),  # just past it: ceil(2 x 1.114)
        (4, 4, 0, 20, 80, 1),  # down: ceil(4 x 0.25)
        (3, 1, 2, 210, 70, 3),  # up with 2 pods not ready: they count as idle, 210/3 = 70: no change
        (3, 1, 2, 420, 70, 6),  # 420 x 1/3 = 140 -> ceil(2 x 3)
    ],
)
def test_the_replica_calculation(
    current: int, ready: int, unready: int, utilization: int, target: int, expected: int
) -> None:
    assert resource_replicas(current, ready, unready, utilization, target) == expected


def hpa(
    minimum: int = 2, maximum: int = 6, percent: int = 70, behavior: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": minimum,
        "maxReplicas": maximum,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
            }
        ],
    }
    if behavior is not None:
        spec["behavior"] = behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": spec,
    }


def requesting(replicas: int, cpu: str = "100m") -> dict[str, Any]:
    body = deployment(replicas=replicas)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    return body


@pytest.fixture
def fast() -> Iterator[tuple[KubeEmulator, httpx.Client]]:
    with (
        KubeEmulator(ready_delay=0.05, hpa_sync_period=0.1, hpa_downscale_stabilization=0) as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=10) as api,
    ):
        yield kube, api


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions") or [] if c["type"] == kind)


def replicas_become(api: httpx.Client, count: int) -> dict[str, Any]:
    return wait_for(api, f"{DEPLOYMENTS}/web", lambda d: d["spec"]["replicas"] == count and rollout_done(d))


def test_high_utilization_scales_up_and_low_scales_down(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = fast
    api.post(DEPLOYMENTS, json=requesting(2))
    replicas_become(api, 2)
    api.post(HPAS, json=hpa(maximum=4))  # every pod stays at what the test sets: without a cap it grows on
    kube.set_cpu_utilization("default", "web", 140)
    replicas_become(api, 4)
    status = wait_for(api, f"{HPAS}/web", lambda h: h["status"].get("currentReplicas") == 4)["status"]
    assert status["desiredReplicas"] == 4
    assert status["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": 140, "averageValue": "140m"}},
        }
    ]
    assert status["lastScaleTime"]
    rescaled = [
        e for e in api.get("/api/v1/namespaces/default/events").json()["items"] if e["reason"] == "SuccessfulRescale"
    ]
    assert (
        rescaled[0]["message"] == "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    )
    assert rescaled[0]["source"]["component"] == "horizontal-pod-autoscaler"
    assert rescaled[0]["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
    kube.set_cpu_utilization("default", "web", 10)
    replicas_become(api, 2)  # ceil(4 x 10/70) = 1, held at minReplicas
    limited = wait_for(api, f"{HPAS}/web", lambda h: condition(h, "ScalingLimited")["status"] == "True")
    assert condition(limited, "ScalingLimited")["reason"] == "TooFewReplicas"
    assert condition(limited, "ScalingActive")["reason"] == "ValidMetricFound"


def test_max_replicas_bounds_a_scale_up(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = fast
    api.post(DEPLOYMENTS, json=requesting(2))
    api.post(HPAS, json=hpa(maximum=3))
    replicas_become(api, 2)
    kube.set_cpu_utilization("default", "web", 500)
    replicas_become(api, 3)
    limited = wait_for(api, f"{HPAS}/web", lambda h: condition(h, "ScalingLimited")["reason"] == "TooManyReplicas")
    assert limited["status"]["desiredReplicas"] == 3


def test_replicas_outside_the_bounds_are_brought_back_without_metrics(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    _, api = fast
    api.post(DEPLOYMENTS, json=requesting(1))
    api.post(HPAS, json=hpa(minimum=3))
    replicas_become(api, 3)
    events = api.get("/api/v1/namespaces/default/events", params={"fieldSelector": "reason=SuccessfulRescale"}).json()
    assert events["items"][0]["message"] == "New size: 3; reason: Current number of replicas below Spec.MinReplicas"


def test_without_metrics_the_hpa_says_so_and_leaves_replicas_alone(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    _, api = fast
    api.post(DEPLOYMENTS, json=requesting(2))
    api.post(HPAS, json=hpa())
    failed = wait_for(api, f"{HPAS}/web", lambda h: bool(h.get("status", {}).get("conditions")))
    active = condition(failed, "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert "unable to fetch metrics from resource metrics API" in active["message"]
    assert failed["status"]["currentReplicas"] == 2
    warnings = api.get(
        "/api/v1/namespaces/default/events", params={"fieldSelector": "involvedObject.kind=HorizontalPodAutoscaler"}
    )
    assert {e["reason"] for e in warnings.json()["items"]} == {
        "FailedGetResourceMetric",
        "FailedComputeMetricsReplicas",
    }
    assert api.get(f"{DEPLOYMENTS}/web").json()["spec"]["replicas"] == 2


def test_pods_without_a_cpu_request_cannot_be_measured(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = fast
    api.post(DEPLOYMENTS, json=deployment(replicas=2))
    replicas_become(api, 2)
    api.post(HPAS, json=hpa())
    kube.set_cpu_utilization("default", "web", 140)
    failed = wait_for(
        api, f"{HPAS}/web", lambda h: "missing request for cpu" in condition(h, "ScalingActive").get("message", "")
    )
    assert condition(failed, "ScalingActive")["status"] == "False"
    assert api.get(f"{DEPLOYMENTS}/web").json()["spec"]["replicas"] == 2


def test_a_behavior_policy_limits_how_fast_it_scales(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = fast
    api.post(DEPLOYMENTS, json=requesting(2))
    replicas_become(api, 2)
    one_at_a_time = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 600}]}}
    api.post(HPAS, json=hpa(maximum=10, behavior=one_at_a_time))
    stored = api.get(f"{HPAS}/web").json()["spec"]["behavior"]
    assert stored["scaleUp"]["selectPolicy"] == "Max"  # defaults filled in, as the API server does
    assert stored["scaleDown"]["policies"] == [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    kube.set_cpu_utilization("default", "web", 350)
    replicas_become(api, 3)
    limited = wait_for(api, f"{HPAS}/web", lambda h: condition(h, "ScalingLimited")["reason"] == "ScaleUpLimit")
    assert limited["status"]["desiredReplicas"] == 3
    assert api.get(f"{DEPLOYMENTS}/web").json()["spec"]["replicas"] == 3


def test_the_downscale_stabilization_window_holds_replicas(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = fast
    api.post(DEPLOYMENTS, json=requesting(4))
    replicas_become(api, 4)
    api.post(HPAS, json=hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 600}}))
    kube.set_cpu_utilization("default", "web", 10)
    held = wait_for(api, f"{HPAS}/web", lambda h: condition(h, "AbleToScale")["reason"] == "ScaleDownStabilized")
    assert held["status"]["desiredReplicas"] == 4
    assert api.get(f"{DEPLOYMENTS}/web").json()["spec"]["replicas"] == 4


def test_a_missing_target_is_reported(fast: tuple[KubeEmulator, httpx.Client]) -> None:
    _, api = fast
    api.post(HPAS, json=hpa())
    failed = wait_for(api, f"{HPAS}/web", lambda h: bool(h.get("status", {}).get("conditions")))
    able = condition(failed, "AbleToScale")
    assert (able["status"], able["reason"]) == ("False", "FailedGetScale")
    assert able["message"].endswith('deployments.apps "web" not found')
