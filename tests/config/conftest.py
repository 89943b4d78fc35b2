"""Helpers for the config tests: the seed file, and writing and loading configs in tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from arxdeploy.config import LoadedConfig, load
from arxdeploy.errors import ConfigError

SEED = Path(__file__).parent / "fixtures" / "seed.yaml"
SEED_TEXT = SEED.read_text(encoding="utf-8")

Write = Callable[[str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write config text to tmp_path/deployment_config.yaml and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "deployment_config.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def load_text(write: Write, text: str, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    return load(write(text), environ or {})


def error_for(write: Write, text: str, environ: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(write(text), environ or {})
    return caught.value


def seed_with(*replacements: tuple[str, str]) -> str:
    """The seed text with each ``(old, new)`` applied; fails loudly if ``old`` is not there."""
    text = SEED_TEXT
    for old, new in replacements:
        assert old in text, f"{old!r} is not in the seed file"
        text = text.replace(old, new, 1)
    return text
