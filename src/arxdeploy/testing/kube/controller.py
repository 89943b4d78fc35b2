"""A small stand-in for the deployment, replicaset and kubelet controllers.

It runs in the emulator's event loop, wakes on every change (and on a short tick, for behaviours
that move with time) and converges: Deployment -> ReplicaSet per pod template -> Pods -> status.
Rollouts are simplified: old ReplicaSets are scaled to zero once the new one is fully available
(``Recreate``: before the new one starts), rather than step by step within maxSurge/maxUnavailable.
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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arxdeploy.testing.kube import behaviours as pod_behaviours
from arxdeploy.testing.kube.errors import ApiError
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.semantics import now
from arxdeploy.testing.kube.store import Obj, Store
from arxdeploy.testing.kube.watch import Change

DEPLOYMENTS, REPLICASETS, PODS = by_name("deployments"), by_name("replicasets"), by_name("pods")
EVENTS = by_name("events")
HASH_LABEL = "pod-template-hash"
_log = logging.getLogger(__name__)
REVISION = "deployment.kubernetes.io/revision"


@dataclass
class _Progress:
    generation: int
    available: int
    since: float  # monotonic time of the last progress, for progressDeadlineSeconds


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
    def __init__(self, store: Store, rules: pod_behaviours.Behaviours, tick: float = 0.05) -> None:
        self.store = store
        self.rules = rules
        self.tick = tick
        self._wake = asyncio.Event()
        self._stopped = False
        self._first_seen: dict[str, tuple[float, datetime]] = {}  # pod uid -> (monotonic, wall clock)
        self._progress: dict[str, _Progress] = {}
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

    def reconcile(self) -> None:
        """One pass over everything; each write is skipped when nothing would change."""
        for deployment in self.store.iter_objects(DEPLOYMENTS):
            self._guard(self._deployment_replicasets, deployment)
        for replicaset in self.store.iter_objects(REPLICASETS):
            self._guard(self._replicaset_pods, replicaset)
        for pod in self.store.iter_objects(PODS):
            self._guard(self._pod_status, pod)
        for replicaset in self.store.iter_objects(REPLICASETS):
            self._guard(self._replicaset_status, replicaset)
        for deployment in self.store.iter_objects(DEPLOYMENTS):
            self._guard(self._deployment_status, deployment)
        seen = {p["metadata"]["uid"] for p in self.store.iter_objects(PODS)}
        for uid in set(self._first_seen) - seen:
            del self._first_seen[uid]

    def _guard(self, step: Any, obj: Obj) -> None:
        try:
            step(obj)
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
            self._event(deployment, "Normal", "ScalingReplicaSet", message, "deployment-controller")
        elif new["spec"].get("replicas") != new_replicas:
            self._set_replicas(new, new_replicas)
        done = (new.get("status") or {}).get("availableReplicas", 0) >= desired
        for replicaset in old:
            if (recreate or done) and replicaset["spec"].get("replicas") != 0:
                self._set_replicas(replicaset, 0)

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

    def _set_replicas(self, obj: Obj, replicas: int) -> None:
        changed = copy.deepcopy(obj)
        changed["spec"]["replicas"] = replicas
        meta = obj["metadata"]
        self.store.update(REPLICASETS, meta["namespace"], meta["name"], changed)

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

    def _pod_status(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        first = self._first_seen.setdefault(uid, (time.monotonic(), datetime.now(UTC)))
        behaviour = self.rules.for_pod(pod)
        try:
            pod_behaviours.check(behaviour)
        except ValueError:
            behaviour = "never-ready"
        status = pod_behaviours.pod_status(pod, behaviour, time.monotonic() - first[0], first[1], self.rules)
        if status != pod.get("status"):
            self._pod_events(pod, pod.get("status") or {}, status)
            changed = copy.deepcopy(pod)
            changed["status"] = status
            self.store.update(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], changed, "status")

    def _pod_events(self, pod: Obj, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Warnings as the kubelet and scheduler record them, once per change of reason."""
        scheduled = {c.get("type"): c.get("reason") for c in new.get("conditions") or []}.get("PodScheduled")
        was = {c.get("type"): c.get("reason") for c in old.get("conditions") or []}.get("PodScheduled")
        if scheduled == "Unschedulable" and was != "Unschedulable":
            message = next(c.get("message", "") for c in new["conditions"] if c.get("type") == "PodScheduled")
            self._event(pod, "Warning", "FailedScheduling", message, "default-scheduler")
        before = {s["name"]: _waiting(s) for s in old.get("containerStatuses") or []}
        for state in new.get("containerStatuses") or []:
            reason = _waiting(state)
            if reason in _WARNINGS and (reason != before.get(state["name"]) or reason == "CrashLoopBackOff"):
                if reason == "CrashLoopBackOff" and state.get("restartCount") == _restarts(old, state["name"]):
                    continue
                event_reason, template = _WARNINGS[reason]
                message = template.format(container=state["name"], pod=pod["metadata"]["name"], image=state["image"])
                self._event(pod, "Warning", event_reason, message, "kubelet")

    def _event(self, obj: Obj, kind: str, reason: str, message: str, component: str) -> None:
        meta = obj["metadata"]
        stamp = now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}"},
            "involvedObject": {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": kind,
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        self.store.create(EVENTS, meta["namespace"], event)

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
            progress = _Progress(generation, available, time.monotonic())
        progress.available = available
        self._progress[meta["uid"]] = progress
        old_conditions = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
        new_name = new["metadata"]["name"] if new else meta["name"]
        complete = len(updated) == desired and len(pods) == desired and sum(pod_ready(p) for p in updated) == desired
        previous = old_conditions.get("Progressing") or {}
        # a finished rollout stays finished until the next one: pods failing later never make it
        # time out (the real controller's DeploymentTimedOut also skips NewReplicaSetAvailable)
        finished = previous.get("reason") == "NewReplicaSetAvailable" and progress.generation == (
            deployment.get("status") or {}
        ).get("observedGeneration")
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


_WARNINGS = {
    "CrashLoopBackOff": ("BackOff", "Back-off restarting failed container {container} in pod {pod}"),
    "ErrImagePull": ("Failed", 'Failed to pull image "{image}": not found'),
    "ImagePullBackOff": ("BackOff", 'Back-off pulling image "{image}"'),
}


def _waiting(state: dict[str, Any]) -> str | None:
    reason = ((state.get("state") or {}).get("waiting") or {}).get("reason")
    return str(reason) if reason else None


def _restarts(status: dict[str, Any], name: str) -> int | None:
    for state in status.get("containerStatuses") or []:
        if state.get("name") == name:
            return int(state.get("restartCount", 0))
    return None


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
