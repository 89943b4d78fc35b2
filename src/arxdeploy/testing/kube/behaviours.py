"""How simulated pods behave, chosen per test: by pod annotation, by image, or a default.

Behaviours: ``ready``, ``ready-after-<N>s``, ``never-ready`` (running, readiness failing),
``crashloop``, ``crashloop-after-<N>s`` (ready for N seconds, then crash-looping),
``image-pull-error`` and ``unschedulable``. Every pod first spends ``ready_delay`` seconds
creating its containers, as a real one pulls and starts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ANNOTATION = "arxdeploy.test/behaviour"
_TIMED = re.compile(r"^(ready|crashloop)-after-(\d+(?:\.\d+)?)s$")
_FIXED = {"ready", "never-ready", "crashloop", "image-pull-error", "unschedulable"}


def check(behaviour: str) -> str:
    if behaviour not in _FIXED and not _TIMED.match(behaviour):
        raise ValueError(f"unknown pod behaviour {behaviour!r}")
    return behaviour


@dataclass
class Behaviours:
    default: str = "ready"
    ready_delay: float = 0.2
    crash_period: float = 1.0  # seconds between simulated restarts of a crash-looping container
    by_image: dict[str, str] = field(default_factory=dict)

    def for_pod(self, pod: dict[str, Any]) -> str:
        annotated = (pod["metadata"].get("annotations") or {}).get(ANNOTATION)
        if annotated:
            return str(annotated)
        for container in (pod.get("spec") or {}).get("containers") or []:
            if container.get("image") in self.by_image:
                return self.by_image[container["image"]]
        return self.default


def _time(start: datetime, seconds: float) -> str:
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, ok: bool, at: str, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    condition["lastTransitionTime"] = at
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def pod_status(
    pod: dict[str, Any], behaviour: str, elapsed: float, started: datetime, rules: Behaviours
) -> dict[str, Any]:
    """The status a kubelet would report ``elapsed`` seconds after the pod was first seen.

    Timestamps derive from ``started`` so the same moment always gives the same status, and the
    controller writes only when something really changed.
    """
    containers = (pod.get("spec") or {}).get("containers") or []
    created = _time(started, 0)
    if behaviour == "unschedulable":
        message = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available."
        return {
            "phase": "Pending",
            "qosClass": "BestEffort",
            "conditions": [_condition("PodScheduled", False, created, "Unschedulable", message)],
        }
    digest = hashlib.sha256(pod["metadata"]["uid"].encode()).digest()
    status: dict[str, Any] = {
        "phase": "Pending",
        "hostIP": "10.0.0.10",
        "podIP": f"10.244.{digest[0]}.{digest[1] or 1}",
        "startTime": created,
        "qosClass": "BestEffort",
    }
    delay = rules.ready_delay
    timed = _TIMED.match(behaviour)
    ready_at = float(timed.group(2)) if timed and timed.group(1) == "ready" else delay
    crash_at = float(timed.group(2)) if timed and timed.group(1) == "crashloop" else None
    if behaviour == "crashloop":
        crash_at = delay
    states: list[dict[str, Any]] = []
    for container in containers:
        states.append(_container(container, behaviour, elapsed, started, rules, ready_at, crash_at, digest.hex()))
    status["containerStatuses"] = states
    all_ready = bool(states) and all(s["ready"] for s in states)
    running = elapsed >= delay and behaviour != "image-pull-error"
    if running:
        status["phase"] = "Running"
    ready_changed = _time(started, ready_at if all_ready else delay)
    if crash_at is not None and elapsed >= crash_at:
        ready_changed = _time(started, crash_at)
    reason = None if all_ready else "ContainersNotReady"
    unready: str | None = (
        None
        if all_ready
        else f"containers with unready status: [{' '.join(c['name'] for c in states if not c['ready'])}]"
    )
    status["conditions"] = [
        _condition("PodReadyToStartContainers", running, _time(started, delay)),
        _condition("Initialized", True, created),
        _condition("Ready", all_ready, ready_changed, reason, unready),
        _condition("ContainersReady", all_ready, ready_changed, reason, unready),
        _condition("PodScheduled", True, created),
    ]
    return status


def _container(
    container: dict[str, Any],
    behaviour: str,
    elapsed: float,
    started: datetime,
    rules: Behaviours,
    ready_at: float,
    crash_at: float | None,
    digest: str,
) -> dict[str, Any]:
    image = container.get("image", "")
    state: dict[str, Any] = {
        "name": container.get("name", ""),
        "image": image,
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
    }
    delay = rules.ready_delay
    if elapsed < delay:
        state["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return state
    if behaviour == "image-pull-error":
        reason = "ErrImagePull" if elapsed < delay + rules.crash_period else "ImagePullBackOff"
        message = (
            f'Back-off pulling image "{image}"' if reason == "ImagePullBackOff" else f"failed to pull image {image!r}"
        )
        state["state"] = {"waiting": {"reason": reason, "message": message}}
        return state
    state["imageID"] = f"{image}@sha256:{digest[:64]}"
    state["containerID"] = f"containerd://{digest[:64]}"
    if crash_at is not None and elapsed >= crash_at:
        restarts = 1 + int((elapsed - crash_at) / rules.crash_period)
        finished = _time(started, crash_at + (restarts - 1) * rules.crash_period)
        state["restartCount"] = restarts
        state["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 10s restarting failed container={state['name']}",
            }
        }
        state["lastState"] = {
            "terminated": {"exitCode": 1, "reason": "Error", "startedAt": _time(started, delay), "finishedAt": finished}
        }
        return state
    state["started"] = True
    state["state"] = {"running": {"startedAt": _time(started, delay)}}
    state["ready"] = behaviour != "never-ready" and elapsed >= ready_at
    return state
