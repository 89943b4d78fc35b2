"""Inputs that once escaped as something other than a ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from arxdeploy.config import load
from arxdeploy.errors import ConfigError

SEED = Path(__file__).parent / "fixtures" / "seed.yaml"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "  endpoints: [/health, /api/health, /api/version, /api/metrics]",
            '  endpoints: ["\\ud800\\udc00"]',
            "health_checks.endpoints[0]",
        ),
        ("  endpoints: [/health, /api/health, /api/version, /api/metrics]", '  "\\ud800x": 1', "health_checks"),
    ],
)
def test_lone_surrogate_escapes_are_config_errors(tmp_path: Path, old: str, new: str, key: str) -> None:
    text = SEED.read_text()
    assert old in text
    path = tmp_path / "deployment_config.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    [problem] = caught.value.problems
    assert (problem.key, problem.line) == (key, 30)
    str(caught.value).encode()  # the message itself must be printable
