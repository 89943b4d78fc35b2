"""`arxdeploy demo` runs the whole story on a fresh folder and cleans up after itself."""

from __future__ import annotations

import re
import subprocess
import sys

import psutil
import pytest

pytestmark = pytest.mark.slow


def test_demo_deploys_rolls_back_and_reports_no_failed_request() -> None:
    before = {p.pid for p in psutil.process_iter()}
    done = subprocess.run(
        [sys.executable, "-m", "arxdeploy.cli.main", "demo"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "succeeded" in out and "rolled back" in out
    assert "traffic is back on green (v2)" in out
    answered = re.search(r"The router answered (\d+) requests", out)
    assert answered is not None and int(answered[1]) > 100
    assert "and 0 failed at the router" in out
    # The demo's runtime serves a folder named arxdeploy-demo-*; runtimes of other work on the
    # machine (another suite, a person's demo started before) are not this test's business.
    runtimes = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if p.pid not in before and _demo_runtime(" ".join(p.info["cmdline"] or []))
    ]
    assert runtimes == []


def _demo_runtime(cmdline: str) -> bool:
    return "arxdeploy.targets.local.runtime" in cmdline and "arxdeploy-demo-" in cmdline
