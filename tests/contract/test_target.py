"""The ``Target`` contract (``arxdeploy.ports.Target``): one behaviour, one test, every implementation.

Each test runs against the fake, the local target and the Kubernetes target (``subject`` in
conftest.py). A behaviour one of them lacks is a bug in that implementation, never a reason to
skip it here.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError
from arxdeploy.ports import ColorState, EnvironmentState, ProblemKind
from tests.support import wait_until

from .conftest import ENV, Subject

BLUE, GREEN = Color.BLUE, Color.GREEN
DRAIN = timedelta(seconds=1)


def start(subject: Subject, color: Color, version: str, replicas: int) -> EnvironmentState:
    """``start_color``, then wait until every replica runs and nothing moves on its own any more."""
    subject.target.start_color(environment=ENV, color=color, version=version, replicas=replicas)

    def runs() -> bool:
        own = subject.target.inspect(environment=ENV).colors.get(color)
        return own is not None and own.version == version and [r.running for r in own.replicas] == [True] * replicas

    wait_until(runs, what=f"{replicas} running replicas of {version} as {color.value}")
    subject.settle()
    return subject.target.inspect(environment=ENV)


def live(subject: Subject, color: Color, version: str, replicas: int = 1) -> None:
    start(subject, color, version, replicas)
    subject.target.switch(environment=ENV, color=color)


def says_which(error: pytest.ExceptionInfo[TargetError], color: Color) -> bool:
    return color.value in error.value.message and ENV in error.value.message


def releases(state: EnvironmentState) -> dict[Color, tuple[str, int]]:
    """What each color runs: its version and its number of running replicas."""
    return {c: (s.version, sum(r.running for r in s.replicas)) for c, s in state.colors.items()}


# --- inspect ------------------------------------------------------------------------------


def test_inspect_where_nothing_ever_ran_shows_no_live_color_no_colors_and_changes_nothing(subject: Subject) -> None:
    before = subject.footprint()
    state = subject.target.inspect(environment=ENV)
    assert (state.environment, state.live_color, state.colors, state.live_version) == (ENV, None, {}, None)
    assert subject.footprint() == before


def test_inspect_of_running_colors_changes_nothing(subject: Subject) -> None:
    live(subject, BLUE, "v1", replicas=1)
    start(subject, GREEN, "v2", replicas=2)
    before = subject.footprint()
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (BLUE, "v1")
    assert releases(state) == {BLUE: ("v1", 1), GREEN: ("v2", 2)}
    assert subject.footprint() == before


# --- start_color --------------------------------------------------------------------------


def test_start_color_runs_that_version_with_that_many_replicas_and_does_not_switch(subject: Subject) -> None:
    state = start(subject, BLUE, "v1", replicas=2)
    assert releases(state) == {BLUE: ("v1", 2)}
    assert len(state.colors[BLUE].replicas) == 2 and state.colors[BLUE].problem is None
    assert state.colors[BLUE].size == 2
    assert state.live_color is None


def test_a_candidate_runs_as_many_replicas_as_asked_beside_a_live_color_of_that_size(subject: Subject) -> None:
    # A target whose colors are autoscaled starts a candidate as big as the live color (more
    # than asked when it was scaled up: tests/kubernetes/test_sizing.py); at the same size, every
    # target starts what it is asked, and says so in ``size``.
    live(subject, BLUE, "v1", replicas=2)
    state = start(subject, GREEN, "v2", replicas=2)
    assert (state.colors[GREEN].size, state.colors[BLUE].size) == (2, 2)
    assert releases(state) == {BLUE: ("v1", 2), GREEN: ("v2", 2)}


@pytest.mark.parametrize("is_live", [False, True], ids=["candidate", "live"])
def test_start_color_again_with_the_same_arguments_is_a_no_op(subject: Subject, is_live: bool) -> None:
    start(subject, BLUE, "v1", replicas=2)
    if is_live:  # and the other color is the candidate now
        subject.target.switch(environment=ENV, color=BLUE)
        start(subject, GREEN, "v2", replicas=2)
    before = subject.footprint()
    subject.target.start_color(environment=ENV, color=BLUE, version="v1", replicas=2)
    assert subject.footprint() == before
    assert releases(subject.target.inspect(environment=ENV))[BLUE] == ("v1", 2)


@pytest.mark.parametrize(("version", "replicas"), [("v2", 2), ("v1", 3)], ids=["another-version", "more-replicas"])
def test_start_color_on_the_live_color_with_another_release_is_refused_and_leaves_it_running(
    subject: Subject, version: str, replicas: int
) -> None:
    live(subject, BLUE, "v1", replicas=2)
    before = subject.footprint()
    with pytest.raises(TargetError) as refused:
        subject.target.start_color(environment=ENV, color=BLUE, version=version, replicas=replicas)
    assert says_which(refused, BLUE)
    assert subject.footprint() == before
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, releases(state)) == (BLUE, {BLUE: ("v1", 2)})


def test_a_color_that_cannot_run_is_reported_failed_with_the_targets_reason(subject: Subject) -> None:
    subject.never_starts("v2-crash")
    subject.target.start_color(environment=ENV, color=GREEN, version="v2-crash", replicas=1)

    def failed() -> ColorState | None:
        green = subject.target.inspect(environment=ENV).colors.get(GREEN)
        return green if green is not None and green.failed else None

    green = wait_until(failed, timeout=30, what="v2-crash reported as failed")
    assert green.problem is not None and green.problem.kind is ProblemKind.FAILED
    assert green.problem.reason.isidentifier() and green.problem.detail  # a word, then what the target says
    assert green.version == "v2-crash"


# --- switch -------------------------------------------------------------------------------


def test_switch_to_a_color_that_does_not_run_is_refused_and_changes_nothing(subject: Subject) -> None:
    before = subject.footprint()  # nothing ever ran
    with pytest.raises(TargetError) as refused:
        subject.target.switch(environment=ENV, color=GREEN)
    assert says_which(refused, GREEN)
    assert subject.footprint() == before

    start(subject, BLUE, "v1", replicas=1)
    before = subject.footprint()
    with pytest.raises(TargetError) as refused:
        subject.target.switch(environment=ENV, color=GREEN)
    assert says_which(refused, GREEN)
    assert subject.footprint() == before
    assert subject.target.inspect(environment=ENV).live_color is None


def test_switch_makes_a_color_live_and_again_is_a_no_op(subject: Subject) -> None:
    start(subject, BLUE, "v1", replicas=1)
    subject.target.switch(environment=ENV, color=BLUE)
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (BLUE, "v1")
    before = subject.footprint()
    subject.target.switch(environment=ENV, color=BLUE)
    assert subject.footprint() == before


def test_switch_to_none_leaves_nothing_live_and_every_color_running(subject: Subject) -> None:
    before = subject.footprint()  # nothing ever ran: nothing to do
    subject.target.switch(environment=ENV, color=None)
    assert subject.footprint() == before
    assert subject.target.inspect(environment=ENV).live_color is None

    live(subject, BLUE, "v1", replicas=1)
    subject.target.switch(environment=ENV, color=None)
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (None, None)
    assert releases(state) == {BLUE: ("v1", 1)}


# --- stop_color ---------------------------------------------------------------------------


def test_stop_color_on_the_live_color_is_refused_and_leaves_it_running(subject: Subject) -> None:
    live(subject, BLUE, "v1", replicas=1)
    before = subject.footprint()
    with pytest.raises(TargetError) as refused:
        subject.target.stop_color(environment=ENV, color=BLUE, drain_timeout=DRAIN)
    assert says_which(refused, BLUE)
    assert subject.footprint() == before
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, releases(state)) == (BLUE, {BLUE: ("v1", 1)})


def test_stop_color_stops_it_and_inspect_no_longer_lists_it(subject: Subject) -> None:
    live(subject, BLUE, "v1", replicas=1)
    start(subject, GREEN, "v2", replicas=2)
    subject.target.stop_color(environment=ENV, color=GREEN, drain_timeout=DRAIN)
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, releases(state)) == (BLUE, {BLUE: ("v1", 1)})
    with pytest.raises(TargetError) as refused:  # stopped means gone: nothing to switch to
        subject.target.switch(environment=ENV, color=GREEN)
    assert says_which(refused, GREEN)


def test_stop_color_of_a_color_that_does_not_run_is_a_no_op(subject: Subject) -> None:
    before = subject.footprint()  # nothing ever ran
    subject.target.stop_color(environment=ENV, color=GREEN, drain_timeout=DRAIN)
    assert subject.footprint() == before

    live(subject, BLUE, "v1", replicas=1)
    start(subject, GREEN, "v2", replicas=1)
    subject.target.stop_color(environment=ENV, color=GREEN, drain_timeout=DRAIN)
    subject.settle()
    before = subject.footprint()
    subject.target.stop_color(environment=ENV, color=GREEN, drain_timeout=DRAIN)
    assert subject.footprint() == before


# --- export -------------------------------------------------------------------------------


@pytest.mark.parametrize("running", [False, True], ids=["nothing-ran", "running"])
def test_export_gives_files_facts_and_the_versions_that_ran_and_changes_nothing(
    subject: Subject, running: bool
) -> None:
    if running:
        live(subject, BLUE, "v1", replicas=1)
        start(subject, GREEN, "v2", replicas=1)
    before = subject.footprint()
    export = subject.target.export(environment=ENV)
    assert subject.footprint() == before
    assert export.files and all(isinstance(data, bytes) and data for data in export.files.values())
    assert all(not name.startswith("/") and ".." not in name.split("/") for name in export.files)
    assert set(export.versions) == ({"v1", "v2"} if running else set())
    json.dumps(dict(export.facts))  # plain data: it is kept in the clear beside the backup


# --- remove_created -----------------------------------------------------------------------


def stopped(subject: Subject, color: Color) -> None:
    subject.target.stop_color(environment=ENV, color=color, drain_timeout=DRAIN)
    subject.settle()


def test_what_a_failed_first_start_set_up_goes_once_nothing_runs_and_only_then(subject: Subject) -> None:
    before = subject.set_up()  # nothing
    first = subject.target.export(environment=ENV).facts
    start(subject, BLUE, "v1", replicas=1)
    footprint = subject.footprint()
    assert subject.target.remove_created(environment=ENV, before=first) == []  # blue runs
    assert subject.footprint() == footprint
    stopped(subject, BLUE)
    assert subject.set_up() != before
    removed = subject.target.remove_created(environment=ENV, before=first)
    assert removed and all(isinstance(what, str) and what for what in removed)
    assert subject.set_up() == before
    assert subject.target.remove_created(environment=ENV, before=first) == []  # idempotent


def test_remove_created_keeps_what_its_backup_found_and_everything_without_one(subject: Subject) -> None:
    live(subject, BLUE, "v1")
    subject.target.switch(environment=ENV, color=None)
    stopped(subject, BLUE)
    before = subject.set_up()  # set up by a deployment that went live, then stopped
    later = subject.target.export(environment=ENV).facts
    start(subject, GREEN, "v2", replicas=1)
    stopped(subject, GREEN)
    assert subject.target.remove_created(environment=ENV, before=None) == []  # no backup
    assert subject.target.remove_created(environment=ENV, before=later) == []
    assert subject.set_up() == before


def test_remove_created_changes_nothing_while_a_color_is_live(subject: Subject) -> None:
    first = subject.target.export(environment=ENV).facts
    live(subject, BLUE, "v1")
    before = subject.footprint()
    assert subject.target.remove_created(environment=ENV, before=first) == []
    assert subject.footprint() == before
