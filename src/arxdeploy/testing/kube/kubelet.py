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

    def sync(self, pod: Obj, node: str, host_ip: str) -> None:
        """Write the status of ``pod`` (bound to ``node``) if it changed, with the events it implies."""
        uid = pod["metadata"]["uid"]
        first = self._started.setdefault(uid, (time.monotonic(), datetime.now(UTC)))
        behaviour = self.rules.for_pod(pod)
        try:
            pod_behaviours.check(behaviour)
        except ValueError:
            behaviour = "never-ready"
        status = pod_behaviours.pod_status(pod, behaviour, time.monotonic() - first[0], first[1], self.rules, host_ip)
        if status != pod.get("status"):
            self._events(pod, pod.get("status") or {}, status, node)
            meta = pod["metadata"]
            self.store.update(PODS, meta["namespace"], meta["name"], with_status(pod, status), "status")

    def forget(self, uids: set[str]) -> None:
        for uid in set(self._started) - uids:
            del self._started[uid]

    def _events(self, pod: Obj, old: dict[str, Any], new: dict[str, Any], node: str) -> None:
        before = {s["name"]: s for s in old.get("containerStatuses") or []}
        for state in new.get("containerStatuses") or []:
            previous = before.get(state["name"])
            was, now = _waiting(previous) if previous else None, _waiting(state)
            image, name = state["image"], state["name"]

            def record(kind: str, reason: str, message: str, container: str = name) -> None:
                field_path = f"spec.containers{{{container}}}"
                self.recorder.record(pod, kind, reason, message, component="kubelet", host=node, field_path=field_path)

            if previous is None and now != "InvalidImageName":
                record("Normal", "Pulling", f'Pulling image "{image}"')
            if now == "InvalidImageName" and was != now:
                message = state["state"]["waiting"]["message"]
                record("Warning", "InspectFailed", message)
                record("Warning", "Failed", "Error: InvalidImageName")
            elif now == "ErrImagePull" and was != now:
                record("Warning", "Failed", f'Failed to pull image "{image}": {pod_behaviours.pull_error(image)}')
                record("Warning", "Failed", "Error: ErrImagePull")
            elif now == "ImagePullBackOff" and was != now:
                record("Normal", "BackOff", f'Back-off pulling image "{image}"')
                record("Warning", "Failed", "Error: ImagePullBackOff")
            if _ever_started(state) and not (previous is not None and _ever_started(previous)):
                if was in {"ErrImagePull", "ImagePullBackOff"}:
                    record("Normal", "Pulling", f'Pulling image "{image}"')
                pulled = (
                    f'Successfully pulled image "{image}" in 1.2s (1.2s including waiting). Image size: 12345678 bytes.'
                )
                record("Normal", "Pulled", pulled)
                record("Normal", "Created", f"Created container: {name}")
                record("Normal", "Started", f"Started container {name}")
            if now == "CrashLoopBackOff" and state.get("restartCount") != (previous or {}).get("restartCount"):
                pod_name = f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})"
                record("Warning", "BackOff", f"Back-off restarting failed container {name} in pod {pod_name}")


def _ever_started(state: dict[str, Any]) -> bool:
    return bool(state.get("started") or "running" in (state.get("state") or {}) or state.get("restartCount"))


def _waiting(state: dict[str, Any]) -> str | None:
    reason = ((state.get("state") or {}).get("waiting") or {}).get("reason")
    return str(reason) if reason else None
