"""How simulated pods behave, chosen per test: by pod annotation, by image, or a default.

Behaviours: ``ready``, ``ready-after-<N>s``, ``never-ready`` (running, readiness failing),
``crashloop``, ``crashloop-after-<N>s`` (ready for N seconds, then crash-looping),
``image-pull-error`` (every pull fails: ``ErrImagePull``, then ``ImagePullBackOff`` until the next
try), ``image-pull-error-once`` (the first pull fails, the one after the back-off succeeds) and
``unschedulable`` (fits no node). Every pod first spends ``ready_delay`` seconds, counted from when
it is bound to a node, creating its containers, as a real one pulls and starts. Whatever the
behaviour, a container whose image reference does not parse waits in ``InvalidImageName`` (images.py).

Failed pulls are tried again as the kubelet tries them: after a back-off that starts at
``crash_period`` and doubles after each failure, up to 30 times ``crash_period`` (the kubelet's
``imageBackOffPeriod`` of 10 s doubling up to ``MaxImageBackOff``, 300 s: k8s.io/kubernetes
pkg/kubelet/kubelet.go, used by images/image_manager.go ``EnsureImageExists``). A container shows
``ErrImagePull`` for the first half of each back-off and ``ImagePullBackOff`` for the rest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from arxdeploy.testing.kube import images
from arxdeploy.testing.kube.semantics import qos_class

ANNOTATION = "arxdeploy.test/behaviour"
_TIMED = re.compile(r"^(ready|crashloop)-after-(\d+(?:\.\d+)?)s$")
_FIXED = {"ready", "never-ready", "crashloop", "image-pull-error", "image-pull-error-once", "unschedulable"}
MAX_PULL_BACKOFF = 30  # times crash_period: MaxImageBackOff (300 s) over imageBackOffPeriod (10 s)


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
    pod: dict[str, Any], behaviour: str, elapsed: float, started: datetime, rules: Behaviours, host_ip: str
) -> dict[str, Any]:
    """The status a kubelet would report ``elapsed`` seconds after the pod was bound to its node.

    Timestamps derive from ``started`` so the same moment always gives the same status, and the
    controller writes only when something really changed.
    """
    containers = (pod.get("spec") or {}).get("containers") or []
    created = _time(started, 0)
    digest = hashlib.sha256(pod["metadata"]["uid"].encode()).digest()
    pod_ip = f"10.244.{digest[0]}.{digest[1] or 1}"
    status: dict[str, Any] = {
        "phase": "Pending",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": created,
        "qosClass": qos_class(pod),
    }
    delay = rules.ready_delay
    timed = _TIMED.match(behaviour)
    start_at = delay + rules.crash_period if behaviour == "image-pull-error-once" else delay
    ready_at = float(timed.group(2)) if timed and timed.group(1) == "ready" else start_at
    crash_at = float(timed.group(2)) if timed and timed.group(1) == "crashloop" else None
    if behaviour == "crashloop":
        crash_at = delay
    timeline = _Timeline(behaviour, elapsed, started, rules, start_at, ready_at, crash_at, digest.hex())
    states = [timeline.container(container) for container in containers]
    status["containerStatuses"] = states
    all_ready = bool(states) and all(s["ready"] for s in states)
    running = bool(states) and all(s["started"] or "running" in s["state"] or s.get("restartCount") for s in states)
    if running:
        status["phase"] = "Running"
    ready_changed = _time(started, ready_at if all_ready else start_at)
    if crash_at is not None and elapsed >= crash_at:
        ready_changed = _time(started, crash_at)
    reason = None if all_ready else "ContainersNotReady"
    unready: str | None = (
        None
        if all_ready
        else f"containers with unready status: [{' '.join(c['name'] for c in states if not c['ready'])}]"
    )
    status["conditions"] = [
        _condition("PodReadyToStartContainers", elapsed >= delay, _time(started, delay)),
        _condition("Initialized", True, created),
        _condition("Ready", all_ready, ready_changed, reason, unready),
        _condition("ContainersReady", all_ready, ready_changed, reason, unready),
        _condition("PodScheduled", True, created),
    ]
    return status


@dataclass
class _Timeline:
    behaviour: str
    elapsed: float
    started: datetime
    rules: Behaviours
    start_at: float  # when the containers start (after the pull)
    ready_at: float
    crash_at: float | None
    digest: str

    def container(self, container: dict[str, Any]) -> dict[str, Any]:
        image = container.get("image", "")
        state: dict[str, Any] = {
            "name": container.get("name", ""),
            "image": image,
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
        }
        delay, period, elapsed = self.rules.ready_delay, self.rules.crash_period, self.elapsed
        invalid = images.invalid_name_message(image)
        if invalid is not None:
            state["state"] = {"waiting": {"reason": "InvalidImageName", "message": invalid}}
            return state
        if elapsed < delay:
            state["state"] = {"waiting": {"reason": "ContainerCreating"}}
            return state
        failing = self.behaviour == "image-pull-error" or (
            self.behaviour == "image-pull-error-once" and elapsed < self.start_at
        )
        if failing:
            failed_at, backoff = _last_failure(self.behaviour, elapsed, self.rules)
            if elapsed >= failed_at + backoff / 2:
                state["state"] = {
                    "waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
                }
            else:
                state["state"] = {"waiting": {"reason": "ErrImagePull", "message": pull_error(image)}}
            return state
        state["imageID"] = f"{image}@sha256:{self.digest[:64]}"
        state["containerID"] = f"containerd://{self.digest[:64]}"
        crash_at = self.crash_at
        if crash_at is not None and elapsed >= crash_at:
            restarts = 1 + int((elapsed - crash_at) / period)
            finished = _time(self.started, crash_at + (restarts - 1) * period)
            state["restartCount"] = restarts
            state["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 10s restarting failed container={state['name']}",
                }
            }
            state["lastState"] = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": _time(self.started, self.start_at),
                    "finishedAt": finished,
                }
            }
            return state
        state["started"] = True
        state["state"] = {"running": {"startedAt": _time(self.started, self.start_at)}}
        state["ready"] = self.behaviour != "never-ready" and elapsed >= self.ready_at
        return state


def pull_failures(behaviour: str, rules: Behaviours, until: float) -> list[tuple[float, float]]:
    """When each pull of a failing behaviour fails (seconds after the pod is bound), up to
    ``until``, with the back-off that follows it: the first after ``ready_delay``, each later one
    when the back-off before it has passed."""
    if behaviour == "image-pull-error-once":
        return [(rules.ready_delay, rules.crash_period)]
    failures: list[tuple[float, float]] = []
    at, backoff = rules.ready_delay, rules.crash_period
    while at <= until or not failures:
        failures.append((at, backoff))
        at, backoff = at + backoff, min(2 * backoff, MAX_PULL_BACKOFF * rules.crash_period)
    return failures


def _last_failure(behaviour: str, elapsed: float, rules: Behaviours) -> tuple[float, float]:
    """The newest failed pull by ``elapsed`` and the back-off after it."""
    return [f for f in pull_failures(behaviour, rules, elapsed) if f[0] <= elapsed][-1]


def stages(container: dict[str, Any], behaviour: str, rules: Behaviours, until: float) -> list[tuple[float, str]]:
    """What a kubelet goes through for ``container`` and when (seconds after the pod is bound), up
    to ``until``: ``Pulling``, ``ErrImagePull``, ``ImagePullBackOff``, ``Started``,
    ``InvalidImageName``. The kubelet records each one's events once, even when no status write
    fell inside a short one."""
    if images.invalid_name_message(container.get("image", "")) is not None:
        return [(0.0, "InvalidImageName")]
    delay, period = rules.ready_delay, rules.crash_period
    if behaviour == "image-pull-error":
        out: list[tuple[float, str]] = [(0.0, "Pulling")]
        for n, (at, backoff) in enumerate(pull_failures(behaviour, rules, until)):
            if n:  # a retry: pulled again once the back-off is over, and refused at once
                out.append((at, "Pulling"))
            out += [(at, "ErrImagePull"), (at + backoff / 2, "ImagePullBackOff")]
        return [(at, stage) for at, stage in out if at <= until]
    if behaviour == "image-pull-error-once":
        failing = [(delay, "ErrImagePull"), (delay + period / 2, "ImagePullBackOff")]
        return [(0.0, "Pulling"), *failing, (delay + period, "Pulling"), (delay + period, "Started")]
    if behaviour == "unschedulable":
        return []
    return [(0.0, "Pulling"), (delay, "Started")]


def pull_error(image: str) -> str:
    """What containerd answers when a registry has no such image, as the kubelet passes it on."""
    return f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found'
