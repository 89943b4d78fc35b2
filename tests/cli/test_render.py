"""What a deployment prints outside a terminal (CI logs): news once, never the same line again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arxdeploy.cli.render import Printer
from arxdeploy.domain.events import Deployment, Event, entered
from arxdeploy.domain.states import Color, Kind, State

AT = datetime(2026, 12, 1, tzinfo=UTC)


def deployment(kind: Kind = Kind.DEPLOY) -> Deployment:
    return Deployment("d1", "shop", "staging", "v2", "v1", Color.GREEN, Color.BLUE, AT, kind=kind)


def progress(message: str) -> Event:
    return Event("progress", AT, {"message": message})


def test_a_long_monitoring_window_prints_news_only(capsys: pytest.CaptureFixture[str]) -> None:
    printer, d = Printer(), deployment()
    printer(d, entered(State.MONITORING, AT))
    for left in range(300, 0, -2):  # a 5-minute window, a round every 2 s
        printer(d, progress(f"monitoring: healthy, {left}s left"))
    printer(d, progress("monitoring: 1/3 failed rounds, 40s left"))
    printer(d, progress("monitoring: 1/3 failed rounds, 38s left"))
    printer(d, progress("monitoring: 2/3 failed rounds, 36s left"))
    printer(d, progress("monitoring: healthy, 34s left"))

    lines = [line for line in capsys.readouterr().out.splitlines() if "…" in line]
    assert [line.split(": ", 1)[1] for line in lines] == [
        "monitoring: healthy, 300s left",
        "monitoring: 1/3 failed rounds, 40s left",
        "monitoring: 2/3 failed rounds, 36s left",
        "monitoring: healthy, 34s left",
    ]


def test_the_same_news_in_the_next_step_is_printed_again(capsys: pytest.CaptureFixture[str]) -> None:
    printer, d = Printer(), deployment()
    printer(d, entered(State.VERIFYING, AT))
    printer(d, progress("waiting for green: 0/2 good rounds"))
    printer(d, progress("waiting for green: 0/2 good rounds"))
    printer(d, entered(State.ROLLING_BACK, AT))
    printer(d, progress("waiting for green: 0/2 good rounds"))
    assert capsys.readouterr().out.count("waiting for green: 0/2 good rounds") == 2


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_of_deployment_has_its_first_line(kind: Kind, capsys: pytest.CaptureFixture[str]) -> None:
    printer = Printer()
    printer(deployment(kind), entered(State.REQUESTED, AT))
    assert "deployment d1" in capsys.readouterr().out
