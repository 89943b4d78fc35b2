"""Deployment metrics derived from the record at scrape time: durations, rollbacks, time to
restore, approval waits, analysis results, canary weights and the environments' health.

Nothing is pushed: runners only append events to the record, and the server reads them when
Prometheus scrapes, so a runner that dies loses nothing and short-lived CI jobs need no gateway.

Histograms and counters are cumulative in the server process, like any process's counters: each
event is observed once, by the first scrape that finds it in the record. What had happened before
the server started is not counted (counters start at 0 when the process starts; counting the past
at start would look like a burst of deployments to ``rate``/``increase`` after every restart).
A series is served at 0 for one scrape before its first value, so that ``increase`` sees the
first deployment of a kind, the first rollback of an environment, the first result of a phase.
The cost of a scrape is bounded: the last ``window`` deployments of each environment are listed
(the same read as ``arxdeploy_deployments``), and only the event logs of deployments not yet
counted to their end are read (the unfinished ones and those that finished since the last scrape).

Labels take bounded values: the service, the configured environments, and names from the
engine's vocabulary (kinds, states, steps, outcomes, verdicts). Versions only appear on gauges
about the newest deployment of each environment (one series per environment at a time), never on
the cumulative families, where each release would add series for good.

Events read here, by name (documented in docs/metrics.md): ``state``, ``step`` (``step``,
``outcome``, ``started``), ``switched``, ``approval_requested``, and, from metric analysis and
canary releases, ``analysis`` (``verdict``: pass | fail | inconclusive, ``phase``) and
``canary_step`` (``weight``: 0..100), ``promoted`` and ``aborted``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import Metric

from arxdeploy.domain import analysis
from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.states import TERMINAL, Kind, Outcome, State, Step
from arxdeploy.ports import Store, Summary

# Buckets in seconds, from the time each kind of wait usually takes.
DEPLOYMENT_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 21600)
STEP_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RESTORE_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
APPROVAL_BUCKETS = (60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400)

# What an analysis decides (an error is a window's reading, never a decision).
VERDICTS = frozenset(o.value for o in analysis.Outcome) - {analysis.Outcome.ERROR.value}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_UNDO_STEPS = frozenset({Step.ROLLBACK.value, Step.CLEANUP.value})
_FINAL = frozenset(s.value for s in TERMINAL)  # other states, known or not (newer records), end nothing
UNHEALTHY_REASONS = ("stalled", "undo_failed", "no_traffic")


def bounded(value: object) -> str:
    """A recorded name as a label value: the engine's names pass, anything else is ``other``."""
    text = str(value)
    return text if _NAME.fullmatch(text) else "other"


# --- one deployment's log, read purely ------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One value for one family, made by the event at ``index`` in the deployment's log."""

    family: str  # a key of Tally's families
    labels: tuple[str, ...]  # after service and environment
    value: float
    index: int


@dataclass(frozen=True)
class Reading:
    """What a deployment's log says for the metrics."""

    observations: tuple[Observation, ...]
    canary_weight: float | None  # percent of traffic on the new version; None: not a canary
    undo_failed: bool  # a rollback or a cleanup failed: what runs was not put back as it was


def read(deployment: Deployment, events: Sequence[Event]) -> Reading:
    """Every observation a deployment's events make, oldest first."""
    found: list[Observation] = []
    asked_at: datetime | None = None
    waited = 0.0  # seconds at the approval gate, left out of the deployment's duration
    failed_at: datetime | None = None
    restored = undo_failed = False
    weight: float | None = None
    kind = deployment.kind.value
    for index, event in enumerate(events):
        data = event.data
        if event.type == "approval_requested":
            asked_at = event.at
        elif event.type == "step":
            step, outcome = bounded(data.get("step")), bounded(data.get("outcome"))
            started = datetime.fromisoformat(str(data["started"]))
            if step == Step.GATE.value:
                seconds = max(0.0, (event.at - (asked_at or started)).total_seconds())
                waited += seconds
                verdict = "approved" if outcome == Outcome.OK.value else outcome
                found.append(Observation("approval_wait", (verdict,), seconds, index))
            else:
                seconds = max(0.0, (event.at - started).total_seconds())
                found.append(Observation("step_duration", (step, outcome), seconds, index))
            if outcome != Outcome.OK.value and failed_at is None:
                failed_at = event.at
            if step in _UNDO_STEPS and outcome == Outcome.FAILED.value:
                undo_failed = True
        elif event.type == "switched" and failed_at is not None and not restored:
            # Traffic moved after the failure was recorded: back on the old version.
            restored = True
            found.append(Observation("restore", (), max(0.0, (event.at - failed_at).total_seconds()), index))
        elif event.type == "analysis" and "verdict" in data:  # a decision, not one of its windows
            verdict = str(data.get("verdict"))
            phase = bounded(data.get("phase"))
            found.append(Observation("analysis", (verdict if verdict in VERDICTS else "other", phase), 1, index))
        elif event.type == "canary_step" and isinstance(data.get("weight"), int | float):
            weight = float(data["weight"])
        elif event.type == "promoted" and weight is not None:
            weight = 100.0
        elif event.type == "aborted" and weight is not None:
            weight = 0.0
        elif event.type == "state" and data.get("state") in _FINAL:
            state = State(data["state"])
            seconds = max(0.0, (event.at - deployment.created_at).total_seconds() - waited)
            found.append(Observation("finished", (kind, state.value), 1, index))
            found.append(Observation("deployment_duration", (kind, state.value), seconds, index))
            if state is State.ROLLED_BACK:
                found.append(Observation("rollback", ("automatic",), 1, index))
            elif state is State.SUCCEEDED and deployment.kind is Kind.ROLLBACK:
                found.append(Observation("rollback", ("manual",), 1, index))
            if weight is not None:
                weight = 100.0 if state is State.SUCCEEDED else 0.0
    return Reading(tuple(found), weight, undo_failed)


# --- the server's tally ---------------------------------------------------------------------

_WHERE = ["service", "environment"]
_KINDS_OUTCOMES = ["kind", "outcome"]


@dataclass
class _Seen:
    """What the tally knows of one environment's window of the record."""

    counted: dict[str, int] = field(default_factory=dict)  # deployment id -> events already observed
    finished: set[str] = field(default_factory=set)  # counted to its end: its log is not read again
    readings: dict[str, Reading] = field(default_factory=dict)


class Tally:
    """Cumulative families fed from the record, read at each scrape."""

    def __init__(self, *, store: Store, service: str) -> None:
        self._store = store
        self._service = service
        self._lock = threading.Lock()  # scrapes may run side by side in the server's threads
        self._seen: dict[str, _Seen] = {}
        self._started: set[str] = set()  # environments whose record was read at the start
        # A series is served at 0 once before its first value: ``increase``/``rate`` need a
        # sample before the change to see it (the first observation would be lost otherwise).
        self._served: set[tuple[str, ...]] = set()  # family and labels of series served so far
        self._made: set[tuple[str, ...]] = set()  # ... and of those made, served or not
        self._held: list[tuple[str, Observation]] = []  # (environment, observation) held back
        self.registry = CollectorRegistry(auto_describe=False)  # private: collected through Tally
        r = self.registry
        self._families: dict[str, Counter | Histogram] = {
            "deployment_duration": Histogram(
                "arxdeploy_deployment_duration_seconds", _DURATION, [*_WHERE, *_KINDS_OUTCOMES],
                buckets=DEPLOYMENT_BUCKETS, registry=r,
            ),
            "step_duration": Histogram(
                "arxdeploy_step_duration_seconds", _STEP, [*_WHERE, "step", "outcome"],
                buckets=STEP_BUCKETS, registry=r,
            ),
            "restore": Histogram(
                "arxdeploy_time_to_restore_seconds", _RESTORE, _WHERE, buckets=RESTORE_BUCKETS, registry=r
            ),
            "approval_wait": Histogram(
                "arxdeploy_approval_wait_seconds", _APPROVAL, [*_WHERE, "outcome"],
                buckets=APPROVAL_BUCKETS, registry=r,
            ),
            "finished": Counter("arxdeploy_deployments_finished", _FINISHED, [*_WHERE, *_KINDS_OUTCOMES], registry=r),
            "rollback": Counter("arxdeploy_rollbacks", _ROLLBACKS, [*_WHERE, "trigger"], registry=r),
            "analysis": Counter("arxdeploy_analysis_results", _ANALYSIS, [*_WHERE, "verdict", "phase"], registry=r),
        }  # fmt: skip

    def start(self, environment: str, history: Sequence[Summary]) -> None:
        """What the record holds when the server starts is not counted; the series that alerts
        watch exist at 0 from the start (so that ``increase`` sees the first one). An environment
        not started (the record could not be read then) starts at its first ``update``."""
        with self._lock:
            self._start(environment, history)

    def _start(self, environment: str, history: Sequence[Summary]) -> None:
        seen = self._seen.setdefault(environment, _Seen())
        for summary in history:
            d = summary.deployment
            if summary.state.terminal:
                seen.finished.add(d.id)
            else:
                seen.counted[d.id] = len(self._store.events(deployment_id=d.id))
        where = (self._service, environment)
        for outcome in sorted(_FINAL):
            self._families["finished"].labels(*where, Kind.DEPLOY.value, outcome)
            self._made.add(("finished", *where, Kind.DEPLOY.value, outcome))
        for trigger in ("automatic", "manual"):
            self._families["rollback"].labels(*where, trigger)
            self._made.add(("rollback", *where, trigger))
        self._started.add(environment)

    def update(self, environment: str, history: Sequence[Summary]) -> Reading | None:
        """Observe what the record gained since the last scrape (``history``: the window, newest
        first); returns the newest deployment's reading, None if there is none."""
        with self._lock:
            held, self._held = self._held, []
            for where, observation in held:
                self._observe(where, observation)
            if environment not in self._started:
                self._start(environment, history)
            seen = self._seen[environment]
            for summary in reversed(history):  # oldest first, as things happened
                d = summary.deployment
                if d.id in seen.finished:
                    continue
                events = self._store.events(deployment_id=d.id)
                reading = read(d, events)
                already = seen.counted.get(d.id, 0)
                for observation in reading.observations:
                    if observation.index >= already:
                        self._observe(environment, observation)
                seen.counted[d.id] = len(events)
                seen.readings[d.id] = reading
                if summary.state.terminal:
                    seen.finished.add(d.id)
            # Forget what left the window: newer deployments pushed it out, it never comes back.
            inside = {s.deployment.id for s in history}
            seen.finished &= inside
            seen.counted = {i: n for i, n in seen.counted.items() if i in inside}
            seen.readings = {i: r for i, r in seen.readings.items() if i in inside}
            if not history:
                return None
            newest = history[0].deployment
            if newest.id not in seen.readings:  # it finished before the server started
                seen.readings[newest.id] = read(newest, self._store.events(deployment_id=newest.id))
            return seen.readings[newest.id]

    def _observe(self, environment: str, observation: Observation) -> None:
        labels = (self._service, environment, *observation.labels)
        key = (observation.family, *labels)
        child = self._families[observation.family].labels(*labels)
        self._made.add(key)
        if key not in self._served:
            self._held.append((environment, observation))  # counted once the 0 was served
        elif isinstance(child, Histogram):
            child.observe(observation.value)
        else:
            child.inc(observation.value)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = list(self.registry.collect())
            self._served |= self._made
        yield from families


_DURATION = "Deployments from request to end, the wait at the approval gate left out, by kind and final state."
_STEP = "Steps of deployments, by step and outcome (the approval gate is arxdeploy_approval_wait_seconds)."
_RESTORE = "From a failure recorded after traffic moved to traffic back on the old version."
_APPROVAL = "Waits at the approval gate, from asking to the decision: approved, rejected or expired."
_FINISHED = "Deployments that reached a final state, by kind and that state."
_ROLLBACKS = "Rollbacks: automatic (a deployment rolled back) or manual (a rollback deployment succeeded)."
_ANALYSIS = "Metric analysis results, by verdict (pass, fail, inconclusive) and phase."
