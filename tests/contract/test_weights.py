"""``Target.set_weight``: a share of the traffic to a color beside the live one, reported by
``inspect``. The fake and the local target split traffic; the Kubernetes target's Service
selects one color, so it refuses clearly until the Gateway API router gives it weights.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError, UsageError

from .conftest import ENV, Subject
from .test_target import live, says_which, start

BLUE, GREEN = Color.BLUE, Color.GREEN
SPLITTING = pytest.mark.parametrize("subject", ["fake", "local"], indirect=True)


@SPLITTING
def test_set_weight_splits_new_requests_and_inspect_reports_the_split(subject: Subject) -> None:
    live(subject, BLUE, "v1")
    start(subject, GREEN, "v2", replicas=1)
    assert subject.target.inspect(environment=ENV).weights == {BLUE: 100}
    subject.target.set_weight(environment=ENV, color=GREEN, weight=10)
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, state.weights) == (BLUE, {BLUE: 90, GREEN: 10})
    subject.target.set_weight(environment=ENV, color=GREEN, weight=10)  # idempotent
    assert subject.target.inspect(environment=ENV).weights == {BLUE: 90, GREEN: 10}
    subject.target.set_weight(environment=ENV, color=GREEN, weight=100)
    assert subject.target.inspect(environment=ENV).weights == {GREEN: 100}
    subject.target.set_weight(environment=ENV, color=GREEN, weight=0)  # ends the split
    assert subject.target.inspect(environment=ENV).weights == {BLUE: 100}


@SPLITTING
def test_a_switch_and_stopping_the_weighted_color_end_the_split(subject: Subject) -> None:
    live(subject, BLUE, "v1")
    start(subject, GREEN, "v2", replicas=1)
    subject.target.set_weight(environment=ENV, color=GREEN, weight=30)
    subject.target.stop_color(environment=ENV, color=GREEN, drain_timeout=timedelta(seconds=1))
    assert subject.target.inspect(environment=ENV).weights == {BLUE: 100}
    start(subject, GREEN, "v2", replicas=1)
    subject.target.set_weight(environment=ENV, color=GREEN, weight=30)
    subject.target.switch(environment=ENV, color=GREEN)
    state = subject.target.inspect(environment=ENV)
    assert (state.live_color, state.weights) == (GREEN, {GREEN: 100})


@SPLITTING
def test_set_weight_on_the_live_color_or_one_that_does_not_run_is_refused_and_changes_nothing(
    subject: Subject,
) -> None:
    live(subject, BLUE, "v1")
    before = subject.footprint()
    for color in (BLUE, GREEN):
        with pytest.raises(TargetError) as refused:
            subject.target.set_weight(environment=ENV, color=color, weight=10)
        assert says_which(refused, color)
    assert subject.footprint() == before
    assert subject.target.inspect(environment=ENV).weights == {BLUE: 100}


@SPLITTING
@pytest.mark.parametrize("weight", [-1, 101, True])
def test_a_weight_outside_0_to_100_is_refused(subject: Subject, weight: int) -> None:
    live(subject, BLUE, "v1")
    start(subject, GREEN, "v2", replicas=1)
    with pytest.raises(UsageError, match="percentage"):
        subject.target.set_weight(environment=ENV, color=GREEN, weight=weight)
    assert subject.target.inspect(environment=ENV).weights == {BLUE: 100}


@pytest.mark.parametrize("subject", ["kubernetes"], indirect=True)
def test_the_kubernetes_service_switch_refuses_weights_clearly_and_changes_nothing(subject: Subject) -> None:
    live(subject, BLUE, "v1")
    start(subject, GREEN, "v2", replicas=1)
    before = subject.footprint()
    with pytest.raises(UsageError) as refused:
        subject.target.set_weight(environment=ENV, color=GREEN, weight=10)
    assert ENV in refused.value.message and "green" in refused.value.message
    assert subject.footprint() == before
