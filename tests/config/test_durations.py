"""Durations: numbers of seconds or short strings, never negative, never garbage."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from arxdeploy.config.durations import PATTERN, Duration, format_duration

ADAPTER: TypeAdapter[timedelta] = TypeAdapter(Duration)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (30, timedelta(seconds=30)),
        (0, timedelta(0)),
        (1.5, timedelta(seconds=1.5)),
        ("30", timedelta(seconds=30)),
        ("2.5", timedelta(seconds=2.5)),
        ("30s", timedelta(seconds=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("2m30s", timedelta(seconds=150)),
        ("1h0m5s250ms", timedelta(hours=1, seconds=5, milliseconds=250)),
        ("1.5h", timedelta(minutes=90)),
        ("0s", timedelta(0)),
        ("1d", timedelta(days=1)),
        ("90d", timedelta(days=90)),
        ("1d12h", timedelta(hours=36)),
        ("0.5d", timedelta(hours=12)),
    ],
)
def test_valid(given: object, expected: timedelta) -> None:
    assert ADAPTER.validate_python(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "10x",
        "-5",
        "-5s",
        "",
        " ",
        "5 m",
        "m",
        "1m1h",
        "5S",
        "1h1d",
        "d",
        "5D",
        "ms",
        "1.s",
        ".5s",
        "5m5m",
        "inf",
        "nan",
        "1e3",
    ],
)
def test_invalid_text(given: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ADAPTER.validate_python(given)
    message = caught.value.errors()[0]["msg"]
    assert message == f'"{given}" is not a duration; use a number of seconds or 500ms, 30s, 5m, 1h, 90d'


@pytest.mark.parametrize("given", [-1, -0.5, float("inf"), float("nan"), 2**100, True, False, None, [], {}])
def test_invalid_values(given: object) -> None:
    with pytest.raises(ValidationError, match="is not a duration"):
        ADAPTER.validate_python(given)


@pytest.mark.parametrize("given", [1e300, "8784h1s", "367d", 10**9, "9" * 20])
def test_too_long(given: object) -> None:
    with pytest.raises(ValidationError, match="is too long; the most is 366 days"):
        ADAPTER.validate_python(given)
    assert ADAPTER.validate_python("8784h") == timedelta(days=366) == ADAPTER.validate_python("366d")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=2), "2h"),
        (timedelta(seconds=1.25), "1.25s"),
        (timedelta(hours=1, milliseconds=500), "1h0.5s"),
    ],
)
def test_format_round_trips(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert ADAPTER.validate_python(text) == value
    assert ADAPTER.dump_python(value, mode="json") == text


@pytest.mark.parametrize(
    ("text", "matches"), [("30", True), ("1h30m", True), ("500ms", True), ("", False), ("10x", False)]
)
def test_schema_pattern_agrees_with_the_parser(text: str, matches: bool) -> None:
    assert bool(re.fullmatch(PATTERN, text)) is matches


def test_json_schema() -> None:
    schema = ADAPTER.json_schema()
    assert schema["anyOf"] == [{"type": "number", "minimum": 0}, {"type": "string", "pattern": PATTERN}]
    assert schema["description"]
