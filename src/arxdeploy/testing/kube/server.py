"""Run the emulator in a background thread with its own event loop, for tests and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
import shutil
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import ClientSession, web

from arxdeploy.testing.kube import kubeconfig as kubeconfig_file
from arxdeploy.testing.kube import tls
from arxdeploy.testing.kube.behaviours import Behaviours, check
from arxdeploy.testing.kube.controller import Controller
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.routes import Context, Fault, build_app, close, drop_connections
from arxdeploy.testing.kube.selectors import parse_label_selector
from arxdeploy.testing.kube.store import Store

T = TypeVar("T")
_STARTING_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class KubeEmulator:
    """A Kubernetes API server emulator on ``127.0.0.1``, reached through the kubeconfig it writes.

    ``with KubeEmulator() as kube:`` starts it and stops it; see the package docstring for what it
    implements.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        kubeconfig: Path | None = None,
        token: str | None = None,
        default_behaviour: str = "ready",
        ready_delay: float = 0.2,
        crash_period: float = 1.0,
        history_limit: int = 10_000,
        tick: float = 0.05,
        startup_timeout: float = 10.0,
    ) -> None:
        self._port = port
        self._kubeconfig_path = kubeconfig
        self.token = token or secrets.token_urlsafe(24)
        self.rules = Behaviours(check(default_behaviour), ready_delay, crash_period)
        self._history_limit = history_limit
        self._tick = tick
        self._startup_timeout = startup_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._tempdir: str | None = None
        self._ctx: Context | None = None
        self._server_ssl: ssl.SSLContext | None = None
        self.certificates = tls.generate()
        self.url = ""
        self.kubeconfig = Path()

    # lifecycle

    def start(self) -> KubeEmulator:
        self._tempdir = tempfile.mkdtemp(prefix="arxdeploy-kube-")
        self._server_ssl = self.certificates.server_context(Path(self._tempdir))
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._startup_timeout):
            self.stop()
            raise TimeoutError(f"the Kubernetes emulator did not start within {self._startup_timeout}s")
        if self._failure is not None:
            self.stop()
            raise RuntimeError("the Kubernetes emulator failed to start") from self._failure
        path = self._kubeconfig_path or Path(self._tempdir) / "kubeconfig"
        self.kubeconfig = kubeconfig_file.write(path, self.url, self.token, self.certificates.ca_pem)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=10)
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as error:  # noqa: BLE001 - reported to start(), which waits for readiness
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        store = Store(self._history_limit)
        async with store.lock:
            for name in _STARTING_NAMESPACES:
                store.create(by_name("namespaces"), None, {"metadata": {"name": name}})
        ctx = Context(store, self.token, session=ClientSession())
        self._ctx = ctx
        controller = Controller(store, self.rules, self._tick)
        runner = web.AppRunner(build_app(ctx), shutdown_timeout=1.0, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port, ssl_context=self._server_ssl)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}"
        task = asyncio.create_task(controller.run())
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            controller.stop()
            await task
            await close(ctx)
            await runner.cleanup()
            await drop_connections(ctx)

    # for tests

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the emulator's certificate (for httpx, aiohttp, ...)."""
        return self.certificates.client_context()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or self._loop.is_closed() or self._thread is None or not self._thread.is_alive():
            coroutine.close()  # never awaited: close it so no "never awaited" warning follows
            raise RuntimeError("the Kubernetes emulator is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    @property
    def _context(self) -> Context:
        if self._ctx is None:
            raise RuntimeError("the Kubernetes emulator is not running")
        return self._ctx

    def set_behaviour(self, behaviour: str, *, image: str | None = None) -> None:
        """Make pods of ``image`` (or, without an image, all pods by default) behave as named.

        The pod-template annotation ``arxdeploy.test/behaviour`` takes precedence over both.
        """
        check(behaviour)
        if image is None:
            self.rules.default = behaviour
        else:
            self.rules.by_image[image] = behaviour

    def inject_fault(
        self,
        status: int = 503,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Fail the next ``times`` API requests matching ``method`` and ``path`` (a substring of
        the URL path) with ``status``, with a ``Retry-After`` header if given."""
        with self._context.calls_lock:
            self._context.faults.append(Fault(status, times, method, path, retry_after))

    def pending_faults(self) -> int:
        """Injected failures not served yet."""
        with self._context.calls_lock:
            return sum(f.times for f in self._context.faults)

    def register_service_backend(self, namespace: str, name: str, url: str) -> None:
        """Send the API server's service proxy for ``namespace/name`` to a real local ``url``."""
        self._context.backends[(namespace, name)] = url

    def objects(self, resource: str, namespace: str | None = None, label_selector: str = "") -> list[dict[str, Any]]:
        """Copies of the stored objects of ``resource`` (``"deployments"``, ``"pods"``, ...)."""
        kind = by_name(resource)
        labels = parse_label_selector(label_selector)
        store = self._context.store

        async def read() -> list[dict[str, Any]]:
            async with store.lock:
                return store.select(kind, namespace, labels)

        return self._call(read())

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        store, kind = self._context.store, by_name(resource)

        async def read() -> dict[str, Any] | None:
            async with store.lock:
                return store.find(kind, namespace, name)

        return self._call(read())

    @property
    def calls(self) -> Counter[str]:
        """API requests so far, keyed ``"METHOD /path"``."""
        with self._context.calls_lock:
            return copy.copy(self._context.calls)

    def reset_calls(self) -> None:
        with self._context.calls_lock:
            self._context.calls.clear()
