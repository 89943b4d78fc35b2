"""Operating-system process primitives the runtime needs: liveness, identity, groups, free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs. A zombie (dead, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return _state(pid) not in ("Z", "X")


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot); with the pid, it names one process for good."""
    stat = _stat(pid)
    return int(stat[19]) if stat else None


def kill_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a whole process group; False if none of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies (Linux only).

    Replicas must not outlive a runtime that was killed: nothing would route to them and their
    ports would stay taken. The signal is tied to the forking thread: fork from the main one.
    """
    if sys.platform != "linux":
        return None
    import ctypes  # only the runtime forks replicas: the client's pid checks need none of it

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces), 0-based from 'state'."""
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        return raw[raw.rindex(")") + 2 :].split()
    return None


def _state(pid: int) -> str | None:
    stat = _stat(pid)
    return stat[0] if stat else None
