"""The kubelets: the status of each pod bound to a node, and the events they record about it.

Events follow k8s.io/kubernetes/pkg/kubelet: ``Pulling`` / ``Pulled`` / ``Failed`` / ``BackOff`` /
``InspectFailed`` from images/image_manager.go, ``Created`` / ``Started`` / ``Failed``
(``Error: <reason>``) from kuberuntime/kuberuntime_container.go, ``BackOff`` for a crash loop, each
with ``involvedObject.fieldPath`` ``spec.containers{<name>}`` and ``source.host`` the node.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from arxdeploy.testing.kube import behaviours as pod_behaviours
from arxdeploy.testing.kube.events import Recorder
from arxdeploy.testing.kube.nodes import with_status
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.store import Obj, Store

PODS = by_name("pods")


class Kubelets:
    def __init__(self, store: Store, rules: pod_behaviours.Behaviours, recorder: Recorder) -> None:
        self.store = store
        self.rules = rules
        self.recorder = recorder
        self._started: dict[str, tuple[float, datetime]] = {}  # pod uid -> when bound (monotonic, wall clock)
        self._reached: dict[tuple[str, str], int] = {}  # (pod uid, container) -> stages whose events are written

    def sync(self, pod: Obj, node: str, host_ip: str) -> None:
        """Write the status of ``pod`` (bound to ``node``) if it changed, with the events it implies."""
        uid = pod["metadata"]["uid"]
        first = self._started.setdefault(uid, (time.monotonic(), datetime.now(UTC)))
        behaviour = self.rules.for_pod(pod)
        try:
            pod_behaviours.check(behaviour)
        except ValueError:
            behaviour = "never-ready"
        elapsed = time.monotonic() - first[0]
        status = pod_behaviours.pod_status(pod, behaviour, elapsed, first[1], self.rules, host_ip)
        self._stage_events(pod, behaviour, elapsed, status, node)
        if status != pod.get("status"):
            self._restart_events(pod, pod.get("status") or {}, status, node)
            meta = pod["metadata"]
            self.store.update(PODS, meta["namespace"], meta["name"], with_status(pod, status), "status")

    def forget(self, uids: set[str]) -> None:
        for uid in set(self._started) - uids:
            del self._started[uid]
        self._reached = {key: count for key, count in self._reached.items() if key[0] in uids}

    def _record(self, pod: Obj, node: str, container: str, kind: str, reason: str, message: str) -> None:
        field_path = f"spec.containers{{{container}}}"
        self.recorder.record(pod, kind, reason, message, component="kubelet", host=node, field_path=field_path)

    def _stage_events(self, pod: Obj, behaviour: str, elapsed: float, status: dict[str, Any], node: str) -> None:
        """The events of every stage each container has reached since the last sync, in order."""
        waiting = {
            s["name"]: (s.get("state") or {}).get("waiting") or {} for s in status.get("containerStatuses") or []
        }
        for container in (pod.get("spec") or {}).get("containers") or []:
            name, image = container.get("name", ""), container.get("image", "")
            key = (pod["metadata"]["uid"], name)
            reached = [stage for _, stage in pod_behaviours.stages(container, behaviour, self.rules, elapsed)]
            for stage in reached[self._reached.get(key, 0) :]:
                for kind, reason, message in _STAGE_EVENTS[stage](image, name, waiting.get(name, {})):
                    self._record(pod, node, name, kind, reason, message)
            self._reached[key] = len(reached)

    def _restart_events(self, pod: Obj, old: dict[str, Any], new: dict[str, Any], node: str) -> None:
        """A crash-looping container's ``BackOff``, each time it restarts."""
        before = {s["name"]: s for s in old.get("containerStatuses") or []}
        meta = pod["metadata"]
        for state in new.get("containerStatuses") or []:
            restarts = state.get("restartCount")
            if _waiting(state) == "CrashLoopBackOff" and restarts != (before.get(state["name"]) or {}).get(
                "restartCount"
            ):
                name = state["name"]
                pod_name = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
                message = f"Back-off restarting failed container {name} in pod {pod_name}"
                self._record(pod, node, name, "Warning", "BackOff", message)


_Events = list[tuple[str, str, str]]


def _pulling(image: str, name: str, waiting: dict[str, Any]) -> _Events:
    return [("Normal", "Pulling", f'Pulling image "{image}"')]


def _pull_failed(image: str, name: str, waiting: dict[str, Any]) -> _Events:
    failed = f'Failed to pull image "{image}": {pod_behaviours.pull_error(image)}'
    return [("Warning", "Failed", failed), ("Warning", "Failed", "Error: ErrImagePull")]


def _backing_off(image: str, name: str, waiting: dict[str, Any]) -> _Events:
    return [
        ("Normal", "BackOff", f'Back-off pulling image "{image}"'),
        ("Warning", "Failed", "Error: ImagePullBackOff"),
    ]


def _started(image: str, name: str, waiting: dict[str, Any]) -> _Events:
    pulled = f'Successfully pulled image "{image}" in 1.2s (1.2s including waiting). Image size: 12345678 bytes.'
    return [
        ("Normal", "Pulled", pulled),
        ("Normal", "Created", f"Created container: {name}"),
        ("Normal", "Started", f"Started container {name}"),
    ]


def _invalid(image: str, name: str, waiting: dict[str, Any]) -> _Events:
    message = str(waiting.get("message") or "")
    return [("Warning", "InspectFailed", message), ("Warning", "Failed", "Error: InvalidImageName")]


_STAGE_EVENTS = {
    "Pulling": _pulling,
    "ErrImagePull": _pull_failed,
    "ImagePullBackOff": _backing_off,
    "Started": _started,
    "InvalidImageName": _invalid,
}


def _waiting(state: dict[str, Any]) -> str | None:
    reason = ((state.get("state") or {}).get("waiting") or {}).get("reason")
    return str(reason) if reason else None
