"""An in-memory target and health probe that share one scripted world.

Versions behave as their names say, like the demo app: ``crash`` never starts (crash loop),
``unhealthy`` fails every check, ``fails-after-<N>s`` passes checks for N seconds after it
starts, then fails. Tests can also make any target call raise via ``fail_on``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError
from arxdeploy.ports import CheckResult, Clock, ColorState, EnvironmentState, Probe, Replica, Round

_FAILS_AFTER = re.compile(r"fails-after-(\d+)s")


@dataclass
class _Running:
    version: str
    replicas: int
    started: datetime

    @property
    def running(self) -> bool:
        """Whether its replicas run: a ``crash`` version never stays up."""
        return "crash" not in self.version


@dataclass
class FakeTarget:
    clock: Clock
    colors: dict[str, dict[Color, _Running]] = field(default_factory=dict)
    live: dict[str, Color | None] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_on: dict[str, int] = field(default_factory=dict)  # method name -> how many more calls fail
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _call(self, name: str, detail: str) -> None:
        self.calls.append(f"{name} {detail}".strip())
        if self.fail_on.get(name, 0) > 0:
            self.fail_on[name] -= 1
            raise TargetError(f"injected failure in {name}")

    def inspect(self, *, environment: str) -> EnvironmentState:
        self._call("inspect", environment)
        colors = {
            color: ColorState(
                color=color,
                version=run.version,
                replicas=tuple(
                    Replica(index=i, url=f"fake://{environment}/{color.value}/{i}", running=run.running)
                    for i in range(1, run.replicas + 1)
                ),
                crash_looping=not run.running,
                detail="" if run.running else "exited with status 1",
            )
            for color, run in self.colors.get(environment, {}).items()
        }
        return EnvironmentState(
            environment=environment,
            live_color=self.live.get(environment),
            colors=colors,
            live_url=f"fake://{environment}/live",
        )

    def backup(self, *, environment: str, deployment_id: str) -> dict[str, Any]:
        self._call("backup", environment)
        manifest = {
            "deployment_id": deployment_id,
            "environment": environment,
            "created_at": self.clock.now().isoformat(timespec="seconds"),
            "files": {"environment.json": "0" * 64},
        }
        self.backups[deployment_id] = manifest
        return manifest

    def start_color(
        self, *, environment: str, color: Color, version: str, replicas: int, from_backup: bool = False
    ) -> None:
        self._call("start_color", f"{environment} {color.value} {version}" + (" from-backup" if from_backup else ""))
        running = self.colors.setdefault(environment, {})
        current = running.get(color)
        if current and current.version == version and current.replicas == replicas:
            return
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
            if run is None or not run.running:
                raise TargetError(
                    f"{environment}/{color.value} has no running replica: switching to it would drop every request"
                )
        self.live[environment] = color

    def stop_color(self, *, environment: str, color: Color, drain_timeout: timedelta) -> None:
        self._call("stop_color", f"{environment} {color.value}")
        if self.live.get(environment) is color:
            raise TargetError(f"refusing to stop {color.value}: it is live in {environment}")
        self.colors.get(environment, {}).pop(color, None)

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
