"""The alert rules shipped in deploy/prometheus: valid for Prometheus, and their unit tests pass
(promtool, the checker Prometheus ships)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("no `promtool`: apt-get install prometheus (scripts/install-test-deps.sh does)")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_rules_pass_promtool_check() -> None:
    done = promtool("check", "rules", "arxdeploy-rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_the_rules_unit_tests_pass() -> None:
    done = promtool("test", "rules", "arxdeploy-rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    # The unit tests see the thresholds: the waiting alert moved from 30 to 50 minutes fails them.
    for name in ("arxdeploy-rules.yml", "arxdeploy-rules.test.yml"):
        shutil.copy(RULES / name, tmp_path / name)
    rules = tmp_path / "arxdeploy-rules.yml"
    rules.write_text(rules.read_text().replace("> 1800", "> 3000"))
    done = promtool("test", "rules", "arxdeploy-rules.test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "alertname: ArxdeployApprovalWaitingTooLong, time: 35m" in done.stdout + done.stderr
