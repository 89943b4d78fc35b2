"""The split as values: which color a request takes, by turn or by a sticky key."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arxdeploy.targets.local.split import Split, Sticky, cookie_value, sticky_slot


def test_without_a_candidate_every_request_goes_to_the_live_color() -> None:
    assert {Split("blue").choose(turn, None) for turn in range(200)} == {"blue"}
    assert {Split("blue", "green", 0).choose(turn, b"key") for turn in range(200)} == {"blue"}
    assert Split(None).choose(0, None) is None


@given(start=st.integers(min_value=0, max_value=10**9), weight=st.integers(min_value=0, max_value=100))
def test_every_hundred_consecutive_turns_split_exactly_by_weight(start: int, weight: int) -> None:
    split = Split("blue", "green", weight)
    counts = Counter(split.choose(turn, None) for turn in range(start, start + 100))
    assert counts["green"] == weight
    assert counts["blue"] == 100 - weight


def test_a_small_weight_is_spread_out_not_bunched() -> None:
    split = Split("blue", "green", 10)
    candidates = [turn for turn in range(100) if split.choose(turn, None) == "green"]
    gaps = [b - a for a, b in pairwise(candidates)]
    assert max(gaps) <= 19  # never a run of 18 live answers between two candidate ones


def test_a_sticky_key_keeps_its_color_whatever_the_turn() -> None:
    split = Split("blue", "green", 50)
    for key in (b"alice", b"bob", b"carol", b"dave"):
        assert len({split.choose(turn, key) for turn in range(50)}) == 1


def test_sticky_keys_spread_by_weight() -> None:
    split = Split("blue", "green", 20)
    counts = Counter(split.choose(0, f"user-{n}".encode()) for n in range(5000))
    assert 0.17 < counts["green"] / 5000 < 0.23


@given(key=st.binary(max_size=64), low=st.integers(0, 100), high=st.integers(0, 100))
def test_raising_the_weight_only_moves_clients_to_the_candidate(key: bytes, low: int, high: int) -> None:
    low, high = sorted((low, high))
    before = Split("blue", "green", low).choose(0, key)
    after = Split("blue", "green", high).choose(0, key)
    assert (before, after) != ("green", "blue")


def test_the_sticky_slot_is_stable_across_processes_and_runs() -> None:
    # CRC-32, not Python's hash(): the same client lands in the same slot after a runtime restart.
    assert sticky_slot(b"alice") == 35
    assert sticky_slot(b"") == 0


@pytest.mark.parametrize("weight", [-1, 101])
def test_a_weight_outside_0_to_100_is_refused(weight: int) -> None:
    with pytest.raises(ValueError, match="percentage from 0 to 100"):
        Split("blue", "green", weight)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (b"session=abc", b"abc"),
        (b"theme=dark; session=abc; lang=en", b"abc"),
        (b'session="quoted"', b"quoted"),
        (b"mysession=x; session = y ", b"y"),
        (b"other=1", None),
        (b"session", None),
    ],
)
def test_the_sticky_cookie_is_read_from_the_cookie_header(header: bytes, value: bytes | None) -> None:
    assert cookie_value(header, b"session") == value


def test_sticky_reads_exactly_one_valid_name() -> None:
    assert Sticky(header="X-User-Id").as_dict() == {"header": "X-User-Id"}
    assert Sticky(cookie="session").as_dict() == {"cookie": "session"}
    with pytest.raises(ValueError, match="either a header or a cookie"):
        Sticky()
    with pytest.raises(ValueError, match="either a header or a cookie"):
        Sticky(header="a", cookie="b")
    with pytest.raises(ValueError, match="not a valid header name"):
        Sticky(header="X User")
