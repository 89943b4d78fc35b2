"""Reading pod and Deployment states: what is ready, and what will never become ready."""

from __future__ import annotations

from collections.abc import Iterable

from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

# Waiting reasons that do not pass on their own: fail the deployment now, not at the deadline.
FAIL_FAST_WAITING = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"}
)


def pod_name(pod: Pod) -> str:
    return (pod.metadata.name if pod.metadata else None) or "?"


def is_ready(pod: Pod) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or ())


def restarts(pod: Pod) -> int:
    statuses = pod.status.containerStatuses if pod.status else None
    return sum(s.restartCount for s in statuses or ())


def problems(pod: Pod) -> list[str]:
    """One line per fail-fast state of ``pod``: pod, container and reason (and the message)."""
    out: list[str] = []
    status = pod.status
    if status is None:
        return out
    for condition in status.conditions or ():
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            out.append(_line(pod, None, "Unschedulable", condition.message))
    for container in [*(status.initContainerStatuses or ()), *(status.containerStatuses or ())]:
        waiting = container.state.waiting if container.state else None
        if waiting is not None and waiting.reason in FAIL_FAST_WAITING:
            out.append(_line(pod, container.name, waiting.reason, waiting.message))
    return out


def _line(pod: Pod, container: str | None, reason: str, message: str | None) -> str:
    where = f"pod {pod_name(pod)}" + (f" container {container}" if container else "")
    return f"{where}: {reason}" + (f" ({message})" if message else "")


def rollout_problem(deployment: Deployment) -> str | None:
    """The Deployment controller's own verdict: its progress deadline has passed."""
    conditions = deployment.status.conditions if deployment.status else None
    for condition in conditions or ():
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            name = deployment.metadata.name if deployment.metadata else "?"
            return f"deployment {name}: ProgressDeadlineExceeded ({condition.message or 'no progress'})"
    return None


def rollout_complete(deployment: Deployment) -> bool:
    """Like ``kubectl rollout status``: the newest spec is observed and every replica updated and available."""
    spec, status, meta = deployment.spec, deployment.status, deployment.metadata
    if spec is None or status is None or meta is None:
        return False
    want = spec.replicas if spec.replicas is not None else 1
    return (
        (status.observedGeneration or 0) >= (meta.generation or 0)
        and (status.updatedReplicas or 0) >= want
        and (status.availableReplicas or 0) >= want
        and (status.replicas or 0) <= want  # no old pods left over
    )


def detail(lines: Iterable[str]) -> str:
    unique = list(dict.fromkeys(lines))
    return "; ".join(unique[:5]) + (f"; and {len(unique) - 5} more" if len(unique) > 5 else "")
