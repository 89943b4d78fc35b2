"""Replica processes of one color: start them, restart them when they die, stop them.

Each replica is a process group (``start_new_session``) so stopping it also stops whatever it
spawned, and gets SIGKILL if the runtime dies. A replica that exits on its own is restarted
with exponential backoff; restarts close together make the color ``crash_looping``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from arxdeploy.targets.local.processes import die_with_parent, free_port, kill_group, start_ticks

log = logging.getLogger("arxdeploy.runtime")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
STABLE_AFTER = 30.0  # up this long: the next crash starts the backoff over
STOP_GRACE = 5.0  # SIGTERM, then SIGKILL after this long
OUTPUT_LINES = 5  # how much of a dead replica's output to quote
PLACEHOLDERS = ("port", "version", "color", "replica", "environment")
HEADER = "==== arxdeploy:"  # starts the line written to a replica's log before each start


class SpecError(ValueError):
    """The command or its settings cannot be used as given."""


@dataclass(frozen=True)
class ColorSpec:
    """What a color runs; two specs with the same release make a start a no-op."""

    environment: str
    color: str
    version: str
    replicas: int
    command: tuple[str, ...]
    cwd: str
    env: Mapping[str, str]
    service: str
    crash_loop_restarts: int = 3
    crash_loop_window: float = 60.0

    def same_release(self, other: ColorSpec) -> bool:
        return (self.version, self.replicas, self.command, self.cwd, dict(self.env)) == (
            other.version,
            other.replicas,
            other.command,
            other.cwd,
            dict(other.env),
        )

    def argv(self, *, port: int, index: int) -> list[str]:
        values = {"port": port, "version": self.version, "color": self.color, "replica": index}
        values["environment"] = self.environment
        try:
            return [part.format_map(values) for part in self.command]
        except (KeyError, IndexError, ValueError) as exc:
            raise SpecError(
                f"command {list(self.command)!r} has a placeholder that cannot be filled ({exc}); "
                f"use only {', '.join('{' + p + '}' for p in PLACEHOLDERS)} and write a literal brace as {{{{"
            ) from exc

    def environ(self, *, port: int, index: int) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            "ARXDEPLOY_PORT": str(port),
            "PORT": str(port),
            "ARXDEPLOY_VERSION": self.version,
            "ARXDEPLOY_COLOR": self.color,
            "ARXDEPLOY_REPLICA": str(index),
            "ARXDEPLOY_ENVIRONMENT": self.environment,
            "ARXDEPLOY_SERVICE": self.service,
        }


class Replica:
    """One supervised process slot. Keeps its port across restarts so its URL stays valid."""

    def __init__(self, spec: ColorSpec, index: int, log_path: Path, on_change: Callable[[], None]) -> None:
        self.spec = spec
        self.index = index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.running = False  # read by the router on every request: a plain attribute
        self.restarts = 0
        self.process: asyncio.subprocess.Process | None = None
        self.last_exit: str | None = None  # "exited with status 1", "could not start: ..."
        self.last_output: list[str] = []
        self._restart_times: deque[float] = deque()
        self._on_change = on_change
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.running else None

    async def start(self) -> None:
        """Spawn the first process (errors reach the caller), then watch it."""
        await self._spawn()
        self._task = asyncio.create_task(self._supervise(), name=f"replica {self.spec.color}-{self.index}")

    def recent_restarts(self, now: float) -> int:
        window = self.spec.crash_loop_window
        while self._restart_times and now - self._restart_times[0] > window:
            self._restart_times.popleft()
        return len(self._restart_times)

    def crash_looping(self, now: float) -> bool:
        return self.recent_restarts(now) >= self.spec.crash_loop_restarts

    def describe_trouble(self, now: float) -> str:
        """Why this replica looks unhealthy, or "" if it has not died lately."""
        recent = self.recent_restarts(now)
        if self.last_exit is None or (recent == 0 and self.running):
            return ""
        span = now - self._restart_times[0] if recent else 0.0
        text = f"replica {self.index} {self.last_exit} ({recent} restart{'s' if recent != 1 else ''} in {span:.0f}s)"
        if self.last_output:
            text += "; last output: " + " | ".join(self.last_output)
        return text

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after STOP_GRACE; no restart after this."""
        self._stopping.set()
        while True:
            process = self.process
            if process is not None:
                await _terminate(process, f"{self.spec.color} replica {self.index}")
            if self._task is not None:
                await self._task  # ends at once now, unless a restart was under way
            if self.process is process:
                break
        self.running = False

    async def _spawn(self) -> None:
        argv = self.spec.argv(port=self.port, index=self.index)
        env = self.spec.environ(port=self.port, index=self.index)
        log_fd = _open_log(self.log_path, f"{HEADER} {_now()} start {self.spec.version}: {' '.join(argv)}")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # forks from the loop's thread only
            )
        except OSError as exc:
            _append(log_fd, f"{HEADER} could not start: {exc}")
            raise
        finally:
            os.close(log_fd)
        self.running = True
        self._on_change()

    async def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            started = time.monotonic()
            if self.process is not None and self.running:
                status = await self.process.wait()
                self.running = False
                self._on_change()
                if self._stopping.is_set():
                    return
                self.last_exit = _exit_text(status)
                self.last_output = _last_output(self.log_path)
                log.warning("%s/%s replica %d %s", self.spec.environment, self.spec.color, self.index, self.last_exit)
            if time.monotonic() - started >= STABLE_AFTER:
                backoff = BACKOFF_FIRST
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
                return  # asked to stop while waiting
            backoff = min(backoff * 2, BACKOFF_MAX)
            self.restarts += 1
            self._restart_times.append(time.monotonic())
            try:
                await self._spawn()
            except (OSError, SpecError) as exc:
                self.last_exit = f"could not start: {exc}"
                self.last_output = []


async def _terminate(process: asyncio.subprocess.Process, name: str) -> None:
    if process.returncode is None:
        kill_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            log.warning("%s ignored SIGTERM for %.0fs: SIGKILL", name, STOP_GRACE)
            kill_group(process.pid, signal.SIGKILL)
            await process.wait()
    kill_group(process.pid, signal.SIGKILL)  # whatever it spawned and left behind


def _open_log(path: Path, header: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _append(fd, header)
    return fd


def _append(fd: int, line: str) -> None:
    os.write(fd, (line + "\n").encode("utf-8", errors="replace"))


def _last_output(path: Path) -> list[str]:
    """The last lines the replica printed since its last start (not our header lines)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []
    starts = [i for i, line in enumerate(lines) if line.startswith(HEADER)]
    since_start = lines[starts[-1] + 1 :] if starts else lines
    return [line.strip() for line in since_start if line.strip()][-OUTPUT_LINES:]


def _exit_text(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-status).name}"
        return f"was killed by signal {-status}"
    return f"exited with status {status}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def group_record(replica: Replica) -> dict[str, object] | None:
    """What replicas.json keeps about a live replica: enough to find its group after a crash."""
    pid = replica.pid
    if pid is None:
        return None
    spec = replica.spec
    return {"pgid": pid, "start_ticks": start_ticks(pid), "environment": spec.environment, "color": spec.color}


class ColorGroup:
    """The replicas of one color, started and stopped together."""

    def __init__(self, spec: ColorSpec, log_path: Callable[[int], Path], on_change: Callable[[], None]) -> None:
        self.spec = spec
        self.replicas = [Replica(spec, i, log_path(i), on_change) for i in range(1, spec.replicas + 1)]

    async def start(self) -> None:
        """Spawn every replica; if one cannot be spawned, stop the others and raise."""
        try:
            for replica in self.replicas:
                await replica.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(replica.stop() for replica in self.replicas))

    def running(self) -> bool:
        return any(replica.running for replica in self.replicas)

    def state(self) -> dict[str, object]:
        now = time.monotonic()
        troubles = [text for replica in self.replicas if (text := replica.describe_trouble(now))]
        return {
            "version": self.spec.version,
            "replicas": [
                {"index": r.index, "url": r.url, "running": r.running, "restarts": r.restarts, "pid": r.pid}
                for r in self.replicas
            ],
            "crash_looping": any(replica.crash_looping(now) for replica in self.replicas),
            "detail": "; ".join(troubles),
        }
