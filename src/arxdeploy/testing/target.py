"""An in-memory target and health probe that share one scripted world.

Versions behave as their names say, like the demo app: ``crash`` never starts (crash loop),
``unhealthy`` fails every check, ``fails-after-<N>s`` passes checks for N seconds after it
starts, then fails, ``pending`` waits for a node for good and ``pending-<N>s`` for N seconds
after it starts (as pods do while a cluster autoscaler adds one). Tests can also make any target
call raise via ``fail_on``, and resize a running color as an autoscaler would (``scale``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError, UsageError
from arxdeploy.ports import (
    CheckResult,
    Clock,
    ColorState,
    EnvironmentState,
    Export,
    Probe,
    Problem,
    ProblemKind,
    Replica,
    Round,
)

_FAILS_AFTER = re.compile(r"fails-after-(\d+)s")
_PENDING = re.compile(r"pending(?:-(\d+)s)?")
UNSCHEDULABLE = "0/1 nodes are available: 1 Insufficient cpu"


@dataclass
class _Running:
    version: str
    replicas: int
    started: datetime
    scaled: bool = False  # resized since it started, as by an autoscaler
    unplaced: int = 0  # replicas added by ``scale`` that wait for a node

    def waits(self, replica: int, now: datetime) -> bool:
        """Whether replica number ``replica`` (from 1) waits for a node."""
        return self.pending(now) or replica > self.replicas - self.unplaced

    @property
    def running(self) -> bool:
        """Whether its replicas run: a ``crash`` version never stays up."""
        return "crash" not in self.version

    def pending(self, now: datetime) -> bool:
        """Whether its replicas still wait for a node."""
        match = _PENDING.search(self.version)
        if match is None:
            return False
        return not match[1] or now - self.started < timedelta(seconds=int(match[1]))

    def problem(self, now: datetime) -> Problem | None:
        if not self.running:
            return Problem(ProblemKind.FAILED, "CrashLoop", "replica 1 exited with status 1")
        if self.pending(now) or self.unplaced:
            return Problem(ProblemKind.WAITING, "Unschedulable", UNSCHEDULABLE)
        return None


@dataclass
class FakeTarget:
    clock: Clock
    colors: dict[str, dict[Color, _Running]] = field(default_factory=dict)
    live: dict[str, Color | None] = field(default_factory=dict)
    weight: dict[str, tuple[Color, int]] = field(default_factory=dict)  # a canary's split: color, percent
    calls: list[str] = field(default_factory=list)
    fail_on: dict[str, int] = field(default_factory=dict)  # method name -> how many more calls fail
    set_up: set[str] = field(default_factory=set)  # environments something was ever started in

    def _call(self, name: str, detail: str) -> None:
        self.calls.append(f"{name} {detail}".strip())
        if self.fail_on.get(name, 0) > 0:
            self.fail_on[name] -= 1
            raise TargetError(f"injected failure in {name}")

    def inspect(self, *, environment: str) -> EnvironmentState:
        self._call("inspect", environment)
        now = self.clock.now()
        colors = {
            color: ColorState(
                color=color,
                version=run.version,
                replicas=tuple(
                    Replica(
                        index=i,
                        url=f"fake://{environment}/{color.value}/{i}",
                        running=run.running and not run.waits(i, now),
                        waiting=run.waits(i, now),
                    )
                    for i in range(1, run.replicas + 1)
                ),
                problem=run.problem(now),
                size=run.replicas,
            )
            for color, run in self.colors.get(environment, {}).items()
        }
        return EnvironmentState(
            environment=environment,
            live_color=self.live.get(environment),
            colors=colors,
            live_url=f"fake://{environment}/live",
            weights=self._weights(environment),
        )

    def _weights(self, environment: str) -> dict[Color, int]:
        live = self.live.get(environment)
        color, weight = self.weight.get(environment, (None, 0))
        shares = {live: 100 - weight} if live is not None and weight < 100 else {}
        return {**shares, color: weight} if color is not None and weight else shares

    def export(self, *, environment: str) -> Export:
        self._call("export", environment)
        running = {
            c.value: {"version": r.version, "replicas": r.replicas} for c, r in self.colors.get(environment, {}).items()
        }
        live = self.live.get(environment)
        state = {"live": live.value if live else None, "colors": running}
        return Export(
            files={"environment.json": json.dumps(state, sort_keys=True).encode()},
            facts={"set_up": environment in self.set_up},
            versions=tuple(sorted({r.version for r in self.colors.get(environment, {}).values()})),
        )

    def start_color(
        self, *, environment: str, color: Color, version: str, replicas: int, saved: Export | None = None
    ) -> None:
        from_backup = saved is not None and version in saved.versions
        self._call("start_color", f"{environment} {color.value} {version}" + (" from-backup" if from_backup else ""))
        running = self.colors.setdefault(environment, {})
        self.set_up.add(environment)
        current = running.get(color)
        if (
            current
            and current.version == version
            and (current.replicas == replicas or (current.scaled and current.replicas > replicas))
        ):
            return  # the same release, or one an autoscaler scaled up: nothing to undo
        if current and self.live.get(environment) is color:
            raise TargetError(
                f"{color.value} is live in {environment} and runs {current.version}; "
                f"it cannot be replaced by {version} while it takes traffic"
            )
        running[color] = _Running(version, replicas, self.clock.now())

    def switch(self, *, environment: str, color: Color | None) -> None:
        self._call("switch", f"{environment} {color.value if color else None}")
        if color is not None:
            run = self.colors.get(environment, {}).get(color)
            if run is None or not run.running or run.pending(self.clock.now()):
                raise TargetError(
                    f"{environment}/{color.value} has no running replica: switching to it would drop every request"
                )
        self.live[environment] = color
        self.weight.pop(environment, None)  # a switch ends the split

    def set_weight(self, *, environment: str, color: Color, weight: int) -> None:
        self._call("set_weight", f"{environment} {color.value} {weight}")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise UsageError(f"weight {weight!r} is not a percentage", hint="give a whole number from 0 to 100")
        live = self.live.get(environment)
        run = self.colors.get(environment, {}).get(color)
        if live is None or live is color or run is None or not run.running:
            why = "nothing is live" if live is None else "it is live" if live is color else "it does not run"
            raise TargetError(f"{environment}/{color.value} cannot take a share of the traffic: {why}")
        self.weight[environment] = (color, weight)

    def stop_color(self, *, environment: str, color: Color, drain_timeout: timedelta) -> None:
        self._call("stop_color", f"{environment} {color.value}")
        if self.live.get(environment) is color:
            raise TargetError(f"refusing to stop {color.value}: it is live in {environment}")
        self.colors.get(environment, {}).pop(color, None)
        if self.weight.get(environment, (None, 0))[0] is color:
            self.weight.pop(environment)  # stopping the weighted color takes its weight away

    def remove_created(self, *, environment: str, before: Mapping[str, Any] | None) -> list[str]:
        self._call("remove_created", environment)
        if self.live.get(environment) or self.colors.get(environment):
            return []  # something runs: nothing is removed
        if before is None or before.get("set_up", True) or environment not in self.set_up:
            return []  # set up before that export (or no backup): it stays
        self.set_up.discard(environment)
        self.colors.pop(environment, None)
        self.live.pop(environment, None)
        return [f"the environment {environment}"]

    def scale(self, *, environment: str, color: Color, replicas: int, unplaced: bool = False) -> None:
        """Resize a running color, as an autoscaler (or a person) would; not a call of the port.

        ``unplaced``: the replicas added wait for a node until ``place``.
        """
        run = self.colors[environment][color]
        added = max(0, replicas - run.replicas)
        run.replicas, run.scaled = replicas, True
        run.unplaced = min(replicas, run.unplaced + added) if unplaced else min(run.unplaced, replicas)

    def place(self, *, environment: str, color: Color) -> None:
        """The node came: every replica of ``color`` that waited for one runs."""
        self.colors[environment][color].unplaced = 0

    def healthy(self, environment: str, color: Color) -> bool:
        run = self.colors.get(environment, {}).get(color)
        if run is None or "crash" in run.version or "unhealthy" in run.version:
            return False
        match = _FAILS_AFTER.search(run.version)
        return not match or self.clock.now() - run.started < timedelta(seconds=int(match[1]))


@dataclass
class FakeHealth:
    """Answers checks from the FakeTarget's world; a probe URL is fake://env/color/replica."""

    target: FakeTarget
    rounds: int = 0

    def round(self, *, probes: Sequence[Probe], timeout: timedelta) -> Round:
        self.rounds += 1
        results = []
        for probe in probes:
            environment = probe.url.removeprefix("fake://").split("/")[0]
            ok = self.target.healthy(environment, probe.color)
            results.append(
                CheckResult(f"GET /health on {probe.label}", ok, "HTTP 200" if ok else "HTTP 500: unhealthy")
            )
        return Round(results=tuple(results))
