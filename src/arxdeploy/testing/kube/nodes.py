"""Nodes, the scheduler that binds pods to them, and an optional cluster autoscaler that adds nodes.

The scheduler does what the default one does for the cases deployments meet: a pod fits a node
when the node is schedulable, matches the pod's ``nodeSelector``, has a pod slot left and enough
allocatable CPU, memory (and any other requested resource) for the pod's requests next to the
pods already bound there (plugins NodeUnschedulable, NodeAffinity, NodeResourcesFit). A pod that
fits nowhere stays ``Pending`` with ``PodScheduled=False`` reason ``Unschedulable`` and the
scheduler's message (k8s.io/kubernetes/pkg/scheduler/framework/types.go ``FitError.Error``:
``0/N nodes are available: <count reason, sorted>.`` then the preemption plugin's own verdict),
and a ``FailedScheduling`` event. A pod that fits is bound (``spec.nodeName``) with a
``Scheduled`` event.

The autoscaler plays cluster-autoscaler (or Karpenter): for pods the scheduler could not place
it adds one node of its template after ``delay`` seconds, up to ``max_nodes``, and says so on each
pod with ``TriggeredScaleUp``; when no node would help (the group is at its maximum, or the pod
would not fit a new node) it records ``NotTriggerScaleUp`` (kubernetes/autoscaler
cluster-autoscaler/processors/status/eventing_scale_up_processor.go; ``ScaleUpInfo.String()`` is
``{group current->new (max: max)}``).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from arxdeploy.testing.kube import quantity
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.semantics import now
from arxdeploy.testing.kube.store import Obj, Store

NODES, PODS = by_name("nodes"), by_name("pods")
GROUP_LABEL = "arxdeploy.test/node-group"
KUBELET_VERSION = "v1.32.0"
_NO_VICTIMS = "No preemption victims found for incoming pod"
_NOT_HELPFUL = "Preemption is not helpful for scheduling"


@dataclass(frozen=True)
class NodeSpec:
    """A node's allocatable resources (``status.allocatable`` = ``status.capacity`` here)."""

    name: str = "emulator-node-1"
    cpu: str = "64"
    memory: str = "256Gi"
    pods: int = 1000
    labels: tuple[tuple[str, str], ...] = ()

    def allocatable(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}


# One node that never runs out, so suites that do not care about scheduling never meet it; a test
# that does passes its own ``nodes=``.
DEFAULT_NODES = (NodeSpec(),)


@dataclass(frozen=True)
class Autoscaler:
    """A simulated cluster autoscaler: adds nodes shaped like ``template`` (named ``<group>-<n>``)
    ``delay`` seconds after a pod could not be scheduled, at most ``max_nodes`` of them in all.
    ``max_nodes=0`` is a cluster where no node will come (``NotTriggerScaleUp``)."""

    delay: float = 1.0
    template: NodeSpec = NodeSpec(name="", cpu="4", memory="16Gi", pods=110)
    max_nodes: int = 3
    group: str = "emulator-pool"


def node_object(spec: NodeSpec, address: str, group: str | None = None) -> Obj:
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **dict(spec.labels),
    }
    if group:
        labels[GROUP_LABEL] = group
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": spec.name, "labels": labels}, "spec": {}}


def node_status(spec: NodeSpec, address: str) -> dict[str, Any]:
    stamp = now()
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }
    return {
        "capacity": spec.allocatable(),
        "allocatable": spec.allocatable(),
        "conditions": [ready],
        "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": spec.name}],
        "nodeInfo": {
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "containerRuntimeVersion": "containerd://1.7.24",
            "operatingSystem": "linux",
            "architecture": "amd64",
            "osImage": "arxdeploy emulator",
            "kernelVersion": "6.1.0",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
    }


def add_node(store: Store, spec: NodeSpec, group: str | None = None) -> Obj:
    """Register a Ready node, as a kubelet does when it joins."""
    count = sum(1 for _ in store.iter_objects(NODES))
    address = f"10.0.{count // 250}.{count % 250 + 10}"
    store.create(NODES, None, node_object(spec, address, group))
    created = store.get(NODES, None, spec.name)
    created["status"] = node_status(spec, address)
    return store.update(NODES, None, spec.name, created, "status")


def node_address(node: Obj) -> str:
    for entry in (node.get("status") or {}).get("addresses") or []:
        if entry.get("type") == "InternalIP":
            return str(entry["address"])
    return ""


def _ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _requests(pod: Obj) -> dict[str, Fraction]:
    try:
        return quantity.requests(pod.get("spec") or {})
    except quantity.QuantityError:
        return {}


def _allocatable(node: Obj) -> dict[str, Fraction]:
    found: dict[str, Fraction] = {}
    for name, value in ((node.get("status") or {}).get("allocatable") or {}).items():
        try:
            found[name] = quantity.parse(value)
        except quantity.QuantityError:
            continue
    return found


def _terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in {"Succeeded", "Failed"}


def reasons(pod: Obj, node: Obj, bound: list[Obj], *, never_fits: bool = False) -> list[str]:
    """Why ``pod`` does not fit ``node`` next to the pods ``bound`` there (empty: it fits)."""
    if (node.get("spec") or {}).get("unschedulable"):
        return ["node(s) were unschedulable"]
    if not _ready(node):
        return ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return ["node(s) didn't match Pod's node affinity/selector"]
    allocatable = _allocatable(node)
    found = []
    if len(bound) + 1 > allocatable.get("pods", Fraction(110)):
        found.append("Too many pods")
    wanted = _requests(pod)
    if never_fits:
        wanted = {**wanted, "cpu": allocatable.get("cpu", Fraction(0)) + 1}
    for name, amount in sorted(wanted.items()):
        if amount <= 0:
            continue
        used = sum((_requests(other).get(name, Fraction(0)) for other in bound), Fraction(0))
        if used + amount > allocatable.get(name, Fraction(0)):
            found.append(f"Insufficient {name}")
    return found


def fit_error(per_node: dict[str, list[str]]) -> str:
    """``FitError.Error()`` plus the DefaultPreemption plugin's message."""
    if not per_node:
        return "no nodes available to schedule pods"
    total = len(per_node)
    counts = Counter(reason for found in per_node.values() for reason in found)
    text = f"0/{total} nodes are available: " + ", ".join(sorted(f"{n} {r}" for r, n in counts.items())) + "."
    resource_only = Counter(
        _NO_VICTIMS if all(r.startswith("Insufficient") or r == "Too many pods" for r in found) else _NOT_HELPFUL
        for found in per_node.values()
    )
    preemption = ", ".join(sorted(f"{n} {r}" for r, n in resource_only.items()))
    return f"{text} preemption: 0/{total} nodes are available: {preemption}."


def bound_pods(store: Store) -> dict[str, list[Obj]]:
    """Node name -> the live pods bound to it."""
    found: dict[str, list[Obj]] = {}
    for pod in store.iter_objects(PODS):
        node = (pod.get("spec") or {}).get("nodeName")
        if node and not _terminated(pod):
            found.setdefault(node, []).append(pod)
    return found


def choose(pod: Obj, nodes: list[Obj], bound: dict[str, list[Obj]], *, never_fits: bool) -> tuple[str | None, str]:
    """The node to bind ``pod`` to (the feasible one with the most CPU left, then by name), or None
    and the scheduler's message."""
    per_node = {
        n["metadata"]["name"]: reasons(pod, n, bound.get(n["metadata"]["name"], []), never_fits=never_fits)
        for n in nodes
    }
    feasible = [n for n in nodes if not per_node[n["metadata"]["name"]]]
    if not feasible:
        return None, fit_error(per_node)

    def free_cpu(node: Obj) -> Fraction:
        used = sum((_requests(p).get("cpu", Fraction(0)) for p in bound.get(node["metadata"]["name"], [])), Fraction(0))
        return _allocatable(node).get("cpu", Fraction(0)) - used

    best = sorted(feasible, key=lambda n: (-free_cpu(n), n["metadata"]["name"]))[0]
    return str(best["metadata"]["name"]), ""


@dataclass
class _Provisioning:
    name: str
    ready_at: float  # monotonic
    message: str  # the TriggeredScaleUp message of the pods it is added for
    pods: list[Obj] = field(default_factory=list)  # the pods it is added for


class ClusterAutoscaler:
    """Decides scale-ups for unschedulable pods and adds the nodes when their delay has passed."""

    def __init__(self, settings: Autoscaler | None) -> None:
        self.settings = settings
        self.added = 0
        self._provisioning: list[_Provisioning] = []
        self._verdicts: dict[str, str] = {}  # pod uid -> the message last recorded for it

    def configure(self, settings: Autoscaler | None) -> None:
        self.settings = settings
        self._verdicts.clear()

    def due(self) -> list[tuple[NodeSpec, str]]:
        """Nodes whose provisioning delay has passed: (spec, group) to register now."""
        if self.settings is None:
            return []
        ready = [p for p in self._provisioning if p.ready_at <= time.monotonic()]
        self._provisioning = [p for p in self._provisioning if p not in ready]
        return [(_named(self.settings.template, p.name), self.settings.group) for p in ready]

    def consider(self, pending: list[Obj], never_fits: set[str]) -> list[tuple[Obj, str, str]]:
        """For pods the scheduler could not place: (pod, event reason, message) to record."""
        settings = self.settings
        if settings is None:
            return []
        decisions: list[tuple[Obj, str, str]] = []
        empty = node_object(_named(settings.template, "template"), "")
        empty["status"] = node_status(settings.template, "")
        for pod in pending:
            uid = pod["metadata"]["uid"]
            if any(uid == p["metadata"]["uid"] for coming in self._provisioning for p in coming.pods):
                continue
            template_reasons = reasons(pod, empty, [], never_fits=uid in never_fits)
            if template_reasons:
                verdict = "pod didn't trigger scale-up: " + ", ".join(f"1 {r}" for r in template_reasons)
                decisions += self._once(pod, "NotTriggerScaleUp", verdict)
                continue
            coming = next((c for c in self._provisioning if not reasons(pod, empty, c.pods)), None)
            if coming is None:
                if self.added >= settings.max_nodes:
                    verdict = "pod didn't trigger scale-up: 1 max node group size reached"
                    decisions += self._once(pod, "NotTriggerScaleUp", verdict)
                    continue
                info = f"[{{{settings.group} {self.added}->{self.added + 1} (max: {settings.max_nodes})}}]"
                self.added += 1
                name = f"{settings.group}-{self.added}"
                coming = _Provisioning(name, time.monotonic() + settings.delay, f"pod triggered scale-up: {info}")
                self._provisioning.append(coming)
            coming.pods.append(pod)
            decisions += self._once(pod, "TriggeredScaleUp", coming.message)
        return decisions

    def _once(self, pod: Obj, reason: str, message: str) -> list[tuple[Obj, str, str]]:
        uid = pod["metadata"]["uid"]
        if self._verdicts.get(uid) == message:
            return []
        self._verdicts[uid] = message
        return [(pod, reason, message)]

    def forget(self, uids: set[str]) -> None:
        self._verdicts = {k: v for k, v in self._verdicts.items() if k in uids}


def _named(spec: NodeSpec, name: str) -> NodeSpec:
    return NodeSpec(name, spec.cpu, spec.memory, spec.pods, spec.labels)


def with_status(pod: Obj, status: dict[str, Any]) -> Obj:
    changed = copy.deepcopy(pod)
    changed["status"] = status
    return changed
