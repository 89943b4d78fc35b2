"""The horizontal pod autoscaler controller, for ``autoscaling/v2`` HPAs on a CPU utilization target.

After k8s.io/kubernetes/pkg/controller/podautoscaler:

- horizontal.go ``reconcileAutoscaler``: read the target's scale; a target at 0 replicas is left
  alone (``ScalingDisabled``); above ``maxReplicas`` or below ``minReplicas`` it is brought within
  bounds before any metric is read; otherwise the metrics decide, then ``normalizeDesiredReplicas``
  (no ``behavior``: the downscale stabilization window, and at most ``max(2 x current, 4)``) or
  ``normalizeDesiredReplicasWithBehaviors`` (stabilization windows, then the scale-up and
  scale-down policies over their periods); a change is written through the scale subresource, with
  ``SuccessfulRescale`` ``New size: N; reason: ...``; the status carries ``currentReplicas``,
  ``desiredReplicas``, ``currentMetrics``, ``lastScaleTime`` and the ``AbleToScale`` /
  ``ScalingActive`` / ``ScalingLimited`` conditions;
- replica_calculator.go ``GetResourceReplicas``: usage ratio = utilization / target; within the
  tolerance (10 %) nothing changes, else ``ceil(ratio x ready pods)``; when scaling up with pods not
  ready yet those count as using nothing, and a proposal that would reverse direction is dropped.

Utilization comes from the test (``KubeEmulator.set_cpu_utilization``), standing in for
metrics-server: every ready pod of the target uses that percentage of its CPU request. Without it
the HPA reports what a cluster without metrics-server reports (``FailedGetResourceMetric``).
An HPA is synced when it is created or changed, and every ``sync_period`` seconds (15 by default,
``--horizontal-pod-autoscaler-sync-period``). Differences: each warning event is recorded when its
condition appears, not on every sync; only CPU and memory ``Resource`` metrics have values.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from arxdeploy.testing.kube import quantity, scale
from arxdeploy.testing.kube.errors import ApiError
from arxdeploy.testing.kube.events import Recorder
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.selectors import from_label_selector_object
from arxdeploy.testing.kube.semantics import now
from arxdeploy.testing.kube.store import Obj, Store

HPAS, PODS = by_name("horizontalpodautoscalers"), by_name("pods")
_TARGETS = {("apps", "Deployment"): by_name("deployments"), ("apps", "ReplicaSet"): by_name("replicasets")}
TOLERANCE = 0.1
COMPONENT = "horizontal-pod-autoscaler"
NO_METRICS = (
    "unable to get metrics for resource {resource}: unable to fetch metrics from resource metrics API: "
    "the server could not find the requested resource (get pods.metrics.k8s.io)"
)


class MetricError(Exception):
    """A metric that gives no proposal: the condition reason, the resource and the error's text."""

    def __init__(self, reason: str, resource: str, text: str) -> None:
        super().__init__(text)
        self.reason, self.resource, self.text = reason, resource, text


def resource_replicas(current: int, ready: int, unready: int, utilization: float, target: int) -> int:
    """``GetResourceReplicas`` with every ready pod at ``utilization`` % of its request."""
    ratio = utilization / target
    if unready == 0 or ratio <= 1.0:
        if abs(1.0 - ratio) <= TOLERANCE:
            return current
        return math.ceil(ratio * ready)
    # on a scale-up, pods not ready yet count as using nothing
    new_ratio = utilization * ready / (ready + unready) / target
    if abs(1.0 - new_ratio) <= TOLERANCE or new_ratio < 1.0:
        return current
    proposal = math.ceil(new_ratio * (ready + unready))
    return current if proposal < current else proposal


@dataclass
class _Memory:
    """What the controller keeps per HPA between syncs (as its in-memory maps do)."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)
    next_sync: float = 0.0
    version: str = ""  # the HPA's resourceVersion when last synced


class HpaController:
    """Call ``step`` with the store's lock held (the controller's pass does)."""

    def __init__(self, store: Store, recorder: Recorder, *, sync_period: float | None, downscale_window: float) -> None:
        self.store = store
        self.recorder = recorder
        self.sync_period = sync_period
        self.downscale_window = downscale_window
        self.utilization: dict[tuple[str, str], dict[str, float]] = {}  # (namespace, target) -> resource -> %
        self._memory: dict[str, _Memory] = {}

    def step(self) -> None:
        if self.sync_period is None:
            return
        uids = set()
        for hpa in self.store.iter_objects(HPAS):
            uid = hpa["metadata"]["uid"]
            uids.add(uid)
            memory = self._memory.setdefault(uid, _Memory())
            changed = memory.version != hpa["metadata"]["resourceVersion"]
            if changed or time.monotonic() >= memory.next_sync:
                memory.next_sync = time.monotonic() + self.sync_period
                with contextlib.suppress(ApiError):  # changed under us: the next sync sees it
                    self._sync(hpa, memory)
                written = self.store.find(HPAS, hpa["metadata"]["namespace"], hpa["metadata"]["name"])
                memory.version = written["metadata"]["resourceVersion"] if written else ""
        for gone in set(self._memory) - uids:
            del self._memory[gone]

    def _sync(self, hpa: Obj, memory: _Memory) -> None:
        spec, namespace = hpa["spec"], hpa["metadata"]["namespace"]
        state = _State(copy.deepcopy(hpa.get("status") or {}))
        target_ref = spec.get("scaleTargetRef") or {}
        group = str(target_ref.get("apiVersion", "")).rpartition("/")[0]
        resource = _TARGETS.get((group, str(target_ref.get("kind", ""))))
        target = None
        if resource is not None:
            target = self.store.find(resource, namespace, str(target_ref.get("name", "")))
        if resource is None or target is None:
            if resource is None:
                problem = f'no matches for kind "{target_ref.get("kind")}" in group "{group}"'
            else:
                problem = f'{resource.qualified} "{target_ref.get("name")}" not found'
            message = f"the HPA controller was unable to get the target's current scale: {problem}"
            if state.condition("AbleToScale", "False", "FailedGetScale", message):
                self.recorder.record(hpa, "Warning", "FailedGetScale", problem, component=COMPONENT)
            self._write(hpa, state.body)
            return
        state.condition(
            "AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale"
        )
        current = int(target["spec"].get("replicas", 1))
        if not memory.recommendations:
            memory.recommendations.append((time.monotonic(), current))  # recordInitialRecommendation
        low, high = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
        desired, reason, rescale = 0, "", True
        metrics: list[dict[str, Any]] | None = state.body.get("currentMetrics")
        if current == 0 and low != 0:
            rescale = False
            state.condition(
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
        elif current > high:
            desired, reason = high, "Current number of replicas above Spec.MaxReplicas"
        elif current < low:
            desired, reason = low, "Current number of replicas below Spec.MinReplicas"
        else:
            try:
                proposal, metric_name, metrics = self._metrics(hpa, target, current)
            except MetricError as error:
                text = f"the HPA was unable to compute the replica count: {error.text}"
                if state.condition("ScalingActive", "False", error.reason, text):
                    self.recorder.record(hpa, "Warning", error.reason, error.text, component=COMPONENT)
                    what = error.resource
                    first = (
                        "invalid metrics (1 invalid out of 1), first error is: failed to get "
                        f"{what} resource metric value: failed to get {what} utilization: {error.text}"
                    )
                    self.recorder.record(hpa, "Warning", "FailedComputeMetricsReplicas", first, component=COMPONENT)
                state.body["currentReplicas"] = current
                state.body.pop("currentMetrics", None)
                self._write(hpa, state.body)
                return
            state.condition(
                "ScalingActive",
                "True",
                "ValidMetricFound",
                f"the HPA was able to successfully calculate a replica count from {metric_name}",
            )
            desired = proposal
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
            desired = self._normalize(hpa, memory, state, current, desired, low, high)
            rescale = desired != current
        if rescale:
            scale.write(
                self.store, _TARGETS[(group, target["kind"])], namespace, target["metadata"]["name"], desired, None
            )
            state.condition(
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )
            self.recorder.record(
                hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}", component=COMPONENT
            )
            events = memory.up_events if desired > current else memory.down_events
            events.append((time.monotonic(), abs(desired - current)))
            state.body["lastScaleTime"] = now()
        else:
            desired = current if current != 0 or low == 0 else 0
        state.body["currentReplicas"] = current
        state.body["desiredReplicas"] = desired
        if metrics is not None:
            state.body["currentMetrics"] = metrics
        self._write(hpa, state.body)

    def _metrics(self, hpa: Obj, target: Obj, current: int) -> tuple[int, str, list[dict[str, Any]]]:
        """The largest proposal over the HPA's metrics, the metric that made it, and their statuses."""
        namespace = hpa["metadata"]["namespace"]
        best, best_name, statuses = -1, "", []
        for metric in hpa["spec"].get("metrics") or []:
            source = metric.get("resource") or {}
            goal = source.get("target") or {}
            name = str(source.get("name", ""))
            if metric.get("type") != "Resource" or goal.get("type") != "Utilization":
                kind = f"FailedGet{metric.get('type', '')}Metric"
                raise MetricError(kind, name, "the emulator serves no custom or external metrics API")
            percent = self.utilization.get((namespace, target["metadata"]["name"]), {}).get(name)
            if percent is None:
                raise MetricError("FailedGetResourceMetric", name, NO_METRICS.format(resource=name))
            proposal, status = self._resource(
                namespace, target, name, percent, int(goal["averageUtilization"]), current
            )
            statuses.append(status)
            if proposal > best:
                best, best_name = proposal, f"{name} resource utilization (percentage of request)"
        return best, best_name, statuses

    def _resource(
        self, namespace: str, target: Obj, name: str, percent: float, goal: int, current: int
    ) -> tuple[int, dict[str, Any]]:
        selector = from_label_selector_object(target["spec"].get("selector"))
        pods = [
            p
            for p in self.store.select(PODS, namespace, selector)
            if (p.get("status") or {}).get("phase") != "Failed" and not p["metadata"].get("deletionTimestamp")
        ]
        if not pods:
            raise MetricError(
                "FailedGetResourceMetric", name, "no pods returned by selector while calculating replica count"
            )
        requests: list[Fraction] = []
        for pod in pods:
            total = Fraction(0)
            for container in (pod.get("spec") or {}).get("containers") or []:
                requested = ((container.get("resources") or {}).get("requests") or {}).get(name)
                if requested is None:
                    where = f"container {container.get('name')} of Pod {pod['metadata']['name']}"
                    raise MetricError("FailedGetResourceMetric", name, f"missing request for {name} in {where}")
                total += quantity.parse(requested)
            requests.append(total)
        ready = [pod_ready(p) for p in pods]
        if not any(ready):
            raise MetricError("FailedGetResourceMetric", name, "did not receive metrics for any ready pods")
        used = [
            r * Fraction(percent).limit_denominator(1000) / 100 for r, ok in zip(requests, ready, strict=True) if ok
        ]
        average = quantity.milli(sum(used, Fraction(0)) / len(used))
        proposal = resource_replicas(current, sum(ready), len(ready) - sum(ready), percent, goal)
        status = {
            "type": "Resource",
            "resource": {
                "name": name,
                "current": {"averageUtilization": int(percent), "averageValue": quantity.format_milli(average)},
            },
        }
        return proposal, status

    def _normalize(
        self, hpa: Obj, memory: _Memory, state: _State, current: int, desired: int, low: int, high: int
    ) -> int:
        at = time.monotonic()
        behavior = hpa["spec"].get("behavior")
        if behavior is None:
            # normalizeDesiredReplicas: the highest recommendation within the downscale window
            recent = [r for t, r in memory.recommendations if t >= at - self.downscale_window]
            memory.recommendations = [(t, r) for t, r in memory.recommendations if t >= at - self.downscale_window]
            memory.recommendations.append((at, desired))
            stabilized = max([desired, *recent])
            if stabilized != desired:
                state.condition(
                    "AbleToScale",
                    "True",
                    "ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation",
                )
            else:
                state.condition("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
            up_limit = max(2 * current, 4)
            if stabilized < low:
                result, why, text = (
                    low,
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                )
            elif stabilized > min(high, up_limit):
                if high > up_limit:
                    result, why, text = (
                        up_limit,
                        "ScaleUpLimit",
                        "the desired replica count is increasing faster than the maximum scale rate",
                    )
                else:
                    result, why, text = (
                        high,
                        "TooManyReplicas",
                        "the desired replica count is more than the maximum replica count",
                    )
            else:
                result, why, text = stabilized, "DesiredWithinRange", "the desired count is within the acceptable range"
            state.condition("ScalingLimited", "False" if result == stabilized else "True", why, text)
            return result
        up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
        up_window = int(up.get("stabilizationWindowSeconds", 0))
        down_window = int(down.get("stabilizationWindowSeconds", self.downscale_window))
        if desired >= current:
            window, pick, why = up_window, min, "ScaleUpStabilized"
            text = "recent recommendations were lower than current one, applying the lowest recent recommendation"
        else:
            window, pick, why = down_window, max, "ScaleDownStabilized"
            text = "recent recommendations were higher than current one, applying the highest recent recommendation"
        stabilized = desired
        for stamp, value in memory.recommendations:
            if stamp > at - window:
                stabilized = pick(value, stabilized)
        keep = max(up_window, down_window)
        memory.recommendations = [(t, r) for t, r in memory.recommendations if t >= at - keep]
        memory.recommendations.append((at, desired))
        if stabilized != desired:
            state.condition("AbleToScale", "True", why, text)
        else:
            state.condition("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
        result, why, text = stabilized, "DesiredWithinRange", "the desired count is within the acceptable range"
        if stabilized > current:
            limit = max(_up_limit(current, memory.up_events, up, at), current)
            if high > limit:
                ceiling, why_, text_ = (
                    limit,
                    "ScaleUpLimit",
                    "the desired replica count is increasing faster than the maximum scale rate",
                )
            else:
                ceiling, why_, text_ = (
                    high,
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count",
                )
            if stabilized > ceiling:
                result, why, text = ceiling, why_, text_
        elif stabilized < current:
            limit = min(_down_limit(current, memory.down_events, down, at), current)
            if low < limit:
                floor, why_, text_ = (
                    limit,
                    "ScaleDownLimit",
                    "the desired replica count is decreasing faster than the maximum scale rate",
                )
            else:
                floor, why_, text_ = (
                    low,
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                )
            if stabilized < floor:
                result, why, text = floor, why_, text_
        state.condition("ScalingLimited", "False" if result == stabilized else "True", why, text)
        return result

    def _write(self, hpa: Obj, status: dict[str, Any]) -> None:
        if status != hpa.get("status"):
            changed = copy.deepcopy(hpa)
            changed["status"] = status
            meta = hpa["metadata"]
            self.store.update(HPAS, meta["namespace"], meta["name"], changed, "status")


def _changes(events: list[tuple[float, int]], period: int, at: float) -> int:
    return sum(change for stamp, change in events if stamp > at - period)


def _up_limit(current: int, events: list[tuple[float, int]], rules: dict[str, Any], at: float) -> int:
    """``calculateScaleUpLimitWithScalingRules``."""
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    pick = min if select == "Min" else max
    result: int | None = None
    for policy in rules.get("policies") or []:
        start = current - _changes(events, int(policy["periodSeconds"]), at)
        value = int(policy["value"])
        proposed = start + value if policy["type"] == "Pods" else math.ceil(start * (1 + value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _down_limit(current: int, events: list[tuple[float, int]], rules: dict[str, Any], at: float) -> int:
    """``calculateScaleDownLimitWithBehaviors``."""
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    pick = max if select == "Min" else min
    result: int | None = None
    for policy in rules.get("policies") or []:
        start = current + _changes(events, int(policy["periodSeconds"]), at)
        value = int(policy["value"])
        proposed = start - value if policy["type"] == "Pods" else int(start * (1 - value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def pod_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return bool(status.get("phase") == "Running" and ready)


class _State:
    """The HPA's status being built; ``condition`` returns whether the condition changed."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def condition(self, kind: str, status: str, reason: str, message: str) -> bool:
        conditions: list[dict[str, Any]] = self.body.setdefault("conditions", [])
        existing = next((c for c in conditions if c.get("type") == kind), None)
        if existing is None:
            existing = {"type": kind}
            conditions.append(existing)
        changed = (existing.get("status"), existing.get("reason"), existing.get("message")) != (status, reason, message)
        if existing.get("status") != status:
            existing["lastTransitionTime"] = now()
        existing.update(status=status, reason=reason, message=message)
        return changed
