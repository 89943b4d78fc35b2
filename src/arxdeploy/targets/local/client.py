"""The CLI side of the local target: ``LocalTarget`` drives the runtime over its control API.

The runtime is reached lazily, on the first call that needs it, over plain HTTP on loopback
(``plain_http``: the standard library; one connection per call). Only ``start_color`` starts one
when none runs (``ensure_runtime``); without a runtime nothing runs, so ``inspect``, ``export``,
``switch`` and ``stop_color`` report or refuse that without starting one. It is spawned detached,
so killing the CLI leaves it serving.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from arxdeploy import plain_http
from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError, TransientTargetError, UsageError
from arxdeploy.ports import ColorState, EnvironmentState, Export, Problem, ProblemKind, Replica
from arxdeploy.targets.local.files import RuntimeFiles, read_json
from arxdeploy.targets.local.processes import pid_alive

POLL = 0.02
CONNECT_TIMEOUT = 2.0  # seconds: the runtime is on loopback, a slow connect means it is gone
ENVIRONMENT_FILE = "environment.json"
UNAUTHORIZED = 401
MAX_VERSION = 128


def check_version(version: str) -> None:
    """Refuse a version the local target cannot hand on safely (``UsageError``, exit 2).

    It becomes one argument of the app's command line (``{version}``: no shell), the
    ``ARXDEPLOY_VERSION`` variable and a line of the replica's log. A leading '-' would read as
    an option to the app; whitespace and control characters would split or forge log lines.
    Anything else goes (``1.2.0+build5``, ``release/1.2``).
    """
    wrong = (
        not version
        or len(version) > MAX_VERSION
        or version.startswith("-")
        or any(c.isspace() or not c.isprintable() for c in version)
    )
    if wrong:
        raise UsageError(
            f"version {version!r} cannot be deployed: the app would get it as an option or split in parts",
            hint=f"use 1 to {MAX_VERSION} printable characters without spaces, not starting with '-'",
        )


@dataclass(frozen=True)
class LocalEnvironmentSpec:
    """How to run the service in one environment (from ``environments.<env>`` in the config)."""

    command: tuple[str, ...]  # may use {port} {version} {color} {replica} {environment}
    cwd: Path
    env: Mapping[str, str]
    listen: str  # the router's address, host:port
    crash_loop_restarts: int = 3
    crash_loop_window: timedelta = timedelta(seconds=60)
    abandon_after: timedelta = timedelta(seconds=10)  # a candidate whose deploy process died
    # Sticky split: a client keeps its color while the weights stand, keyed by this request
    # header's value or this cookie's (at most one of the two).
    sticky_header: str | None = None
    sticky_cookie: str | None = None

    def sticky(self) -> dict[str, str] | None:
        if self.sticky_header:
            return {"header": self.sticky_header}
        if self.sticky_cookie:
            return {"cookie": self.sticky_cookie}
        return None


@dataclass(frozen=True)
class RuntimeInfo:
    """How to reach a running runtime (the content of ``runtime.json``)."""

    pid: int
    url: str
    token: str
    started_at: str
    launch_id: str | None = field(default=None, repr=False)


def read_runtime(state_dir: Path) -> RuntimeInfo | None:
    """The runtime serving ``state_dir``, or None if none runs (or it does not answer)."""
    return _probe(RuntimeFiles(Path(state_dir)))


def ensure_runtime(state_dir: Path, *, python: str = sys.executable, timeout: float = 10.0) -> tuple[RuntimeInfo, bool]:
    """The runtime of ``state_dir``, started if needed; True if this call started it.

    Callers racing here end up with one runtime: the others' daemons lose the lock and exit,
    and every caller waits for the winner's ``runtime.json``.
    """
    import secrets  # only here: reading commands never start a runtime
    import subprocess

    files = RuntimeFiles(Path(state_dir).resolve())
    info = _probe(files)
    if info is not None:
        return info, False
    files.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    launch_id = secrets.token_hex(8)
    argv = [python, "-m", "arxdeploy.targets.local.runtime", "--state-dir", str(files.root)]
    with files.log.open("ab") as log:
        # --detach: the daemon forks away from this short-lived launcher, so it is nobody's
        # child here and a kill -9 of this process does not reach it.
        try:
            launcher = subprocess.run(
                [*argv, "--detach", "--launch-id", launch_id],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # a slow machine: worth another try
            raise TransientTargetError(
                f"starting the local runtime took over {timeout:.0f}s: {_tail(files.log)}",
                hint=f"see {files.log}",
            ) from exc
    if launcher.returncode != 0:
        raise TargetError(
            f"could not start the local runtime (exit status {launcher.returncode}): {_tail(files.log)}",
            hint=f"see {files.log}",
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _probe(files)
        if info is not None:
            return info, info.launch_id == launch_id
        time.sleep(POLL)
    raise TransientTargetError(
        f"the local runtime did not answer within {timeout:.0f}s: {_tail(files.log)}", hint=f"see {files.log}"
    )


class LocalTarget:
    """``arxdeploy.ports.Target`` for processes on this machine, via the runtime."""

    def __init__(
        self,
        *,
        state_dir: Path,
        service: str,
        environments: Mapping[str, LocalEnvironmentSpec],
        owner_pid: int | None = None,
        python: str = sys.executable,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.service = service
        self.environments = dict(environments)
        self.owner_pid = owner_pid  # a color started by us is stopped if this process dies first
        self.python = python
        self.runtime_started = False  # True once this instance had to start a fresh runtime
        self._files = RuntimeFiles(self.state_dir)
        self._info: RuntimeInfo | None = None

    # --- Target ---------------------------------------------------------------------------

    def inspect(self, *, environment: str) -> EnvironmentState:
        return _environment_state(self._read(environment))

    def export(self, *, environment: str) -> Export:
        """The runtime's account of the environment (``environment.json``: router, colors,
        versions, replicas); facts: the router's address then (None: there was none)."""
        state = self._read(environment)
        raw = json.dumps({"service": self.service, **state}, indent=2, sort_keys=True).encode() + b"\n"
        versions = tuple(sorted({str(c["version"]) for c in state["colors"].values()}))
        return Export(files={ENVIRONMENT_FILE: raw}, facts={"listen": state.get("listen")}, versions=versions)

    def start_color(
        self, *, environment: str, color: Color, version: str, replicas: int, saved: Export | None = None
    ) -> None:
        # ``saved`` changes nothing here: a local color is its command from the config, and the
        # export (the runtime's account) holds no more than that.
        spec = self._spec(environment)
        body = {
            "version": version,
            "replicas": replicas,
            "command": list(spec.command),
            "cwd": str(Path(spec.cwd).resolve()),  # the runtime runs elsewhere
            "env": dict(spec.env),
            "listen": spec.listen,
            "service": self.service,
            "owner_pid": self.owner_pid,
            "owner_grace_s": spec.abandon_after.total_seconds(),
            "crash_loop_restarts": spec.crash_loop_restarts,
            "crash_loop_window_s": spec.crash_loop_window.total_seconds(),
            "sticky": spec.sticky(),
        }
        self._call("PUT", f"{_env_path(environment)}/colors/{Color(color).value}", body=body, timeout=60.0)

    def switch(self, *, environment: str, color: Color | None) -> None:
        body = {"color": Color(color).value if color is not None else None}
        switched = self._call_if_running("POST", f"{_env_path(environment)}/switch", body=body)
        if switched is None and color is not None:  # no runtime: nothing runs, so nothing to switch to
            raise TargetError(
                f"{environment}/{Color(color).value} is not running: nothing to switch to", hint="start it first"
            )

    def set_weight(self, *, environment: str, color: Color, weight: int) -> None:
        """Send ``weight`` percent (0 to 100) of new requests to ``color`` and the rest to the live color.

        ``color`` must run and must not be live. The change is atomic, like a switch: each request
        sees the weights before it or after it; requests in flight finish where they are. Weight 0
        ends the split; ``switch`` ends it too (everything to the color switched to), and stopping
        the weighted color first takes its weight away. Without a sticky header or cookie, requests
        take turns (exactly ``weight`` of every 100); with one, a client keeps its color while the
        weights stand. Idempotent: it sets the weight, whatever it was before.

        Raises ``TargetError`` if the color does not run, is live, or nothing is live (409 from
        the runtime), ``TransientTargetError`` if the runtime cannot be reached, and
        ``UsageError`` for a weight outside 0 to 100.
        """
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise UsageError(f"weight {weight!r} is not a percentage", hint="give a whole number from 0 to 100")
        body = {"color": Color(color).value, "weight": weight}
        changed = self._call_if_running("POST", f"{_env_path(environment)}/weight", body=body)
        if changed is None:  # no runtime: nothing runs
            raise TargetError(
                f"{environment}/{Color(color).value} is not running: it cannot take traffic", hint="start it first"
            )

    def weights(self, *, environment: str) -> dict[Color, int]:
        """Each color's percent of new requests now (a color that takes none is left out)."""
        raw = self._read(environment).get("weights") or {}
        return {Color(color): int(weight) for color, weight in raw.items()}

    def stop_color(self, *, environment: str, color: Color, drain_timeout: timedelta) -> None:
        drain = drain_timeout.total_seconds()
        self._call_if_running(
            "DELETE",
            f"{_env_path(environment)}/colors/{Color(color).value}",
            params={"drain_timeout": str(drain)},
            timeout=drain + 30.0,  # draining, then up to 5 s for SIGTERM and the SIGKILL
        )

    def remove_created(self, *, environment: str, before: Mapping[str, Any] | None) -> list[str]:
        """Stop the environment's router when the export whose facts are ``before`` found none and
        nothing runs now: a failed first deployment leaves no port held (and the runtime may go idle)."""
        if before is None or before.get("listen") is not None:
            return []  # no backup (what was there is unknown), or a router served before: it stays
        now = self._read(environment)
        if now.get("listen") is None or now.get("live_color") is not None or now.get("colors"):
            return []
        self.stop_environment(environment=environment, drain_timeout=timedelta(0))
        return [f"the router on {now['listen']}"]

    # --- beyond the protocol --------------------------------------------------------------

    def stop_environment(self, *, environment: str, drain_timeout: timedelta = timedelta(seconds=30)) -> None:
        """Stop the router and every color of ``environment``; does not start a runtime."""
        drain = drain_timeout.total_seconds()
        params = {"drain_timeout": str(drain)}
        self._call_if_running("DELETE", _env_path(environment), params=params, timeout=drain + 30.0)

    def shutdown_runtime(self) -> None:
        """Stop everything and the runtime itself; returns once it is gone. No-op if none runs."""
        info = self._running_runtime()
        if info is None or self._call_if_running("POST", "/v1/shutdown", timeout=60.0) is None:
            return
        deadline = time.monotonic() + 15.0
        while pid_alive(info.pid) and time.monotonic() < deadline:
            time.sleep(POLL)
        self._info = None

    def log_files(self, *, environment: str) -> list[Path]:
        """The replicas' output files of ``environment`` (one per color and replica)."""
        return sorted(self._files.logs(environment).glob("*.log"))

    def close(self) -> None:
        """Nothing to release (each call has its own connection); kept so that every target closes."""

    def __enter__(self) -> LocalTarget:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _spec(self, environment: str) -> LocalEnvironmentSpec:
        try:
            return self.environments[environment]
        except KeyError:
            raise TargetError(
                f"no local settings for environment {environment!r}",
                hint=f"add environments.{environment} to the config",
            ) from None

    def _running_runtime(self) -> RuntimeInfo | None:
        if self._info is None:
            self._info = _probe(self._files)
        return self._info

    def _runtime(self) -> RuntimeInfo:
        if self._info is None:
            self._info, started = ensure_runtime(self.state_dir, python=self.python)
            self.runtime_started = self.runtime_started or started
        return self._info

    def _read(self, environment: str) -> dict[str, Any]:
        """The runtime's view of ``environment``; without a runtime, an empty one (none is started)."""
        return self._call_if_running("GET", _env_path(environment)) or _nothing_runs(environment)

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """Call the runtime, starting it if needed."""
        answer = self._send(method, path, start=True, **options)
        if answer is None:  # cannot happen: with start=True there is always a runtime
            raise TargetError(f"no local runtime answered {method} {path}")
        return answer

    def _call_if_running(self, method: str, path: str, **options: Any) -> dict[str, Any] | None:
        """Call the runtime if one runs; None if none does."""
        return self._send(method, path, start=False, **options)

    def _send(
        self,
        method: str,
        path: str,
        *,
        start: bool,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any] | None:
        # One attempt: retries are the engine's (its target seam), one policy for every target.
        info = self._runtime() if start else self._running_runtime()
        if info is None:
            return None
        try:
            response = plain_http.request(
                method,
                info.url + path,
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {info.token}"},
                timeout=timeout,
                connect_timeout=CONNECT_TIMEOUT,
            )
        except plain_http.NoAnswer as exc:
            if isinstance(exc, plain_http.TimedOut) and not exc.connecting:
                raise TransientTargetError(
                    f"the local runtime took over {timeout:.0f}s to answer {method} {path}",
                    hint=f"see {self._files.log}",
                ) from exc
            self._info = None  # it may have died or ended itself: find (or start) it on the next call
            raise TransientTargetError(f"cannot reach the local runtime: {exc}", hint=f"see {self._files.log}") from exc
        if response.status == UNAUTHORIZED:
            # Our token was refused: that port now belongs to another runtime (ours ended itself
            # when idle and the port was reused). Look for the runtime again on the next call.
            self._info = None
            raise TransientTargetError(
                f"the process at {info.url} is no longer this state folder's runtime", hint=f"see {self._files.log}"
            )
        return _decode(response, f"{method} {path}")


def _probe(files: RuntimeFiles) -> RuntimeInfo | None:
    raw = read_json(files.info)
    if not isinstance(raw, dict):
        return None
    try:
        info = RuntimeInfo(
            pid=int(raw["pid"]),
            url=str(raw["url"]),
            token=str(raw["token"]),
            started_at=str(raw.get("started_at", "")),
            launch_id=raw.get("launch_id"),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if not pid_alive(info.pid):
        return None
    try:
        answer = plain_http.request(
            "GET", info.url + "/v1/healthz", headers={"Authorization": f"Bearer {info.token}"}, timeout=CONNECT_TIMEOUT
        )
        healthy = answer.status == 200 and answer.json().get("pid") == info.pid
    except (plain_http.NoAnswer, ValueError, AttributeError):
        return None
    return info if healthy else None


def _decode(response: plain_http.Reply, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.ok and isinstance(data, dict):
        return data
    error = data.get("error") if isinstance(data, dict) else None
    hint = data.get("hint") if isinstance(data, dict) else None
    message = str(error or f"{what} answered {response.status}: {response.text()[:200]}")
    if response.status in (502, 503, 504):
        raise TransientTargetError(message, hint=hint)
    raise TargetError(message, hint=hint)


def _nothing_runs(environment: str) -> dict[str, Any]:
    """What the runtime answers for an environment it does not know."""
    return {
        "environment": environment,
        "live_color": None,
        "listen": None,
        "live_url": None,
        "preview_url": None,
        "weights": {},
        "sticky": None,
        "colors": {},
    }


def _environment_state(data: Mapping[str, Any]) -> EnvironmentState:
    colors = {}
    for name, raw in data["colors"].items():
        replicas = tuple(
            Replica(index=r["index"], url=r["url"], running=r["running"], restarts=r["restarts"], pid=r["pid"])
            for r in raw["replicas"]
        )
        colors[Color(name)] = ColorState(
            color=Color(name),
            version=str(raw["version"]),
            replicas=replicas,
            problem=_problem(bool(raw["crash_looping"]), str(raw["detail"]), replicas),
            size=len(replicas),
        )
    live = data.get("live_color")
    return EnvironmentState(
        environment=str(data["environment"]),
        live_color=Color(live) if live else None,
        colors=colors,
        live_url=data.get("live_url"),
        preview_url=data.get("preview_url"),
        weights={Color(color): int(weight) for color, weight in (data.get("weights") or {}).items()},
    )


def _problem(crash_looping: bool, detail: str, replicas: tuple[Replica, ...]) -> Problem | None:
    """A crash loop (restarts close together: ``crash_loop_restarts`` within ``crash_loop_window``)
    fails; a replica that died and waits for its restart may come back on its own."""
    if crash_looping:
        return Problem(ProblemKind.FAILED, "CrashLoop", detail)
    if detail and not all(r.running for r in replicas):
        return Problem(ProblemKind.WAITING, "Restarting", detail)
    return None


def _env_path(environment: str) -> str:
    return f"/v1/environments/{quote(environment, safe='')}"


def _tail(path: Path, lines: int = 5) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            text = f.read().decode("utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no runtime.log)"
    return " | ".join(line.strip() for line in text) or "(runtime.log is empty)"
