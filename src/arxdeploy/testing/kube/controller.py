"""A small stand-in for the control plane: deployment and replicaset controllers, scheduler,
cluster autoscaler, kubelets and the HPA controller.

It runs in the emulator's event loop, wakes on every change (and on a short tick, for behaviours
that move with time) and converges, in one pass under the store's lock: Deployment -> ReplicaSet
per pod template -> Pods -> bound to a node (nodes.py) -> status (kubelet.py) -> ReplicaSet and
Deployment status -> HPAs (hpa.py). Rollouts are simplified: old ReplicaSets are scaled to zero
once the new one is fully available (``Recreate``: before the new one starts), rather than step by
step within maxSurge/maxUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from arxdeploy.testing.kube import behaviours as pod_behaviours
from arxdeploy.testing.kube import gateway, nodes
from arxdeploy.testing.kube.errors import ApiError
from arxdeploy.testing.kube.events import Recorder
from arxdeploy.testing.kube.hpa import HpaController
from arxdeploy.testing.kube.kubelet import Kubelets
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.semantics import now, qos_class
from arxdeploy.testing.kube.store import Obj, Store
from arxdeploy.testing.kube.watch import Change

DEPLOYMENTS, REPLICASETS, PODS = by_name("deployments"), by_name("replicasets"), by_name("pods")
NODES = by_name("nodes")
_REPORTED = (PODS, DEPLOYMENTS, REPLICASETS, by_name("horizontalpodautoscalers"), NODES)  # what events are about
HASH_LABEL = "pod-template-hash"
_log = logging.getLogger(__name__)
REVISION = "deployment.kubernetes.io/revision"


@dataclass
class _Progress:
    generation: int
    available: int
    since: float  # monotonic time of the last progress, for progressDeadlineSeconds
    completed: str | None = None  # the pod template hash of the last rollout that completed


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c in "bcdf2456789")[:10] or digest[:10]


def _owned_by(obj: Obj, owner: Obj) -> bool:
    return any(ref.get("uid") == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(owner: Obj) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class Controller:
    def __init__(
        self,
        store: Store,
        rules: pod_behaviours.Behaviours,
        tick: float = 0.05,
        *,
        autoscaler: nodes.Autoscaler | None = None,
        hpa_sync_period: float | None = 15.0,
        hpa_downscale_window: float = 300.0,
    ) -> None:
        self.store = store
        self.rules = rules
        self.tick = tick
        self.recorder = Recorder(store)
        self.kubelets = Kubelets(store, rules, self.recorder)
        self.autoscaler = nodes.ClusterAutoscaler(autoscaler)
        self.hpas = HpaController(
            store, self.recorder, sync_period=hpa_sync_period, downscale_window=hpa_downscale_window
        )
        self._wake = asyncio.Event()
        self._stopped = False
        self._progress: dict[str, _Progress] = {}
        self._unschedulable: dict[str, str] = {}  # pod uid -> the scheduler's last message
        store.listeners.append(self._changed)

    def _changed(self, change: Change) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopped:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopped:
                break
            async with self.store.lock:
                self.reconcile()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def reconcile(self) -> None:
        """One pass over everything; each write is skipped when nothing would change."""
        for deployment in self.store.iter_objects(DEPLOYMENTS):
            self._guard(self._deployment_replicasets, deployment)
        for replicaset in self.store.iter_objects(REPLICASETS):
            self._guard(self._replicaset_pods, replicaset)
        for spec, group in self.autoscaler.due():
            with contextlib.suppress(ApiError):  # a node of that name was made by hand meanwhile
                nodes.add_node(self.store, spec, group)
        self._schedule()
        addresses = {n["metadata"]["name"]: nodes.node_address(n) for n in self.store.iter_objects(NODES)}
        for pod in self.store.iter_objects(PODS):
            self._guard(self._kubelet, pod, addresses)
        for replicaset in self.store.iter_objects(REPLICASETS):
            self._guard(self._replicaset_status, replicaset)
        for deployment in self.store.iter_objects(DEPLOYMENTS):
            self._guard(self._deployment_status, deployment)
        for route in self.store.iter_objects(gateway.ROUTES):
            self._guard(self._route_status, route)
        for found in self.store.iter_objects(gateway.GATEWAYS):
            self._guard(self._gateway_status, found)
        try:
            self.hpas.step()
        except Exception:  # noqa: BLE001 - the HPA controller must not stop the others
            _log.exception("the simulated HPA controller failed")
        uids = {p["metadata"]["uid"] for p in self.store.iter_objects(PODS)}
        self.kubelets.forget(uids)
        self.autoscaler.forget(uids)
        self._unschedulable = {k: v for k, v in self._unschedulable.items() if k in uids}
        self.recorder.forget({o["metadata"]["uid"] for r in _REPORTED for o in self.store.iter_objects(r)})

    def _kubelet(self, pod: Obj, addresses: dict[str, str]) -> None:
        """The kubelet of the pod's node, if the pod is bound to a node that exists."""
        node = (pod.get("spec") or {}).get("nodeName")
        if node in addresses:
            self.kubelets.sync(pod, node, addresses[node])

    def _schedule(self) -> None:
        """The scheduler: bind each pending pod to a node, or say why none fits; then the autoscaler."""
        candidates = list(self.store.iter_objects(NODES))
        bound = nodes.bound_pods(self.store)
        pending: list[Obj] = []
        never_fits: set[str] = set()
        for pod in self.store.iter_objects(PODS):
            spec, status = pod.get("spec") or {}, pod.get("status") or {}
            if not spec.get("nodeName") and status.get("phase") not in {"Succeeded", "Failed"}:
                self._guard(self._place, pod, candidates, bound, pending, never_fits)
        for pod, reason, message in self.autoscaler.consider(pending, never_fits):
            self.recorder.record(pod, "Normal", reason, message, component="cluster-autoscaler")

    def _place(
        self, pod: Obj, candidates: list[Obj], bound: dict[str, list[Obj]], pending: list[Obj], never_fits: set[str]
    ) -> None:
        unfit = self.rules.for_pod(pod) == "unschedulable"
        if unfit:
            never_fits.add(pod["metadata"]["uid"])
        node, message = nodes.choose(pod, candidates, bound, never_fits=unfit)
        if node is None:
            self._unschedulable_status(pod, message)
            pending.append(pod)
        else:
            self._bind(pod, node)
            bound.setdefault(node, []).append(pod)

    def _bind(self, pod: Obj, node: str) -> None:
        meta = pod["metadata"]
        changed = copy.deepcopy(pod)
        changed["spec"]["nodeName"] = node
        bound = self.store.update(PODS, meta["namespace"], meta["name"], changed)
        self._unschedulable.pop(meta["uid"], None)
        message = f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}"
        self.recorder.record(bound, "Normal", "Scheduled", message, component="default-scheduler", action="Binding")

    def _unschedulable_status(self, pod: Obj, message: str) -> None:
        meta = pod["metadata"]
        status = copy.deepcopy(pod.get("status") or {})
        status["phase"] = "Pending"
        status.setdefault("qosClass", qos_class(pod))
        previous: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
        )
        stamp = previous.get("lastTransitionTime") if previous.get("status") == "False" else now()
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": stamp,
            "reason": "Unschedulable",
            "message": message,
        }
        others = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        status["conditions"] = [*others, condition]
        if status != pod.get("status"):
            self.store.update(PODS, meta["namespace"], meta["name"], nodes.with_status(pod, status), "status")
        if self._unschedulable.get(meta["uid"]) != message:
            self._unschedulable[meta["uid"]] = message
            self.recorder.record(
                pod, "Warning", "FailedScheduling", message, component="default-scheduler", action="Scheduling"
            )

    def _guard(self, step: Any, obj: Obj, *args: Any) -> None:
        try:
            step(obj, *args)
        except ApiError:
            pass  # deleted or changed by a client since this pass began: handled on the next one
        except Exception:  # noqa: BLE001 - one odd object must not stop the controller for all others
            _log.exception("the simulated controller failed on %s %s", obj.get("kind"), obj["metadata"].get("name"))

    def _owned(self, kind: Any, owner: Obj) -> list[Obj]:
        return [o for o in self.store.iter_objects(kind) if _owned_by(o, owner)]

    def _deployment_replicasets(self, deployment: Obj) -> None:
        meta, spec = deployment["metadata"], deployment["spec"]
        namespace, desired = meta["namespace"], spec.get("replicas", 1)
        template = spec.get("template") or {}
        pod_hash = template_hash(template)
        replicasets = self._owned(REPLICASETS, deployment)
        new = next((rs for rs in replicasets if rs["metadata"].get("labels", {}).get(HASH_LABEL) == pod_hash), None)
        old = [rs for rs in replicasets if rs is not new]
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        old_pods = sum(len(self._owned(PODS, rs)) for rs in old)
        new_replicas = 0 if recreate and old_pods else desired
        revision = 1 + max(
            (int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in replicasets), default=0
        )
        if new is None:
            new = self.store.create(
                REPLICASETS, namespace, self._new_replicaset(deployment, pod_hash, new_replicas, revision)
            )
            message = f"Scaled up replica set {new['metadata']['name']} from 0 to {new_replicas}"
            self.recorder.record(deployment, "Normal", "ScalingReplicaSet", message, component="deployment-controller")
        elif new["spec"].get("replicas") != new_replicas:
            self._set_replicas(deployment, new, new_replicas)
        done = (new.get("status") or {}).get("availableReplicas", 0) >= desired
        for replicaset in old:
            if (recreate or done) and replicaset["spec"].get("replicas") != 0:
                self._set_replicas(deployment, replicaset, 0)

    def _new_replicaset(self, deployment: Obj, pod_hash: str, replicas: int, revision: int) -> Obj:
        spec = deployment["spec"]
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{deployment['metadata']['name']}-{pod_hash}",
                "labels": template["metadata"]["labels"],
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [_owner_ref(deployment)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }

    def _set_replicas(self, deployment: Obj, obj: Obj, replicas: int) -> None:
        changed = copy.deepcopy(obj)
        before = int(obj["spec"].get("replicas", 1))
        changed["spec"]["replicas"] = replicas
        meta = obj["metadata"]
        self.store.update(REPLICASETS, meta["namespace"], meta["name"], changed)
        direction = "up" if replicas > before else "down"
        message = f"Scaled {direction} replica set {meta['name']} from {before} to {replicas}"
        self.recorder.record(deployment, "Normal", "ScalingReplicaSet", message, component="deployment-controller")

    def _replicaset_pods(self, replicaset: Obj) -> None:
        meta = replicaset["metadata"]
        pods = self._owned(PODS, replicaset)
        wanted = replicaset["spec"].get("replicas", 1)
        template = replicaset["spec"].get("template") or {}
        for _ in range(wanted - len(pods)):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "generateName": f"{meta['name']}-",
                    "labels": copy.deepcopy((template.get("metadata") or {}).get("labels") or {}),
                    "annotations": copy.deepcopy((template.get("metadata") or {}).get("annotations") or {}),
                    "ownerReferences": [_owner_ref(replicaset)],
                },
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            self.store.create(PODS, meta["namespace"], pod)
        # scale down the least useful first: not ready, then the newest
        extra = sorted(pods, key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"]))[
            : max(0, len(pods) - wanted)
        ]
        for pod in extra:
            self.store.delete(PODS, meta["namespace"], pod["metadata"]["name"])

    def _replicaset_status(self, replicaset: Obj) -> None:
        pods = self._owned(PODS, replicaset)
        ready = sum(pod_ready(p) for p in pods)
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": replicaset["metadata"].get("generation", 1),
        }
        self._write_status(REPLICASETS, replicaset, {k: v for k, v in status.items() if v or k == "replicas"})

    def _route_status(self, route: Obj) -> None:
        self._write_status(gateway.ROUTES, route, gateway.route_status(self.store, route))

    def _gateway_status(self, found: Obj) -> None:
        self._write_status(gateway.GATEWAYS, found, gateway.gateway_status(self.store, found))

    def _write_status(self, kind: Any, obj: Obj, status: dict[str, Any]) -> None:
        if status != obj.get("status"):
            changed = copy.deepcopy(obj)
            changed["status"] = status
            self.store.update(kind, obj["metadata"]["namespace"], obj["metadata"]["name"], changed, "status")

    def _deployment_status(self, deployment: Obj) -> None:
        meta, spec = deployment["metadata"], deployment["spec"]
        desired = spec.get("replicas", 1)
        pod_hash = template_hash(spec.get("template") or {})
        replicasets = self._owned(REPLICASETS, deployment)
        new = next((rs for rs in replicasets if rs["metadata"].get("labels", {}).get(HASH_LABEL) == pod_hash), None)
        pods = [p for rs in replicasets for p in self._owned(PODS, rs)]
        updated = [p for p in pods if p["metadata"].get("labels", {}).get(HASH_LABEL) == pod_hash]
        available = sum(pod_ready(p) for p in pods)
        generation = meta.get("generation", 1)
        progress = self._progress.get(meta["uid"])
        if progress is None or progress.generation != generation or available > progress.available:
            progress = _Progress(generation, available, time.monotonic(), progress.completed if progress else None)
        progress.available = available
        self._progress[meta["uid"]] = progress
        old_conditions = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
        new_name = new["metadata"]["name"] if new else meta["name"]
        complete = len(updated) == desired and len(pods) == desired and sum(pod_ready(p) for p in updated) == desired
        previous = old_conditions.get("Progressing") or {}
        # A finished rollout stays finished until the next one (a new pod template): pods failing
        # later, or a scale-up whose pods wait for a node, never make it time out. The real
        # controller estimates no progress for a complete deployment (syncRolloutStatus in
        # pkg/controller/deployment/progress.go: isCompleteDeployment, every pod of the new
        # ReplicaSet and the reason NewReplicaSetAvailable) and DeploymentTimedOut skips that reason.
        finished = (
            previous.get("reason") == "NewReplicaSetAvailable"
            and progress.completed == pod_hash
            and len(updated) == len(pods)
        )
        if complete:
            progress.completed = pod_hash
        if complete or finished:
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{new_name}" has successfully progressed.')
        elif time.monotonic() - progress.since > spec.get("progressDeadlineSeconds", 600):
            progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{new_name}" has timed out progressing.')
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{new_name}" is progressing.')
        min_available = desired - _max_unavailable(spec, desired)
        if available >= min_available:
            availability = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            availability = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        conditions = [
            _deployment_condition("Available", availability, old_conditions),
            _deployment_condition("Progressing", progressing, old_conditions),
        ]
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": len(pods),
            "updatedReplicas": len(updated),
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": max(0, len(pods) - available),
            "conditions": conditions,
        }
        status = {k: v for k, v in status.items() if v or k in {"observedGeneration", "replicas", "conditions"}}
        self._write_status(DEPLOYMENTS, deployment, status)


def _max_unavailable(spec: Obj, desired: int) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return desired
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(desired * int(value[:-1]) / 100)
    return int(value)


def _deployment_condition(kind: str, state: tuple[str, str, str], old: dict[str, Any]) -> dict[str, Any]:
    status, reason, message = state
    previous = old.get(kind) or {}
    stamp = now()
    same = previous.get("status") == status
    unchanged = same and previous.get("reason") == reason and previous.get("message") == message
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": previous.get("lastUpdateTime", stamp) if unchanged else stamp,
        "lastTransitionTime": previous.get("lastTransitionTime", stamp) if same else stamp,
        "reason": reason,
        "message": message,
    }
