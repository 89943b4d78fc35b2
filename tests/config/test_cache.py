"""What reading commands take of a validated config, kept between runs (``config.cache``,
``config.essentials``): used only when made from the same inputs, never holding a secret, never
unpickled from an entry someone else could write."""

from __future__ import annotations

import dataclasses
import os
import pickle
import stat
from pathlib import Path

import pytest

from arxdeploy.config import cache, load
from arxdeploy.config.essentials import Essentials, essentials_of, for_reading
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


def read(path: Path, environ: dict[str, str]) -> Essentials:
    return for_reading(path, environ)[0]


def test_a_second_read_takes_what_the_first_validated(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    first, validated = for_reading(path, environ)
    assert validated is not None and first == essentials_of(validated)
    (entry,) = entries(environ)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700

    second, validated = for_reading(path, environ)
    assert validated is None  # taken from the entry: nothing validated
    assert second == first and second is not first
    assert second.plan("staging").replicas == 2
    assert second.resolved == load(path, environ).resolved  # what approvals bind to, unchanged


def test_an_edited_file_is_validated_again(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    read(path, environ)
    write(CONFIG.replace("${REPLICAS:-2}", "3"))
    assert read(path, environ).plan("staging").replicas == 3

    write(CONFIG.replace("${REPLICAS:-2}", "zero"))
    with pytest.raises(ConfigError) as caught:
        read(path, environ)
    assert caught.value.problems[0].key == "environments.staging.replicas"


def test_a_value_from_the_environment_is_never_kept(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG.replace("command: [app]", "command: [app, --token, '${TOKEN:-none}']"))
    secret = "tok-7f3a9c1e5b"
    assert read(path, {**environ, "TOKEN": secret}).local["staging"].command[-1] == secret
    assert entries(environ) == []  # nothing written, so nothing to leak

    assert read(path, environ).local["staging"].command == ("app", "--token", "none")  # unset: kept
    (entry,) = entries(environ)
    assert read(path, {**environ, "TOKEN": secret}).local["staging"].command[-1] == secret
    assert secret.encode() not in entry.read_bytes()


def test_a_variable_that_changes_changes_the_key(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    raw = path.read_bytes()
    assert cache.key(path, raw, environ) == cache.key(path, raw, {**environ, "OTHER": "x"})
    assert cache.key(path, raw, environ) != cache.key(path, raw, {**environ, "REPLICAS": ""})
    assert cache.key(path, raw, {**environ, "REPLICAS": "4"}) is None
    assert read(path, {**environ, "REPLICAS": "4"}).plan("staging").replicas == 4
    assert cache.key(path.with_name("other.yaml"), raw, environ) != cache.key(path, raw, environ)


def test_an_entry_another_user_could_have_written_is_not_unpickled(
    write: Write, environ: dict[str, str], tmp_path: Path
) -> None:
    path = write(CONFIG)
    read(path, environ)
    (entry,) = entries(environ)
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    made_from = cache.key(path.resolve(), path.read_bytes(), environ)
    assert made_from is not None
    entry.write_bytes(made_from + b"\n" + pickle.dumps(Payload()))
    entry.chmod(0o664)  # group-writable
    assert read(path, environ).service == "demo"
    assert not marker.exists()


def test_a_broken_entry_is_a_miss_and_is_replaced(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    read(path, environ)
    (entry,) = entries(environ)
    made_from = entry.read_bytes().split(b"\n", 1)[0]
    entry.write_bytes(made_from + b"\nnot a pickle")
    assert read(path, environ).service == "demo"
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
    altered = dataclasses.replace(pickle.loads(kept), service="altered")
    entry.write_bytes(made_from + b"\n" + pickle.dumps(altered))

    assert read(path, environ).service == "altered"  # a read takes the entry as it is...
    # ...and a read that needs the models too (the Kubernetes target) validates without writing
    assert load(path, environ, keep=False).config.service == "demo"
    assert read(path, environ).service == "altered"
    assert load(path, environ).config.service == "demo"  # a change never takes an entry, and keeps one
    assert read(path, environ).service == "demo"


def test_a_cache_turned_off_or_without_a_home_keeps_nothing(write: Write, environ: dict[str, str]) -> None:
    path = write(CONFIG)
    read(path, {**environ, "ARXDEPLOY_CACHE_DIR": "off"})
    read(path, {})
    assert entries(environ) == []
    assert cache.folder({"HOME": "/home/ops"}) == Path("/home/ops/.cache/arxdeploy")
    assert cache.folder({"HOME": "/home/ops", "XDG_CACHE_HOME": "/var/cache/ops"}) == Path("/var/cache/ops/arxdeploy")
