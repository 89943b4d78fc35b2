"""A check script past its time limit is stopped with everything it started: a check that hangs
must not leave a client (curl, a load generator) running after the round."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from arxdeploy.domain.states import Color
from arxdeploy.health import HttpHealthProbe, ScriptCheck
from arxdeploy.ports import Probe
from tests.support import wait_until


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent's wait is missing.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")


def test_a_check_script_past_its_limit_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "hangs.sh"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nwait\n")
    check = ScriptCheck("hangs", script, timeout=timedelta(milliseconds=500), content=script.read_bytes())
    probe = HttpHealthProbe(endpoints=[], scripts=[check], cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    try:
        [result] = probe.round(
            probes=[Probe("http://127.0.0.1:9", Color.BLUE, "1.0", "blue replica 1")], timeout=timedelta(seconds=10)
        ).results
    finally:
        probe.close()

    assert (result.ok, result.answer) == (False, "still running after 0.5s")
    child = int(pid_file.read_text())
    wait_until(lambda: not alive(child), timeout=10, what="the script's child to be stopped")


def test_a_check_script_s_last_lines_are_its_answer(tmp_path: Path) -> None:
    script = tmp_path / "says.sh"
    script.write_text("#!/bin/sh\necho starting\necho 'HTTP 503 from /ready' >&2\nexit 3\n")
    check = ScriptCheck("says", script, content=script.read_bytes())
    probe = HttpHealthProbe(endpoints=[], scripts=[check], cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    try:
        [result] = probe.round(
            probes=[Probe("http://127.0.0.1:9", Color.BLUE, "1.0", "blue replica 1")], timeout=timedelta(seconds=10)
        ).results
    finally:
        probe.close()

    assert (result.ok, result.answer) == (False, "exit 3: starting\nHTTP 503 from /ready")
