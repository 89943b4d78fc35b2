"""Metric analysis inside a step: the candidate color judged against the baseline color.

The entry point the steps call (blue-green's verify and monitor, and a canary's analysis
steps). The figures come through the ``Metrics`` port (``arxdeploy.analysis``); what they mean
is decided by ``domain.analysis``. Every window is recorded as an ``analysis`` event with both
colors' figures, and so is the verdict.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from arxdeploy.domain.analysis import Outcome, Reading, Tally, Verdict, early, final, judge, rank_verdict
from arxdeploy.domain.events import Event
from arxdeploy.domain.plan import AnalysisRun, MetricCheck
from arxdeploy.domain.states import Color
from arxdeploy.engine import pause
from arxdeploy.engine.context import StepContext
from arxdeploy.errors import MetricsError, StepFailed, UsageError
from arxdeploy.ports import Measurement, MetricReader, MetricScope

NOT_CONFIGURED = "no analysis configured"


def run(
    ctx: StepContext,
    *,
    phase: str,
    metrics: Sequence[str] | None,
    candidate: Color,
    baseline: Color | None,
    wait: Callable[[timedelta], None] | None = None,
) -> str:
    """Measure and judge ``candidate`` against ``baseline`` (None: no baseline, absolute
    conditions only) for the analysis configured for ``phase`` ("verify", "monitor", "canary"),
    restricted to the named ``metrics`` when given; record what was measured and decided.

    In ``monitor`` the baseline color takes no traffic any more: its figures are those it had
    before the switch (what verify recorded, else the provider's history up to the switch).
    ``wait`` spends one interval (default: sleep; monitor watches health meanwhile).

    Returns a line for people. Raises ``StepFailed`` when the candidate fails (or an
    inconclusive result is configured to fail, or the providers failed too many times in a row);
    when an inconclusive result is configured to pause, waits for a person
    (``engine.pause.wait_for_person``), which returns on promote and raises on abort.
    """
    settings = ctx.plan.analysis.run_for(phase, metrics)
    if settings is None:
        return NOT_CONFIGURED
    if ctx.metrics is None:
        raise StepFailed(f"{phase} analysis is configured and no metrics provider is wired")
    return _Analysis(ctx, phase, settings, candidate, baseline, wait).run()


class _Analysis:
    def __init__(
        self,
        ctx: StepContext,
        phase: str,
        settings: AnalysisRun,
        candidate: Color,
        baseline: Color | None,
        wait: Callable[[timedelta], None] | None,
    ) -> None:
        assert ctx.metrics is not None
        self.ctx, self.phase, self.settings = ctx, phase, settings
        self.candidate, self.baseline = candidate, baseline
        self.wait = wait or (lambda interval: ctx.clock.sleep(interval.total_seconds()))
        self.metrics = ctx.metrics
        d = ctx.deployment
        self.versions = {d.new_color: d.version}
        if d.old_color is not None and d.previous_version is not None:
            self.versions[d.old_color] = d.previous_version
        self.colors = (candidate.value, baseline.value if baseline else None)
        # After the switch the old color's figures are those from before it.
        self.before: dict[str, list[float]] = {}
        self._at_switch: dict[str, Measurement] = {}  # asked of the provider once: it does not change
        self.switched_at: datetime | None = None
        if phase == "monitor" and baseline is not None:
            self.before, self.switched_at = _before_switch(ctx.recorded(), candidate)

    def run(self) -> str:
        s = self.settings
        names = ", ".join(m.name for m in s.metrics)
        versus = f" against {self.baseline.value}" if self.baseline else ""
        self.ctx.progress(
            f"{self.phase} analysis of {self.candidate.value}{versus}: {names}, "
            f"{s.count} × {s.interval.total_seconds():g}s"
        )
        tallies = [Tally(m) for m in s.metrics]
        stop_load = self._start_load()
        reader = self.metrics.reader(environment=self.ctx.deployment.environment, metrics=s.metrics)
        try:
            reader.window()
            tick = self.ctx.clock.now()
            for window in range(1, s.count + 1):
                tick += s.interval
                self.wait(max(timedelta(0), tick - self.ctx.clock.now()))
                reader.window()
                readings = [self._reading(reader, t.metric) for t in tallies]
                for tally, reading in zip(tallies, readings, strict=True):
                    tally.add(reading)
                self._record_window(window, readings)
                verdict = early(s, tallies)
                if verdict is not None:
                    return self._conclude(verdict, {})
            judged = self._rank_tests(tallies)
            return self._conclude(final(s, tallies, judged), judged)
        finally:
            reader.close()
            if stop_load is not None:
                sent = stop_load()
                self.ctx.progress(f"synthetic load stopped: {sent} requests answered")

    def _start_load(self) -> Callable[[], int] | None:
        load = self.settings.load
        if load is None:
            return None
        state = self.ctx.target.inspect(environment=self.ctx.deployment.environment)
        url = state.preview_url or state.live_url
        if url is None:
            self.ctx.progress("no address reaches the candidate: no synthetic load")
            return None
        self.ctx.progress(
            f"sending {load.rate:g} synthetic requests/s to {self.candidate.value} ({', '.join(load.paths)})"
        )
        return self.metrics.load(environment=self.ctx.deployment.environment, color=self.candidate, url=url, load=load)

    def _scope(self, color: Color) -> MetricScope:
        return MetricScope(
            environment=self.ctx.deployment.environment,
            color=color,
            version=self.versions.get(color, ""),
            interval=self.settings.interval,
        )

    def _read(
        self, reader: MetricReader, metric: MetricCheck, color: Color, until: datetime | None = None
    ) -> Measurement:
        return reader.measure(metric=metric, scope=self._scope(color), until=until)

    def _reading(self, reader: MetricReader, metric: MetricCheck) -> Reading:
        compare = self.baseline is not None and metric.relative
        try:
            own = self._read(reader, metric, self.candidate)
            other = self._baseline(reader, metric) if compare else None
        except MetricsError as exc:
            return Reading(metric.name, Outcome.ERROR, None, None, f"{metric.name}: could not be read: {exc.message}")
        missing = self._missing(own)
        if not missing and other is not None and other.value is not None and self.switched_at is None:
            missing = self._missing(other, whose=self.colors[1])
        return judge(
            metric,
            own.value,
            other.value if other else None,
            colors=self.colors,
            missing=missing,
            compare=compare,
        )

    def _missing(self, figure: Measurement, whose: str | None = None) -> str:
        """Why a figure is not enough to judge by, or ""."""
        who = whose or self.colors[0]
        if figure.value is None:
            return f"no figure for {who}" + (f" ({figure.note})" if figure.note else "")
        if figure.requests is not None and figure.requests < self.settings.min_requests:
            return f"{who} took {figure.requests} requests, {self.settings.min_requests} needed (min_requests)"
        return ""

    def _baseline(self, reader: MetricReader, metric: MetricCheck) -> Measurement:
        assert self.baseline is not None
        if self.phase != "monitor":
            return self._read(reader, metric, self.baseline)
        recorded = self.before.get(metric.name)
        if recorded:
            return Measurement(statistics.median(recorded), note="before the switch")
        if self.switched_at is None:
            return Measurement(None, note="no switch recorded")
        if metric.name in self._at_switch:
            return self._at_switch[metric.name]
        try:
            figure = self._read(reader, metric, self.baseline, until=self.switched_at)
        except MetricsError as exc:  # asked again next window: the provider may answer then
            return Measurement(None, note=f"no figure from before the switch: {exc.message}")
        if figure.value is not None:
            self._at_switch[metric.name] = figure
        return figure

    def _rank_tests(self, tallies: Sequence[Tally]) -> dict[str, Reading]:
        judged: dict[str, Reading] = {}
        for tally in tallies:
            metric = tally.metric
            if metric.judge_confidence is None or self.baseline is None:
                continue
            if self.phase == "monitor":
                tally.baseline = list(self.before.get(metric.name, ()))
            p_value = None
            if min(len(tally.candidate), len(tally.baseline)) >= 3:
                try:
                    p_value = self.metrics.rank_test(candidate=tally.candidate, baseline=tally.baseline)
                except UsageError as exc:
                    raise StepFailed(f"{metric.name} judge: {exc.message}") from exc
            assert self.colors[1] is not None
            judged[metric.name] = rank_verdict(metric, tally, p_value, (self.colors[0], self.colors[1]))
        return judged

    def _record_window(self, window: int, readings: Sequence[Reading]) -> None:
        line = "; ".join(f"{r.reason} [{r.outcome.value}]" for r in readings)
        self.ctx.record(
            Event(
                "analysis",
                self.ctx.clock.now(),
                {
                    "phase": self.phase,
                    "window": window,
                    "of": self.settings.count,
                    "candidate": self.colors[0],
                    "baseline": self.colors[1],
                    "readings": [r.to_json() for r in readings],
                    "line": line,
                },
            )
        )
        self.ctx.progress(f"{self.phase} analysis {window}/{self.settings.count}: {line}")

    def _conclude(self, verdict: Verdict, judged: dict[str, Reading]) -> str:
        policy = self.settings.inconclusive
        self.ctx.record(
            Event(
                "analysis",
                self.ctx.clock.now(),
                {
                    "phase": self.phase,
                    "verdict": verdict.outcome.value,
                    "reason": verdict.reason,
                    "candidate": self.colors[0],
                    "baseline": self.colors[1],
                    "judged": [r.to_json() for r in judged.values()],
                    **({"then": policy} if verdict.outcome is Outcome.INCONCLUSIVE else {}),
                },
            )
        )
        said = f"{self.phase} analysis of {self.colors[0]}"
        if verdict.outcome is Outcome.PASS:
            return f"{said} passed: {verdict.reason}"
        if verdict.outcome is Outcome.FAIL:
            raise StepFailed(f"{said} failed: {verdict.reason}", check=f"{self.phase} analysis")
        if policy == "pass":
            return f"{said} inconclusive, passed as configured (inconclusive: pass): {verdict.reason}"
        if policy == "pause":
            return pause.wait_for_person(self.ctx, reason=f"{said} inconclusive: {verdict.reason}")
        raise StepFailed(f"{said} inconclusive (inconclusive: fail): {verdict.reason}", check=f"{self.phase} analysis")


def _before_switch(recorded: Sequence[Event], candidate: Color) -> tuple[dict[str, list[float]], datetime | None]:
    """The baseline figures that verify and a canary's analysis steps recorded (the old color's,
    before the switch), by metric, and when traffic went to ``candidate``."""
    figures: dict[str, list[float]] = {}
    switched_at = None
    for event in recorded:
        data = event.data
        if event.type == "switched" and data.get("color") == candidate.value:
            switched_at = event.at
        if event.type != "analysis" or data.get("phase") not in ("verify", "canary") or "readings" not in data:
            continue
        for reading in data["readings"]:
            value = reading.get("baseline")
            if value is not None and reading.get("outcome") in (Outcome.PASS, Outcome.FAIL):
                figures.setdefault(reading["metric"], []).append(float(value))
    return figures, switched_at
