"""The local target's daemon: ``python -m arxdeploy.targets.local.runtime --state-dir DIR``.

One per state directory (an flock on ``runtime.lock``; a second one exits 0 once it sees the
holder's ``runtime.json``). It serves the control API on an ephemeral loopback port and says how
to reach it in ``runtime.json`` (mode 0600: the token in it is the only credential). Replica
process groups are listed in ``replicas.json`` so the next runtime can kill what a killed one
left behind.

The routers' counts are on the control port's ``GET /metrics``; ``metrics-targets.json`` names
that port in the form Prometheus' file-based discovery reads (``file_sd_configs``), so a scraper
follows the runtime from port to port.

It ends itself once it has served no environment and answered no request for ``--idle-exit``
seconds (``ARXDEPLOY_RUNTIME_IDLE_EXIT``, default 60; 0: never). Leaving, it first withdraws:
``runtime.json`` removed, the control port closed, the lock released, so that a client that
finds it gone can start the next runtime at once.

It runs on uvloop (libuv's event loop): the routers' data path spends half the CPU it spends on
asyncio's own loop (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from aiohttp import web

from arxdeploy.targets.local.api import control_app
from arxdeploy.targets.local.environments import Environments
from arxdeploy.targets.local.files import RuntimeFiles, read_json, write_json_atomic
from arxdeploy.targets.local.idle import Idleness
from arxdeploy.targets.local.processes import kill_group, start_ticks
from arxdeploy.targets.local.supervisor import group_record

log = logging.getLogger("arxdeploy.runtime")

IDLE_EXIT_ENV = "ARXDEPLOY_RUNTIME_IDLE_EXIT"
IDLE_EXIT_DEFAULT = 60.0
LOCK_WAIT = 10.0  # how long a new runtime waits for one on its way out (as long as a client waits)


class Lock:
    """The flock that makes a runtime the only one of its state directory."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def take(cls, files: RuntimeFiles, *, wait: float = LOCK_WAIT) -> Lock | None:
        """The lock, or None if another runtime serves the directory.

        A holder without ``runtime.json`` is starting (it writes one soon: then this one leaves)
        or idle and on its way out (it releases the lock soon: then this one serves).
        """
        fd = os.open(files.lock, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if files.info.exists() or time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.05)
            else:
                return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Runtime:
    def __init__(
        self, files: RuntimeFiles, lock: Lock, *, idle_exit: float = IDLE_EXIT_DEFAULT, launch_id: str | None = None
    ) -> None:
        self.files = files
        self.lock = lock
        self.idle_exit = idle_exit
        self.launch_id = launch_id
        self.token = secrets.token_urlsafe(32)
        self.environments = Environments(files, on_change=self._record_replicas)
        self._exit = asyncio.Event()

    async def serve(self) -> None:
        kill_leftovers(self.files)
        loop = asyncio.get_running_loop()
        idleness = Idleness(after=self.idle_exit, now=loop.time())
        app = control_app(token=self.token, environments=self.environments, idleness=idleness, shutdown=self.shutdown)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._exit.set)
        address = f"127.0.0.1:{site.port}"
        # Prometheus' file-based discovery: a list of target groups (readable by a scraper).
        write_json_atomic(self.files.metrics_targets, [{"targets": [address], "labels": {}}], mode=0o644)
        write_json_atomic(
            self.files.info,
            {
                "pid": os.getpid(),
                "url": f"http://{address}",
                "token": self.token,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "launch_id": self.launch_id,
            },
        )
        log.info("runtime %d serving on 127.0.0.1:%d", os.getpid(), site.port)
        watchdog = asyncio.create_task(self._watch_owners(), name="owner watchdog")
        idle = asyncio.create_task(self._exit_when_idle(idleness, site), name="idle exit")
        try:
            await self._exit.wait()
        finally:
            watchdog.cancel()
            idle.cancel()
            await self.environments.stop_all(drain_timeout=5.0)
            await runner.cleanup()
            self._forget_info()
            log.info("runtime %d stopped", os.getpid())

    async def shutdown(self, drain_timeout: float) -> None:
        """Stop every environment, then let ``serve`` return."""
        log.info("shutdown requested")
        await self.environments.stop_all(drain_timeout=drain_timeout)
        self._exit.set()

    async def _exit_when_idle(self, idleness: Idleness, site: web.TCPSite) -> None:
        if idleness.after <= 0:
            return
        loop = asyncio.get_running_loop()
        every = min(1.0, idleness.after / 4)
        while not idleness.due(now=loop.time(), serving=self.environments.serving()):
            await asyncio.sleep(every)
        # From here every control request is dropped unanswered. Withdraw in this order: a client
        # refused a connection finds no runtime.json, and the runtime it starts gets the lock.
        log.info("runtime %d: no environment and no request for %gs: exiting", os.getpid(), idleness.after)
        self._forget_info()
        await site.stop()
        self.lock.release()
        self._exit.set()

    def _forget_info(self) -> None:
        info = read_json(self.files.info)
        if isinstance(info, dict) and info.get("pid") == os.getpid():
            self.files.info.unlink(missing_ok=True)
            self.files.metrics_targets.unlink(missing_ok=True)

    async def _watch_owners(self) -> None:
        while True:
            try:
                await self.environments.watch_owners()
            except Exception:  # a bug here must not end the watching for good
                log.exception("owner watchdog failed; restarting it")
                await asyncio.sleep(1)

    def _record_replicas(self) -> None:
        records = [r for g in self.environments.groups() for rep in g.replicas if (r := group_record(rep))]
        write_json_atomic(self.files.replicas, {"runtime_pid": os.getpid(), "groups": records})


def kill_leftovers(files: RuntimeFiles) -> None:
    """SIGKILL the replica process groups a dead runtime left (their leaders may be gone)."""
    recorded = read_json(files.replicas)
    if not isinstance(recorded, dict):
        return
    for group in recorded.get("groups", []):
        pgid, ticks = group.get("pgid"), group.get("start_ticks")
        if not isinstance(pgid, int) or pgid <= 1:
            continue
        leader_ticks = start_ticks(pgid)
        # A leader with another start time is a new process that reused the pid: not ours.
        # No leader at all: the pid cannot be reused while its group lives, so members are ours.
        if (leader_ticks is None or leader_ticks == ticks) and kill_group(pgid, signal.SIGKILL):
            log.warning("killed leftover replica group %d (%s/%s)", pgid, group.get("environment"), group.get("color"))
    files.replicas.unlink(missing_ok=True)


def _detach() -> None:
    """Fork; the parent exits so the daemon is nobody's child (no zombie, no reaping needed)."""
    if os.fork() > 0:
        os._exit(0)
    with contextlib.suppress(OSError):
        os.setsid()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arxdeploy.targets.local.runtime", description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--detach", action="store_true", help="fork into the background first")
    parser.add_argument("--launch-id", help="echoed in runtime.json so the starter knows it won")
    parser.add_argument(
        "--idle-exit",
        type=_seconds,
        metavar="SECONDS",
        help=f"exit after this long with no environment and no request (default: ${IDLE_EXIT_ENV}, "
        f"else {IDLE_EXIT_DEFAULT:g}; 0: never)",
    )
    args = parser.parse_args(argv)
    idle_exit = args.idle_exit
    if idle_exit is None:
        try:
            idle_exit = _seconds(os.environ.get(IDLE_EXIT_ENV) or str(IDLE_EXIT_DEFAULT))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"{IDLE_EXIT_ENV}: {exc}")
    files = RuntimeFiles(args.state_dir.resolve())
    files.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if args.detach:
        _detach()
    os.chdir(files.root)  # hold no other directory open; replicas get their own cwd
    lock = Lock.take(files)
    if lock is None:
        return 0  # another runtime serves this state directory
    logging.basicConfig(
        filename=files.log,
        level=logging.INFO,
        format=f"%(asctime)s runtime[{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(Runtime(files, lock, idle_exit=idle_exit, launch_id=args.launch_id).serve())
    except Exception:  # say why in the log the user is pointed to
        log.exception("runtime failed")
        return 1
    finally:
        lock.release()
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more; 0: never)")
    return value


if __name__ == "__main__":
    sys.exit(main())
