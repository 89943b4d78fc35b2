"""The validated config reading commands keep between runs (``config.cache``): used only when made
from the same inputs, never holding a secret, never unpickled from an entry someone else could write."""

from __future__ import annotations

import dataclasses
import os
import pickle
import stat
from pathlib import Path

import pytest

from arxdeploy.config import cache, load
from arxdeploy.errors import ConfigError

from .conftest import Write

CONFIG = """\
service: demo
target:
  type: local
  local:
    command: [app]
environments:
  staging:
    replicas: ${REPLICAS:-2}
"""


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"ARXDEPLOY_CACHE_DIR": str(tmp_path / "cache")}


def entries(environ: dict[str, str]) -> list[Path]:
    return sorted((Path(environ["ARXDEPLOY_CACHE_DIR"]) / "config").glob("*.pickle"))


def test_a_second_read_takes_what_the_first_validated(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    first = load(path, environ, cached=True)
    (entry,) = entries(environ)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700

    second = load(path, environ, cached=True)
    assert second is not first  # read back from the entry, not kept in this process
    assert (second.config, second.resolved, dict(second.lines)) == (first.config, first.resolved, dict(first.lines))
    assert second.config.environments["staging"].replicas == 2
    assert second.line_of("environments", "staging", "replicas") == 8


def test_an_edited_file_is_validated_again(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    load(path, environ, cached=True)
    write(CONFIG.replace("${REPLICAS:-2}", "3"))
    assert load(path, environ, cached=True).config.environments["staging"].replicas == 3

    write(CONFIG.replace("${REPLICAS:-2}", "zero"))
    with pytest.raises(ConfigError) as caught:
        load(path, environ, cached=True)
    assert caught.value.problems[0].key == "environments.staging.replicas"


def test_a_value_from_the_environment_is_never_kept(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG.replace("command: [app]", "command: [app, --token, '${TOKEN:-none}']"))
    secret = "tok-7f3a9c1e5b"
    loaded = load(path, {**environ, "TOKEN": secret}, cached=True)
    assert secret in loaded.config.target.local.command
    assert entries(environ) == []  # nothing written, so nothing to leak

    unset = load(path, environ, cached=True)  # TOKEN unset: nothing from the environment, kept
    assert unset.config.target.local.command == ["app", "--token", "none"]
    (entry,) = entries(environ)
    assert load(path, {**environ, "TOKEN": secret}, cached=True).config.target.local.command[-1] == secret
    assert secret.encode() not in entry.read_bytes()


def test_a_variable_that_changes_changes_the_key(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    raw = path.read_bytes()
    assert cache.key(path, raw, environ) == cache.key(path, raw, {**environ, "OTHER": "x"})
    assert cache.key(path, raw, environ) != cache.key(path, raw, {**environ, "REPLICAS": ""})
    assert cache.key(path, raw, {**environ, "REPLICAS": "4"}) is None
    assert load(path, {**environ, "REPLICAS": "4"}, cached=True).config.environments["staging"].replicas == 4
    assert cache.key(path.with_name("other.yaml"), raw, environ) != cache.key(path, raw, environ)


def test_an_entry_another_user_could_have_written_is_not_unpickled(
    write: Write, environ: dict[str, str], tmp_path: Path
) -> None:
    path = write(CONFIG)
    load(path, environ, cached=True)
    (entry,) = entries(environ)
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    made_from = cache.key(path.resolve(), path.read_bytes(), environ)
    assert made_from is not None
    entry.write_bytes(made_from + b"\n" + pickle.dumps(Payload()))
    entry.chmod(0o664)  # group-writable
    assert load(path, environ, cached=True).config.service == "demo"
    assert not marker.exists()


def test_a_broken_entry_is_a_miss_and_is_replaced(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    load(path, environ, cached=True)
    (entry,) = entries(environ)
    made_from = entry.read_bytes().split(b"\n", 1)[0]
    entry.write_bytes(made_from + b"\nnot a pickle")
    assert load(path, environ, cached=True).config.service == "demo"
    assert entry.read_bytes().split(b"\n", 1)[0] == made_from and pickle.loads(entry.read_bytes().split(b"\n", 1)[1])


def test_other_code_reads_no_entry_of_this_one(
    write: Write, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(CONFIG)
    before = cache.key(path, path.read_bytes(), environ)
    monkeypatch.setattr(cache, "_code_fingerprint", lambda: "config/models.py:1:2")  # an upgraded arxdeploy
    assert cache.key(path, path.read_bytes(), environ) != before


def test_only_reads_take_an_entry_and_every_load_keeps_one(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    load(path, environ)  # deploy, rollback, validate...: validate the file, and keep what they validated
    (entry,) = entries(environ)
    made_from, kept = entry.read_bytes().split(b"\n", 1)
    altered = dataclasses.replace(pickle.loads(kept), digest="altered")
    entry.write_bytes(made_from + b"\n" + pickle.dumps(altered))

    assert load(path, environ, cached=True).digest == "altered"  # a read takes the entry as it is...
    assert load(path, environ).digest != "altered"  # ...a change never does


def test_a_cache_turned_off_or_without_a_home_keeps_nothing(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    load(path, {**environ, "ARXDEPLOY_CACHE_DIR": "off"}, cached=True)
    load(path, {}, cached=True)
    assert entries(environ) == []
    assert cache.folder({"HOME": "/home/ops"}) == Path("/home/ops/.cache/arxdeploy")
    assert cache.folder({"HOME": "/home/ops", "XDG_CACHE_HOME": "/var/cache/ops"}) == Path("/var/cache/ops/arxdeploy")
