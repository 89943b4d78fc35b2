"""The local target's daemon: ``python -m arxdeploy.targets.local.runtime --state-dir DIR``.

One per state directory (an flock on ``runtime.lock``; a second one exits 0 at once). It serves
the control API on an ephemeral loopback port and says how to reach it in ``runtime.json``
(mode 0600: the token in it is the only credential). Replica process groups are listed in
``replicas.json`` so the next runtime can kill what a killed one left behind.
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
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from arxdeploy.targets.local.api import control_app
from arxdeploy.targets.local.environments import Environments
from arxdeploy.targets.local.files import RuntimeFiles, read_json, write_json_atomic
from arxdeploy.targets.local.processes import kill_group, start_ticks
from arxdeploy.targets.local.supervisor import group_record

log = logging.getLogger("arxdeploy.runtime")


class Runtime:
    def __init__(self, files: RuntimeFiles, *, launch_id: str | None = None) -> None:
        self.files = files
        self.launch_id = launch_id
        self.token = secrets.token_urlsafe(32)
        self.environments = Environments(files, on_change=self._record_replicas)
        self._exit = asyncio.Event()

    async def serve(self) -> None:
        kill_leftovers(self.files)
        app = control_app(token=self.token, environments=self.environments, shutdown=self.shutdown)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._exit.set)
        write_json_atomic(
            self.files.info,
            {
                "pid": os.getpid(),
                "url": f"http://127.0.0.1:{site.port}",
                "token": self.token,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "launch_id": self.launch_id,
            },
        )
        log.info("runtime %d serving on 127.0.0.1:%d", os.getpid(), site.port)
        watchdog = asyncio.create_task(self._watch_owners(), name="owner watchdog")
        try:
            await self._exit.wait()
        finally:
            watchdog.cancel()
            await self.environments.stop_all(drain_timeout=5.0)
            await runner.cleanup()
            info = read_json(self.files.info)
            if isinstance(info, dict) and info.get("pid") == os.getpid():
                self.files.info.unlink(missing_ok=True)
            log.info("runtime %d stopped", os.getpid())

    async def shutdown(self, drain_timeout: float) -> None:
        """Stop every environment, then let ``serve`` return."""
        log.info("shutdown requested")
        await self.environments.stop_all(drain_timeout=drain_timeout)
        self._exit.set()

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


def _take_lock(path: Path) -> int | None:
    """The lock file's descriptor, held for the life of the process; None if another runtime has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


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
    args = parser.parse_args(argv)
    files = RuntimeFiles(args.state_dir.resolve())
    files.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if args.detach:
        _detach()
    os.chdir(files.root)  # hold no other directory open; replicas get their own cwd
    lock = _take_lock(files.lock)
    if lock is None:
        return 0  # another runtime serves this state directory
    logging.basicConfig(
        filename=files.log,
        level=logging.INFO,
        format=f"%(asctime)s runtime[{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(Runtime(files, launch_id=args.launch_id).serve())
    except Exception:  # say why in the log the user is pointed to
        log.exception("runtime failed")
        return 1
    finally:
        os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
