"""Users' scripts, run as they were approved: from a private copy of the bytes read when the
command started (``config.snapshot``), never from the file again.

``private_copy`` writes such a copy (the health checks' and the database scripts'); ``run`` runs
one with a time limit and keeps the end of what it printed. A script runs in a process group of
its own, so that at its time limit (or when this process is interrupted) whatever it started
(``pg_dump`` under a shell script) stops with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess  # imported when a script runs: commands that run none never pay for it

GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL for a script past its time limit
_TAIL_BYTES = 64 * 1024  # of the output, read back for its last lines


def private_copy(folder: Path, name: str, content: bytes) -> Path:
    """Write ``content`` as ``folder/name``, executable and readable by this user only (0700 in a
    new 0700 folder): what was read is what runs, and nobody else can change it meanwhile."""
    folder.mkdir(mode=0o700)
    copy = folder / name
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    return copy


@dataclass(frozen=True)
class Finished:
    """How a script ended: its exit status (None: stopped at its time limit) and its last lines."""

    exit_status: int | None
    last_lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def run(command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float, lines: int = 10) -> Finished:
    """Run ``command`` until it exits or ``timeout`` seconds pass (then it and what it started are
    stopped); stdout and stderr go, interleaved as written, to a file, of which the last ``lines``
    lines are kept. Raises ``OSError`` when it cannot be started."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            status = None
        except BaseException:  # interrupted (Ctrl-C): the script must not outlive us
            _stop_group(process)
            raise
        output.seek(max(0, output.seek(0, os.SEEK_END) - _TAIL_BYTES))
        text = output.read().decode("utf-8", errors="replace")
    tail = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    return Finished(status, tuple(tail))


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the script's process group, then, after a grace, SIGKILL to whatever is left."""
    import subprocess

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
