"""Other processes on the machine: how much CPU they took during a benchmark, and waiting them out.

On a shared machine (a CI runner, a laptop) other work skews every figure, most of all on two
cores; each results file records ``foreign_cpu_share`` so a reader can tell.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import psutil

KTHREADD = 2  # the parent of every kernel thread
MARK = "arxdeploy-bench-"  # in the command line of each runtime a benchmark starts (its state dir)


class ForeignLoad:
    """CPU seconds used by processes that are not this benchmark's while the block ran.

    Ours: this process and its descendants, and each runtime started here (``MARK``) with its
    replicas. Kernel threads are left out: loopback traffic is processed there on our behalf.
    Sampled every second, so a foreign process that lives less than that is missed.
    """

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self._seen: dict[int, float] = {}
        # Once ours, always ours: an exited runtime lingers as a zombie without a command line
        # (init may be slow to reap it), and its CPU must not turn foreign then.
        self._ours = {os.getpid()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ForeignLoad:
        self._sample()  # what others used before the block is not counted
        self.cpu_seconds = 0.0
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def _sample(self) -> None:
        procs = {p.pid: p.info for p in psutil.process_iter(["ppid", "cmdline", "cpu_times"])}
        for pid, info in procs.items():
            if info["cpu_times"] is None or pid == KTHREADD or info["ppid"] == KTHREADD or self._is_ours(pid, procs):
                continue
            total = info["cpu_times"].user + info["cpu_times"].system
            self.cpu_seconds += total - self._seen.get(pid, 0.0)
            self._seen[pid] = total

    def _is_ours(self, pid: int, procs: dict[int, dict[str, Any]]) -> bool:
        chain = []
        while pid not in self._ours:
            info = procs.get(pid)
            if info is None or pid <= KTHREADD:  # gone, or reached init without meeting one of ours
                return False
            chain.append(pid)
            if any(MARK in arg for arg in info["cmdline"] or ()):
                break
            pid = info["ppid"]
        self._ours.update(chain)
        return True


def wait_until_quiet(limit: float, *, window: float = 5.0, share: float = 0.05) -> float:
    """Wait up to ``limit`` seconds for others to use under ``share`` of the CPU for ``window``; returns the wait."""
    cores = os.cpu_count() or 1
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        with ForeignLoad() as foreign:
            time.sleep(window)
        used = foreign.cpu_seconds / (window * cores)
        if used < share:
            break
        print(f"[{time.strftime('%H:%M:%S')}] other processes use {used:.0%} of the CPU: waiting", file=sys.stderr)
    return time.perf_counter() - start
