"""``GET /api/v1/namespaces/{ns}/pods/{name}/log``: what a simulated container printed.

The API server picks the container (k8s.io/kubernetes pkg/registry/core/pod/strategy.go
``LogLocation``): the one named by ``container``, else the pod's only container; several without a
name, or a name the pod does not have, is ``400 BadRequest``. A pod not bound to a node has no
kubelet to ask: an empty answer. The kubelet then picks the container instance from the status
(pkg/kubelet/kubelet_pods.go ``validateContainerLogStatus``): with ``previous`` the last terminated
one; else the running one, or the last terminated one while it waits to restart (a crash loop);
a container that never ran is ``400`` "is waiting to start: <reason>" (``image can't be pulled``
for ``ErrImagePull``, ``trying and failing to pull image`` for ``ImagePullBackOff``).

What a container "prints" follows from its status, one line per stage, so the same moment always
gives the same log: ``starting <image>`` and ``listening on :<port>`` (each declared port) when it
starts, ``ready`` when the pod became Ready, ``exiting with status <code>`` when it ended.
``tailLines`` keeps the last lines, ``timestamps`` prefixes each with its RFC 3339 time.
"""

from __future__ import annotations

from typing import Any

from arxdeploy.testing.kube.errors import ApiError


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def container_name(pod: dict[str, Any], container: str | None) -> str:
    """The container ``LogLocation`` reads: ``container`` if the pod has it, else its only one."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    containers = [c.get("name", "") for c in spec.get("containers") or []]
    init = [c.get("name", "") for c in spec.get("initContainers") or []]
    if container:
        if container not in (*containers, *init):
            raise _bad(f"container {container} is not valid for pod {name}")
        return container
    if len(containers) == 1:
        return str(containers[0])
    if not containers:
        raise _bad(f"a container name must be specified for pod {name}")
    text = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if init:
        text += f" or one of the init containers: [{' '.join(init)}]"
    raise _bad(text)


def log_text(pod: dict[str, Any], query: dict[str, str]) -> str:
    """The body of the log request ``query`` (``container``, ``previous``, ``tailLines``, ``timestamps``)."""
    container = container_name(pod, query.get("container"))
    if not (pod.get("spec") or {}).get("nodeName"):
        return ""  # LogLocation: no node, no location, nothing to stream
    lines = _printed(pod, container, previous=_flag(query.get("previous")))
    tail = query.get("tailLines")
    if tail is not None:
        try:
            count = int(tail)
        except ValueError as error:
            raise _bad(f"couldn't parse tailLines {tail!r}: not an integer") from error
        if count < 0:  # ValidatePodLogOptions
            name = pod["metadata"]["name"]
            message = f"tailLines: Invalid value: {count}: must be greater than or equal to 0"
            raise ApiError(422, "Invalid", f'PodLogOptions "{name}" is invalid: {message}')
        lines = lines[len(lines) - count :] if count else []
    stamped = _flag(query.get("timestamps"))
    return "".join(f"{at} {text}\n" if stamped else f"{text}\n" for at, text in lines)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"true", "1"}


def _printed(pod: dict[str, Any], container: str, *, previous: bool) -> list[tuple[str, str]]:
    status = pod.get("status") or {}
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    state = next((s for s in statuses if s.get("name") == container), None)
    pod_name = pod["metadata"]["name"]
    if state is None:
        raise _bad(f'container "{container}" in pod "{pod_name}" is waiting to start - no logs yet')
    current = state.get("state") or {}
    last = (state.get("lastState") or {}).get("terminated")
    if previous:
        if not last:
            raise _bad(f'previous terminated container "{container}" in pod "{pod_name}" not found')
        return _ran(pod, container, last["startedAt"], end=last)
    if "running" in current:
        lines = _ran(pod, container, current["running"]["startedAt"])
        ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        if ready.get("status") == "True":
            lines.append((ready.get("lastTransitionTime") or current["running"]["startedAt"], "ready"))
        return lines
    if "terminated" in current:
        ended = current["terminated"]
        return _ran(pod, container, ended.get("startedAt") or "", end=ended)
    if last:
        return _ran(pod, container, last["startedAt"], end=last)
    reason = (current.get("waiting") or {}).get("reason") or ""
    why = {"ErrImagePull": "image can't be pulled", "ImagePullBackOff": "trying and failing to pull image"}
    raise _bad(f'container "{container}" in pod "{pod_name}" is waiting to start: {why.get(reason, reason)}')


def _ran(pod: dict[str, Any], container: str, started: str, end: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    spec: dict[str, Any] = next(
        (
            c
            for c in [*(pod["spec"].get("initContainers") or []), *(pod["spec"].get("containers") or [])]
            if c.get("name") == container
        ),
        {},
    )
    lines = [(started, f"starting {spec.get('image', '')}")]
    lines += [(started, f"listening on :{port['containerPort']}") for port in spec.get("ports") or []]
    if end is not None:
        lines.append((end.get("finishedAt") or started, f"exiting with status {end.get('exitCode', 0)}"))
    return lines
