"""docs/configuration.md is generated from the models: it must match them."""

from __future__ import annotations

from pathlib import Path

from arxdeploy.config.reference import markdown

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_reference_doc_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), "run: arxdeploy schema --markdown > docs/configuration.md"


def test_every_seed_key_is_documented() -> None:
    text = markdown()
    for key in (
        "monitoring_duration",
        "traffic_switch_delay",
        "scale_down_delay",
        "failure_threshold",
        "progress_deadline",
        "custom_checks",
        "timeout_minutes",
        "auto_approve_staging",
    ):
        assert f"| `{key}` |" in text
