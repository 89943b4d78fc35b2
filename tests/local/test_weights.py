"""Weights: a share of the requests to the candidate, sticky per client if asked, atomic under load."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError, UsageError
from arxdeploy.targets.local.client import LocalTarget
from tests.fixtures.local import ENV, Local
from tests.local.load import Change, check_changes, steady_load


def versions(url: str, count: int, **headers: str) -> Counter[str]:
    with httpx.Client(base_url=url, headers=headers) as http:
        return Counter(str(http.get("/api/version").json()["version"]) for _ in range(count))


def blue_live_green_candidate(local: Local, **spec: str) -> LocalTarget:
    target = local.target(**spec)
    local.start(target, "blue", "v1")
    local.start(target, "green", "v2")
    target.switch(environment=ENV, color=Color.BLUE)
    return target


def test_a_weight_sends_exactly_that_share_of_requests_to_the_candidate(local: Local) -> None:
    target = blue_live_green_candidate(local)
    assert target.weights(environment=ENV) == {Color.BLUE: 100}

    target.set_weight(environment=ENV, color=Color.GREEN, weight=10)
    assert target.weights(environment=ENV) == {Color.BLUE: 90, Color.GREEN: 10}
    assert versions(local.url, 100) == {"v1": 90, "v2": 10}  # requests take turns: 10 in every 100
    assert versions(local.url, 300) == {"v1": 270, "v2": 30}

    target.set_weight(environment=ENV, color=Color.GREEN, weight=100)  # all new requests, not live yet
    assert versions(local.url, 20) == {"v2": 20}
    assert target.inspect(environment=ENV).live_color == Color.BLUE

    target.set_weight(environment=ENV, color=Color.GREEN, weight=0)
    assert target.weights(environment=ENV) == {Color.BLUE: 100}
    assert versions(local.url, 20) == {"v1": 20}


def test_a_sticky_header_keeps_each_client_on_its_color(local: Local) -> None:
    target = blue_live_green_candidate(local, sticky_header="X-User")
    target.set_weight(environment=ENV, color=Color.GREEN, weight=50)
    seen = {user: versions(local.url, 10, **{"X-User": user}) for user in (f"user-{n}" for n in range(20))}
    assert all(len(answers) == 1 for answers in seen.values()), seen  # never flips
    assert {version for answers in seen.values() for version in answers} == {"v1", "v2"}
    # Raising the weight moves clients to the candidate only, never back.
    target.set_weight(environment=ENV, color=Color.GREEN, weight=80)
    for user, answers in seen.items():
        if "v2" in answers:
            assert versions(local.url, 5, **{"X-User": user}) == {"v2": 5}
    # The preview header still picks the color, sticky or not.
    assert versions(local.url, 5, **{"X-User": "user-1", "X-Arxdeploy-Color": "blue"}) == {"v1": 5}
    assert versions(local.url, 5, **{"X-User": "user-1", "X-Arxdeploy-Color": "green"}) == {"v2": 5}


def test_a_sticky_cookie_keeps_each_client_on_its_color(local: Local) -> None:
    target = blue_live_green_candidate(local, sticky_cookie="session")
    target.set_weight(environment=ENV, color=Color.GREEN, weight=50)
    colors = set()
    for n in range(20):
        answers = versions(local.url, 6, Cookie=f"theme=dark; session=s{n}")
        assert len(answers) == 1, answers
        colors |= set(answers)
    assert colors == {"v1", "v2"}
    assert versions(local.url, 100) == {"v1": 50, "v2": 50}  # no cookie: requests take turns
    assert target.inspect(environment=ENV).live_color == Color.BLUE


def test_weight_changes_under_load_fail_no_request(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1", replicas=2)
    local.start(target, "green", "v2", replicas=2)
    target.switch(environment=ENV, color=Color.BLUE)
    changes = []
    with steady_load(local.url) as load:
        for weight in (10, 50, 100, 0, 100, 30, 0):
            load.more()
            called = time.monotonic()
            target.set_weight(environment=ENV, color=Color.GREEN, weight=weight)
            expect = {"v1"} if weight == 0 else {"v2"} if weight == 100 else {"v1", "v2"}
            changes.append(Change(called, time.monotonic(), frozenset(expect)))
        load.more(what="requests after the last change")
    assert not load.failures(), load.failures()[:5]
    check_changes(load, changes)  # after weight 100 only v2, after weight 0 only v1
    assert {"v1", "v2"} <= {s.version for s in load.samples}


def test_a_switch_ends_the_split(local: Local) -> None:
    target = blue_live_green_candidate(local)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=30)
    target.switch(environment=ENV, color=Color.GREEN)
    assert target.weights(environment=ENV) == {Color.GREEN: 100}
    assert versions(local.url, 20) == {"v2": 20}
    target.set_weight(environment=ENV, color=Color.BLUE, weight=20)  # a rollback can be tried on a share too
    target.switch(environment=ENV, color=Color.GREEN)  # switching to the live color ends the split as well
    assert target.weights(environment=ENV) == {Color.GREEN: 100}


def test_stopping_the_weighted_color_takes_its_weight_away_first(local: Local) -> None:
    target = blue_live_green_candidate(local)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=50)
    with steady_load(local.url) as load:
        load.more()
        target.stop_color(environment=ENV, color=Color.GREEN, drain_timeout=timedelta(seconds=10))
        returned = time.monotonic()
        load.more(what="requests after the stop")
    assert not load.failures(), load.failures()[:5]
    assert set(load.between(returned, float("inf"))) == {"v1"}
    assert target.weights(environment=ENV) == {Color.BLUE: 100}


def test_weights_that_cannot_be_are_refused(local: Local) -> None:
    target = local.target()
    with pytest.raises(TargetError, match="not running"):  # no runtime at all
        target.set_weight(environment=ENV, color=Color.GREEN, weight=10)
    local.start(target, "blue", "v1")
    with pytest.raises(TargetError, match="no live color to share the traffic with"):
        target.set_weight(environment=ENV, color=Color.BLUE, weight=10)
    target.switch(environment=ENV, color=Color.BLUE)
    with pytest.raises(TargetError, match="staging/blue is live"):
        target.set_weight(environment=ENV, color=Color.BLUE, weight=10)
    with pytest.raises(TargetError, match="staging/green has no running replica"):
        target.set_weight(environment=ENV, color=Color.GREEN, weight=10)
    for weight in (-1, 101):
        with pytest.raises(UsageError, match="is not a percentage"):
            target.set_weight(environment=ENV, color=Color.GREEN, weight=weight)
    answer = local.control("POST", f"/v1/environments/{ENV}/weight", json={"color": "green", "weight": 101})
    assert answer.status_code == 400
    assert answer.json()["error"] == "weight is a percentage of the requests, from 0 to 100, not 101"
    assert target.weights(environment=ENV) == {Color.BLUE: 100}
