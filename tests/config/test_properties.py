"""Whatever bytes the file holds, ``load`` succeeds or raises ConfigError pointing into the file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arxdeploy.config import load
from arxdeploy.errors import ConfigError

from .conftest import SEED_TEXT

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis folder in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the file is rewritten on every example
)
ENVIRON = {"HOME": "/home/arx", "EMPTY": "", "PORT": "8080", "TOKEN": "s3cr3t-token"}


def line_count(raw: bytes) -> int:
    """An upper bound on what YAML may call the last line: every break any decoder would see."""
    try:
        lines = len(raw.decode("utf-8-sig").splitlines())
    except UnicodeDecodeError:
        lines = len(raw.splitlines())
    return max(1, lines)


def assert_loads_or_points_into_the_file(path: Path, raw: bytes) -> None:
    path.write_bytes(raw)
    try:
        load(path, ENVIRON)
    except ConfigError as error:
        assert error.problems
        last = line_count(raw)
        for problem in error.problems:
            assert problem.file == str(path)
            assert problem.line is None or 1 <= problem.line <= last, (problem, last)
            assert problem.message
            assert "s3cr3t-token" not in str(problem)


# --- arbitrary input ------------------------------------------------------------------------

YAMLISH = st.sampled_from(
    [":", " ", "\n", "-", "[", "]", "{", "}", ",", "&a", "*a", "!!", "<<", "#", "'", '"', "${", "}", "\t",
     "service", "environments", "replicas", "staging", "1", "true", "~", "---", "...", "?", "|", ">"]
)  # fmt: skip


@PROPERTY
@given(st.binary(max_size=400))
def test_arbitrary_bytes(tmp_path: Path, raw: bytes) -> None:
    assert_loads_or_points_into_the_file(tmp_path / "c.yaml", raw)


@PROPERTY
@given(st.text(max_size=400))
def test_arbitrary_text(tmp_path: Path, text: str) -> None:
    assert_loads_or_points_into_the_file(tmp_path / "c.yaml", text.encode("utf-8", "surrogatepass"))


@PROPERTY
@given(st.lists(st.one_of(YAMLISH, st.text(max_size=5)), max_size=80))
def test_yaml_like_text(tmp_path: Path, tokens: list[str]) -> None:
    assert_loads_or_points_into_the_file(tmp_path / "c.yaml", "".join(tokens).encode("utf-8", "surrogatepass"))


# --- mutations of the seed file ----------------------------------------------------------------

SEED_LINES = SEED_TEXT.splitlines(keepends=True)
SEED_DATA = yaml.safe_load(SEED_TEXT)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # only to build inputs fast; loading stays pure
KEY_LINES = [i for i, line in enumerate(SEED_LINES) if ":" in line]
SCALARS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats().map(str),
    st.sampled_from(["true", "no", "~", "null", "", "[]", "{}", "-1", "0", "1h30m", "10x", "${TOKEN}",
                     "${MISSING}", "${PORT:-1}", "$${X}", "'quoted'", '"unterminated', "*nowhere", "&a x",
                     "!!binary aGk=", "!!python/none", "2024-02-30", "0x1F", "1:30", "[a, b", "v*"]),
    st.text(max_size=12),
)  # fmt: skip
NAMES = st.one_of(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12), st.text(max_size=6))


@st.composite
def mutated_seed(draw: st.DrawFn) -> str:
    lines = list(SEED_LINES)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.sampled_from(KEY_LINES))
        if index >= len(lines) or ":" not in lines[index]:
            continue
        line = lines[index]
        indent = line[: len(line) - len(line.lstrip(" -"))]
        key, _, value = line.strip().lstrip("- ").partition(":")
        action = draw(st.sampled_from(["delete", "rename", "value", "duplicate"]))
        if action == "delete":
            del lines[index]
        elif action == "rename":
            lines[index] = f"{indent}{draw(NAMES)}:{value}\n"
        elif action == "value":
            lines[index] = f"{indent}{key}: {draw(SCALARS)}\n"
        else:
            lines.insert(index, line)
    return "".join(lines)


@st.composite
def mutated_seed_data(draw: st.DrawFn) -> str:
    """Mutations of the parsed seed, dumped back: always valid YAML, so validation gets exercised."""
    data = copy.deepcopy(SEED_DATA)
    for _ in range(draw(st.integers(1, 3))):
        parent, key = _pick(draw, data)
        if parent is None:
            continue
        action = draw(st.sampled_from(["delete", "rename", "value"]))
        if action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(NAMES)] = parent.pop(key)
        else:
            parent[key] = draw(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)))
    return yaml.dump(data, Dumper=DUMPER, sort_keys=False)


def _pick(draw: st.DrawFn, data: Any) -> tuple[Any, Any]:
    """A random (container, key) somewhere in ``data``."""
    parent, key = None, None
    node = data
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, draw(st.sampled_from(keys))
        node = node[key]
        if draw(st.booleans()):
            break
    return parent, key


@PROPERTY
@given(mutated_seed())
def test_mutated_seed_text(tmp_path: Path, text: str) -> None:
    assert_loads_or_points_into_the_file(tmp_path / "c.yaml", text.encode())


@PROPERTY
@given(mutated_seed_data())
def test_mutated_seed_data(tmp_path: Path, text: str) -> None:
    assert_loads_or_points_into_the_file(tmp_path / "c.yaml", text.encode())


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        b"a: 1\r\rb: [\r",
        "a: 1\u2028b: [\u2028".encode(),
        b"a: " + b"9" * 5000,
        b"service: 0x" + b"f" * 5000 + b"\nenvironments: {a: {replicas: 0x" + b"f" * 5000 + b"}}\n",
        b"service: 1" + b":59" * 3000 + b"\n",
        b"service: d\ntarget: {type: local, local: {command: [a], drain_timeout: 0x" + b"f" * 5000 + b"}}\n",
        b"service: d\nenvironments: {a: {replicas: .nan, resources: {limits: {cpu: 0x" + b"f" * 5000 + b"}}}}\n",
        b"a: !!binary '!!'",
        b"a: 2024-02-30",
        b"a: ._",
        b"? [a]\n: 1\n",
        b"<<: 1\n",
        b"<<: [1, {a: 1}]\nservice: x\n",
        b"!!set {a}\n",
        b"a: !!omap [x]\n",
        b"a: =\n",
        b"service: demo\n" + b"a: &a [" + b"*a, " * 3 + b"]\n",
    ],
)
def test_known_awkward_inputs(tmp_path: Path, raw: bytes) -> None:
    assert_loads_or_points_into_the_file(tmp_path / "c.yaml", raw)


# --- secrets ----------------------------------------------------------------------------------

# Letters that appear in no key or path of these tests, so any sighting of the secret is a leak.
SECRETS = st.text(alphabet="QZXJ#%~\\\"'{}[]:,é€ \n\t0123456789", min_size=2, max_size=20).map(lambda s: "Q" + s)
VALUE_LINES = [i for i in KEY_LINES if SEED_LINES[i].split(":", 1)[1].strip()]


@PROPERTY
@given(st.lists(st.sampled_from(VALUE_LINES), min_size=1, max_size=3, unique=True), SECRETS)
def test_a_secret_in_any_field_never_appears(tmp_path: Path, indexes: list[int], secret: str) -> None:
    lines = list(SEED_LINES)
    for index in indexes:
        key = lines[index].split(":", 1)[0]
        lines[index] = f"{key}: 'x${{S}}'\n" if index % 2 else f"{key}: '${{S}}'\n"
    path = tmp_path / "c.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    try:
        loaded = load(path, {"S": secret})
    except ConfigError as error:
        shown = str(error) + repr(error.problems)
        assert secret not in shown
        assert repr(secret)[1:-1] not in shown
    else:
        assert secret in loaded.secrets
