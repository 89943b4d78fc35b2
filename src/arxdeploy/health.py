"""Health checks: HTTP GETs of the configured endpoints and custom scripts, run concurrently.

Two ways to send a GET, one way to read its answer: plain HTTP with the standard library
(``plain_http``) where the probes answer plain HTTP on this machine (the local target's replicas
and routers), httpx where they need TLS, credentials or a proxy (``Access``: the Kubernetes
target's checks through the API server). httpx is imported only by the second.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from arxdeploy import plain_http, scripts
from arxdeploy.errors import ArxdeployError
from arxdeploy.ports import CheckResult, Probe, Round
from arxdeploy.scripts import private_copy

if TYPE_CHECKING:
    import ssl

    import httpx

    from arxdeploy.check_proxy import CheckProxy

_ANSWER_CHARS = 200
REFUSED = "connection refused"
DROPPED = "connection closed without an answer"


@dataclass(frozen=True)
class ScriptCheck:
    """A custom check. ``content``: the script as read once when the command started (the
    approved content); it runs from a private copy of those bytes, never from ``path`` again."""

    name: str
    path: Path
    timeout: timedelta | None = None
    content: bytes | None = None  # None: the file was missing or unreadable


@dataclass(frozen=True)
class Access:
    """How checks reach the probes' URLs: whom to trust (and the client certificate to present),
    the credentials to send, the HTTP proxy to go through. ``door``: the URLs need all that (a
    cluster's API server proxy), so scripts get a loopback door to them instead (``check_proxy``)."""

    verify: ssl.SSLContext | bool = True
    auth: httpx.Auth | None = None
    proxy: str | None = None
    door: bool = False


class _NoAnswer(Exception):
    """A GET that got no HTTP answer; the message is the check's answer (``REFUSED``, ...)."""


class HttpHealthProbe:
    """Implements ``arxdeploy.ports.HealthProbe`` with HTTP GETs and subprocesses.

    A check passes on a 2xx answer (HTTP) or exit status 0 (script). Scripts get the probe's
    URL, color and version in ``ARXDEPLOY_CHECK_URL``, ``ARXDEPLOY_COLOR``, ``ARXDEPLOY_VERSION``,
    run in the config's folder, from a private copy of the content read when the command started.
    With ``Access.door`` the URL is a loopback one, lent for the round, that forwards to the
    probe's URL with this probe's credentials (``check_proxy.CheckProxy``).

    Without ``access`` the GETs are plain HTTP (``plain_http``: no TLS, no proxy, no httpx).
    ``access`` may be a function: it is called once, by the first round (reading commands that
    never check pay nothing for it, a Kubernetes target's kubeconfig included).
    """

    def __init__(
        self,
        *,
        endpoints: Sequence[str],
        scripts: Sequence[ScriptCheck] = (),
        cwd: Path,
        environ: Mapping[str, str],
        access: Access | Callable[[], Access] | None = None,
    ) -> None:
        self._endpoints = list(endpoints)
        self._scripts = list(scripts)
        self._cwd = cwd
        self._environ = dict(environ)
        self._access = access
        self._client: httpx.Client | None = None  # made by the first round: reads never pay for it
        self._door: CheckProxy | None = None  # the scripts' loopback door, opened by the first round that needs it
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="arxdeploy-check")
        self._copies: dict[str, Path] = {}  # script name -> its private copy, made on first use
        self._folder: Path | None = None

    def round(self, *, probes: Sequence[Probe], timeout: timedelta) -> Round:
        # Copies are written before any check starts: a file still open for writing in one
        # thread while another forks could not be executed (ETXTBSY).
        copies = {s.name: self._copy_of(s) for s in self._scripts} if probes else {}
        client = self._client_for_checks() if self._access is not None else None
        door = self._door if self._scripts and probes else None
        lent: AbstractContextManager[dict[str, str]] = (
            door.lend([p.url for p in probes], timeout=timeout.total_seconds()) if door else nullcontext({})
        )
        with lent as urls:
            jobs = [self._pool.submit(self._get, client, p, e, timeout) for p in probes for e in self._endpoints]
            jobs += [
                self._pool.submit(self._script, p, s, copies[s.name], timeout, urls.get(p.url))
                for p in probes
                for s in self._scripts
            ]
            return Round(results=tuple(job.result() for job in jobs))

    def _client_for_checks(self) -> httpx.Client:
        if self._client is None:
            import httpx  # only checks that need TLS, credentials or a proxy

            assert self._access is not None
            access = self._access() if callable(self._access) else self._access
            # Checks must see each replica as a new client would: no pooled connections.
            self._client = httpx.Client(
                limits=httpx.Limits(max_keepalive_connections=0),
                trust_env=False,
                verify=access.verify,
                auth=access.auth,
                proxy=access.proxy,
            )
            if access.door:
                from arxdeploy.check_proxy import CheckProxy  # http.server: only where a door is needed

                self._door = CheckProxy(self._client)
        return self._client

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._door is not None:
            self._door.close()
        if self._client is not None:
            self._client.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _copy_of(self, check: ScriptCheck) -> Path | None:
        """The script's private copy (mode 0700 in a 0700 folder): what was read is what runs."""
        if check.content is None:
            return None
        if check.name not in self._copies:
            if self._folder is None:
                import tempfile

                self._folder = Path(tempfile.mkdtemp(prefix="arxdeploy-checks-"))
            folder = self._folder / str(len(self._copies))
            self._copies[check.name] = private_copy(folder, check.path.name, check.content)
        return self._copies[check.name]

    def _get(self, client: httpx.Client | None, probe: Probe, endpoint: str, timeout: timedelta) -> CheckResult:
        name = f"GET {endpoint} on {probe.label}"
        url, seconds = probe.url.rstrip("/") + endpoint, timeout.total_seconds()
        try:
            response = _plain_get(url, seconds) if client is None else _httpx_get(client, url, seconds)
        except _NoAnswer as exc:
            return CheckResult(name, False, str(exc))
        except ArxdeployError as exc:  # the target's credentials could not be had (a plugin failed)
            return CheckResult(name, False, f"no credentials: {exc.message}")
        answer = f"HTTP {response.status}"
        if not response.ok:
            body = _brief(_status_message(response) or response.text())
            answer = f"{answer}: {body}" if body else answer
        return CheckResult(name, response.ok, answer)

    def _script(
        self, probe: Probe, check: ScriptCheck, copy: Path | None, timeout: timedelta, door_url: str | None
    ) -> CheckResult:
        name = f"script {check.name} on {probe.label}"
        env = {
            **self._environ,
            "ARXDEPLOY_CHECK_URL": door_url or probe.url,
            "ARXDEPLOY_COLOR": probe.color.value,
            "ARXDEPLOY_VERSION": probe.version,
        }
        limit = (check.timeout or timeout).total_seconds()
        if copy is None:
            return CheckResult(name, False, f"could not read {check.path} when this command started")
        # In a process group of its own: at its time limit, what it started (curl, a client) stops too.
        try:
            done = scripts.run([str(copy)], cwd=self._cwd, env=env, timeout=limit)
        except OSError as exc:
            return CheckResult(name, False, f"could not run {check.path}: {exc.strerror}")
        if done.exit_status is None:
            return CheckResult(name, False, f"still running after {limit:g}s")
        output = "\n".join(done.last_lines)
        if door_url:  # the door's key opens nothing after the round, but it is not for the record
            output = output.replace(door_url, probe.url)
        output = output.strip()[-_ANSWER_CHARS:]
        answer = f"exit {done.exit_status}" + (f": {output}" if output else "")
        return CheckResult(name, done.ok, answer)


def _plain_get(url: str, seconds: float) -> plain_http.Reply:
    try:
        return plain_http.request("GET", url, timeout=seconds)
    except plain_http.TimedOut:
        raise _NoAnswer(f"no answer within {seconds:g}s") from None
    except plain_http.Unreachable:
        raise _NoAnswer(REFUSED) from None
    except plain_http.Dropped:
        raise _NoAnswer(DROPPED) from None
    except plain_http.NoAnswer as exc:
        raise _NoAnswer(str(exc)) from None


def _httpx_get(client: httpx.Client, url: str, seconds: float) -> plain_http.Reply:
    """The same GET through httpx, its answer in the same form as a plain one."""
    import httpx

    try:
        response = client.get(url, timeout=seconds)
    except httpx.TimeoutException:
        raise _NoAnswer(f"no answer within {seconds:g}s") from None
    except httpx.ConnectError:
        raise _NoAnswer(REFUSED) from None
    except httpx.RemoteProtocolError:
        raise _NoAnswer(DROPPED) from None
    except httpx.HTTPError as exc:
        raise _NoAnswer(f"{type(exc).__name__}: {exc}") from None
    return plain_http.Reply(response.status_code, response.headers.get("content-type", ""), response.content)


def _status_message(response: plain_http.Reply) -> str | None:
    """The message of a Kubernetes Status answer (the API server's proxy saying why), if it is one."""
    if "json" not in response.content_type:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("kind") == "Status" and data.get("message"):
        return str(data["message"])
    return None


def _brief(text: str) -> str:
    """At most ``_ANSWER_CHARS`` of an answer, cut between words and marked, never mid-word."""
    text = " ".join(text.split())
    if len(text) <= _ANSWER_CHARS:
        return text
    cut = text[:_ANSWER_CHARS].rsplit(" ", 1)[0]
    return f"{cut} … ({len(text)} characters)"
