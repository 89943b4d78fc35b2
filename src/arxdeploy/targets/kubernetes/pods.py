"""Reading pod and Deployment states: what is ready, what waits, and what will never become ready.

A color's pods are judged one by one, then together (``problem``):

- **Waiting** (may pass on its own, so the engine waits, up to ``progress_deadline``): a pod the
  scheduler could not place (``Unschedulable``: a cluster autoscaler or Karpenter may be adding
  a node; the pod's events say whether one was asked for: cluster-autoscaler's
  ``TriggeredScaleUp`` / ``NotTriggerScaleUp``, Karpenter's ``Nominated`` / its own
  ``FailedScheduling``), containers being created or pulled (``ContainerCreating``, ``PodInitializing``, a
  first failed pull: ``ErrImagePull`` / ``ImagePullBackOff``), a container the runtime could not
  create or start yet (``CreateContainerError``, ``RunContainerError``: a bad command turns into a
  crash loop), a container whose startup probe has not passed yet.
- **Failed** (will not pass without a change, so the engine fails at once): ``CrashLoopBackOff``,
  ``InvalidImageName`` (the reference does not parse), ``ErrImageNeverPull`` (``imagePullPolicy:
  Never`` and no image on the node), ``CreateContainerConfigError`` (a ConfigMap or Secret, or a
  key in one, that the pod reads is missing), an image pull that failed ``PULL_ATTEMPTS`` times
  (below), and the Deployment controller's own ``ProgressDeadlineExceeded``.

**The image pull rule.** The kubelet retries a failed pull after a back-off of 10 s that doubles
up to 300 s (``imageBackOffPeriod``, ``MaxImageBackOff`` in pkg/kubelet/kubelet.go), recording
``Failed`` "Failed to pull image ..." each time (pkg/kubelet/images/image_manager.go), an event
whose ``count`` the recorder bumps on each repeat. A pull fails the deployment once it has failed
``PULL_ATTEMPTS`` (3) times: the first try and two retries, about 30 s after the first failure.
A registry that answered 429 or 503 once, or an image that CI pushes a moment after the deploy
started, gets that long; an image that is not there does not hold the deployment for the whole
progress deadline. Without access to events (RBAC), a pull keeps waiting until the deadline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lightkube.models.core_v1 import ContainerStatus
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Pod

from arxdeploy.ports import Problem, ProblemKind

PULL_ATTEMPTS = 3
# Waiting reasons that do not pass on their own.
FAILED_WAITING = frozenset({"CrashLoopBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"})
PULLING = frozenset({"ErrImagePull", "ImagePullBackOff"})
FAILED_PULL = "Failed to pull image"
# What node autoscalers say on a pod they took on, or could not: cluster-autoscaler (FAQ.md, "What
# events are emitted by CA?") and Karpenter (pkg/controllers/provisioning/scheduling/events.go).
SCALING_UP = frozenset({"TriggeredScaleUp", "Nominated"})
NOT_SCALING_UP = frozenset({"NotTriggerScaleUp"})
KARPENTER = "karpenter"
EVENTS_SHOWN = 3
# The reason a color's problem is named by, most telling first.
_ORDER = (
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
    "ErrImageNeverPull",
    "ProgressDeadlineExceeded",
    "ImagePullBackOff",
    "ErrImagePull",
    "Unschedulable",
    "CreateContainerError",
    "RunContainerError",
    "PodInitializing",
    "ContainerCreating",
    "Starting",
    "Pending",
)
_EPOCH = datetime.min.replace(tzinfo=UTC)


def pod_name(pod: Pod) -> str:
    return (pod.metadata.name if pod.metadata else None) or "?"


def is_ready(pod: Pod) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or ())


def restarts(pod: Pod) -> int:
    statuses = pod.status.containerStatuses if pod.status else None
    return sum(s.restartCount for s in statuses or ())


@dataclass(frozen=True)
class Trouble:
    """One reason one pod (or the Deployment) does not run as asked."""

    kind: ProblemKind
    reason: str
    where: str  # "pod P" or "pod P container C" or "deployment D"
    message: str = ""


@dataclass(frozen=True)
class PodEvents:
    """The Events about a namespace's pods, newest first, as far as a color's problem needs them."""

    events: Sequence[Event] = ()

    def about(self, pods: Iterable[str]) -> list[Event]:
        names = set(pods)
        return [e for e in self.events if e.involvedObject.name in names]

    def failed_pulls(self, pod: str, container: str) -> int:
        """How many times the kubelet failed to pull ``container``'s image in ``pod``."""
        return sum(
            _count(e)
            for e in self.events
            if e.involvedObject.name == pod
            and e.reason == "Failed"
            and (e.message or "").startswith(FAILED_PULL)
            and (e.involvedObject.fieldPath or "").endswith(f"{{{container}}}")
        )


def newest_first(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=_last_seen, reverse=True)


def _last_seen(event: Event) -> datetime:
    series = event.series.lastObservedTime if event.series else None
    return series or event.lastTimestamp or event.eventTime or event.firstTimestamp or _EPOCH


def _count(event: Event) -> int:
    return (event.series.count if event.series else None) or event.count or 1


def waiting(pod: Pod) -> bool:
    """Not ready, and not started yet: not placed on a node, its containers being created or
    pulled, or its startup probe not passed yet (and never restarted)."""
    if is_ready(pod):
        return False
    if pod.status is None or pod.status.phase == "Pending":
        return True
    statuses = pod.status.containerStatuses or []
    return any(s.started is False for s in statuses) and not any(s.restartCount for s in statuses)


def troubles(pod: Pod, events: PodEvents) -> list[Trouble]:
    """Why ``pod`` does not run as asked: each of its waiting states, failed or waiting."""
    if is_ready(pod):
        return []
    name = pod_name(pod)
    status = pod.status
    if status is None:
        return [Trouble(ProblemKind.WAITING, "Pending", f"pod {name}")]
    out: list[Trouble] = []
    for condition in status.conditions or ():
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            out.append(Trouble(ProblemKind.WAITING, "Unschedulable", f"pod {name}", condition.message or ""))
    containers: list[ContainerStatus] = [*(status.initContainerStatuses or ()), *(status.containerStatuses or ())]
    for container in containers:
        state = container.state.waiting if container.state else None
        where = f"pod {name} container {container.name}"
        if state is not None and state.reason:
            out.append(_judge(state.reason, where, state.message or "", events.failed_pulls(name, container.name)))
        elif container.started is False and not container.restartCount and status.phase != "Pending":
            out.append(Trouble(ProblemKind.WAITING, "Starting", where, "its startup probe has not passed yet"))
    return out


def _judge(reason: str, where: str, message: str, failed_pulls: int) -> Trouble:
    if reason in FAILED_WAITING:
        return Trouble(ProblemKind.FAILED, reason, where, message)
    if reason in PULLING and failed_pulls >= PULL_ATTEMPTS:
        return Trouble(ProblemKind.FAILED, reason, where, f"{message} (the pull failed {failed_pulls} times)")
    return Trouble(ProblemKind.WAITING, reason, where, message)


def rollout_problem(deployment: Deployment) -> Trouble | None:
    """The Deployment controller's own verdict: its progress deadline has passed."""
    conditions = deployment.status.conditions if deployment.status else None
    for condition in conditions or ():
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            name = deployment.metadata.name if deployment.metadata else "?"
            message = condition.message or "no progress"
            return Trouble(ProblemKind.FAILED, "ProgressDeadlineExceeded", f"deployment {name}", message)
    return None


def problem(deployment: Deployment, pods: Sequence[Pod], events: PodEvents) -> Problem | None:
    """What is wrong with one color, if anything: failed when any of it failed, else waiting.

    The detail names pods, containers and messages (the same message once, with how many pods
    say it), whether a cluster autoscaler took a waiting pod on, and the newest warning events of
    the color's pods, deduplicated.
    """
    found = [t for pod in pods for t in troubles(pod, events)]
    stuck = rollout_problem(deployment)
    if stuck is not None:
        found.insert(0, stuck)
    if not found:
        return None
    failed = [t for t in found if t.kind is ProblemKind.FAILED]
    kind = ProblemKind.FAILED if failed else ProblemKind.WAITING
    shown = failed or found
    reason = min((t.reason for t in shown), key=lambda r: _ORDER.index(r) if r in _ORDER else len(_ORDER))
    parts = _grouped(shown)
    names = [pod_name(p) for p in pods]
    about = events.about(names)
    if any(t.reason == "Unschedulable" for t in found):
        parts.append(_scale_up(about))
    parts.append(_recent(about))
    return Problem(kind, reason, "; ".join(p for p in parts if p))


def _grouped(found: Sequence[Trouble]) -> list[str]:
    """``reason`` and message once per distinct pair, naming the first place and how many more."""
    counts = Counter((t.reason, t.message) for t in found)
    first: dict[tuple[str, str], str] = {}
    for t in found:
        first.setdefault((t.reason, t.message), t.where)
    lines = []
    for (reason, message), n in list(counts.items())[:EVENTS_SHOWN]:
        more = f" (and {n - 1} more)" if n > 1 else ""
        lines.append(f"{first[reason, message]}{more}: {reason}" + (f" ({message})" if message else ""))
    rest = len(counts) - EVENTS_SHOWN
    if rest > 0:
        lines.append(f"and {rest} more")
    return lines


def _scale_up(events: Iterable[Event]) -> str:
    """What a node autoscaler said last about the color's waiting pods, if it said anything."""
    said = next((e for e in newest_first(events) if _scaling_up(e) is not None), None)
    if said is None:
        return "no cluster autoscaler has answered yet"
    verdict = "scale-up triggered" if _scaling_up(said) else "no scale-up"
    return f"{verdict} ({said.reason}: {said.message or ''})"


def _scaling_up(event: Event) -> bool | None:
    """True: a node autoscaler is adding a node for the pod; False: it will not; None: not its word."""
    if event.reason in SCALING_UP:
        return True
    component = event.reportingComponent or (event.source.component if event.source else None)
    if event.reason in NOT_SCALING_UP or (event.reason == "FailedScheduling" and component == KARPENTER):
        return False
    return None


def _recent(events: Iterable[Event]) -> str:
    """The newest warning events, each (reason, message) once."""
    seen: dict[tuple[str, str], None] = {}
    for event in newest_first(events):
        if event.type == "Warning":
            seen.setdefault((event.reason or "", event.message or ""), None)
        if len(seen) >= EVENTS_SHOWN:
            break
    return "events: " + "; ".join(f"{r}: {m}" for r, m in seen) if seen else ""


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


def needs_events(deployments: Iterable[Deployment], pods: Iterable[Pod]) -> bool:
    """Whether any color has something to explain: a pod not ready, or a stuck rollout."""
    return any(not is_ready(p) for p in pods) or any(rollout_problem(d) for d in deployments)
