"""The GitHub Actions adapter: event file in; outputs, summary and annotations out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arxdeploy.cli import github
from arxdeploy.errors import ArxdeployError

from .outputs import parse_outputs


def test_in_actions_only_when_github_says_so() -> None:
    assert github.in_actions({"GITHUB_ACTIONS": "true"})
    assert not github.in_actions({"GITHUB_ACTIONS": "false"})
    assert not github.in_actions({})


def test_read_event_is_empty_when_absent_unreadable_or_not_an_object(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    assert github.read_event({}) == {}
    assert github.read_event({"GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}) == {}
    event.write_text("{not json", encoding="utf-8")
    assert github.read_event({"GITHUB_EVENT_PATH": str(event)}) == {}
    event.write_text("[1, 2]", encoding="utf-8")
    assert github.read_event({"GITHUB_EVENT_PATH": str(event)}) == {}
    event.write_text(json.dumps({"inputs": {"environment": "staging"}}), encoding="utf-8")
    assert github.read_event({"GITHUB_EVENT_PATH": str(event)}) == {"inputs": {"environment": "staging"}}


def test_outputs_are_appended_and_multiline_values_use_a_random_heredoc_delimiter(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier=kept\n", encoding="utf-8")
    environ = {"GITHUB_OUTPUT": str(out)}
    tricky = "line one\nversion=injected\nEOF\r\nlast"
    github.write_outputs(environ, {"action": "deploy", "reason": tricky, "empty": ""})
    github.write_outputs(environ, {"other": "a=b<<c"})
    text = out.read_text(encoding="utf-8")
    assert "action=deploy\n" in text and "reason<<ghadelimiter_" in text
    assert parse_outputs(out) == {
        "earlier": "kept",
        "action": "deploy",
        "reason": tricky.replace("\r\n", "\n"),  # the runner reads lines: CR LF ends one as LF does
        "empty": "",
        "other": "a=b<<c",
    }
    github.write_outputs(environ, {"reason": "a\nb"})
    delimiters = [line.split("<<", 1)[1] for line in out.read_text().splitlines() if line.startswith("reason<<")]
    assert len(set(delimiters)) == 2


def test_outside_a_runner_nothing_is_written() -> None:
    github.write_outputs({}, {"action": "deploy"})
    github.write_summary({}, "# nothing")


def test_an_unwritable_output_file_is_an_error_that_says_which(tmp_path: Path) -> None:
    with pytest.raises(ArxdeployError, match=r"cannot write \$GITHUB_OUTPUT"):
        github.write_outputs({"GITHUB_OUTPUT": str(tmp_path / "no" / "such" / "dir")}, {"a": "b"})


def test_the_summary_is_appended_with_a_final_line_break(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    github.write_summary({"GITHUB_STEP_SUMMARY": str(summary)}, "one")
    github.write_summary({"GITHUB_STEP_SUMMARY": str(summary)}, "two\n")
    assert summary.read_text(encoding="utf-8") == "one\ntwo\n"


def test_annotate_error_escapes_the_message_and_only_speaks_inside_actions(capsys: pytest.CaptureFixture[str]) -> None:
    github.annotate_error("bad\nthing: 100%\r", environ={})
    assert capsys.readouterr().out == ""
    github.annotate_error("bad\nthing: 100%\r", environ={"GITHUB_ACTIONS": "true"})
    assert capsys.readouterr().out == "::error title=arxdeploy::bad%0Athing: 100%25%0D\n"


def test_properties_also_escape_colons_and_commas() -> None:
    line = github.command("warning", "m", title="a:b,c%", file="x.yaml")
    assert line == "::warning title=a%3Ab%2Cc%25,file=x.yaml::m"


def test_run_url_needs_all_three_variables() -> None:
    environ = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/api", "GITHUB_RUN_ID": "42"}
    assert github.run_url(environ) == "https://github.com/acme/api/actions/runs/42"
    assert github.run_url({**environ, "GITHUB_RUN_ID": ""}) is None
