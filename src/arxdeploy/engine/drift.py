"""Drift: the record says one version takes traffic, the target runs another (or nothing).

The target is the truth about what runs, the record about what was asked, approved and done.
When they disagree nothing puts the recorded version back on its own: ``status`` reports the
drift and ``arxdeploy reconcile`` fixes it, as a recorded deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

from arxdeploy.domain.states import Color
from arxdeploy.ports import EnvironmentState, LiveRelease


@dataclass(frozen=True)
class Drift:
    environment: str
    recorded_version: str | None
    recorded_color: Color | None
    running_version: str | None
    running_color: Color | None

    @property
    def message(self) -> str:
        recorded = _described(self.recorded_version, self.recorded_color)
        running = _described(self.running_version, self.running_color)
        if self.recorded_version is None:
            return f"the record has nothing live in {self.environment}, but the target runs {running}"
        if self.running_version is None:
            return f"the record says {recorded} is live in {self.environment}, but nothing takes traffic there"
        return f"the record says {recorded} is live in {self.environment}, but the target runs {running}"

    @property
    def fix(self) -> str:
        if self.recorded_version is None:
            return f"deploy the version you want with `arxdeploy deploy --env {self.environment} --version V`"
        return f"arxdeploy reconcile --env {self.environment}"

    def to_json(self) -> dict[str, str | None]:
        return {
            "recorded_version": self.recorded_version,
            "recorded_color": self.recorded_color.value if self.recorded_color else None,
            "running_version": self.running_version,
            "running_color": self.running_color.value if self.running_color else None,
            "message": self.message,
            "fix": self.fix,
        }


def drift(recorded: LiveRelease | None, state: EnvironmentState) -> Drift | None:
    """None when the target runs, live, exactly what the record says is live."""
    version = recorded.version if recorded else None
    color = recorded.color if recorded else None
    if (color, version) == (state.live_color, state.live_version):
        return None
    return Drift(state.environment, version, color, state.live_version, state.live_color)


def _described(version: str | None, color: Color | None) -> str:
    if version is None:
        return "nothing"
    return f"{version} on {color.value}" if color else version
