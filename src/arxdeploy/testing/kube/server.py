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
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import ClientSession, web

from arxdeploy.testing.kube import app as stand_in_app
from arxdeploy.testing.kube import kubeconfig as kubeconfig_file
from arxdeploy.testing.kube import nodes, tls
from arxdeploy.testing.kube.auth import EXEC_VERSIONS, MODES, Authenticator, Minted, User
from arxdeploy.testing.kube.behaviours import Behaviours, check
from arxdeploy.testing.kube.controller import Controller
from arxdeploy.testing.kube.frontdoor import FrontDoor
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
        auth: str = "token",
        token: str | None = None,
        user: str = "kubernetes-admin",
        groups: Sequence[str] = ("kubeadm:cluster-admins",),
        exec_api_version: str = EXEC_VERSIONS[0],
        exec_token_ttl: timedelta | float = timedelta(minutes=15),
        default_behaviour: str = "ready",
        ready_delay: float = 0.2,
        crash_period: float = 1.0,
        nodes: Sequence[nodes.NodeSpec] = nodes.DEFAULT_NODES,
        autoscaler: nodes.Autoscaler | None = None,
        hpa_sync_period: float | None = 15.0,
        hpa_downscale_stabilization: float = 300.0,
        serve_app: bool = False,
        history_limit: int = 10_000,
        tick: float = 0.05,
        startup_timeout: float = 10.0,
    ) -> None:
        if auth not in MODES:
            raise ValueError(f"auth must be one of {', '.join(MODES)}, not {auth!r}")
        if exec_api_version not in EXEC_VERSIONS:
            raise ValueError(f"exec_api_version must be one of {', '.join(EXEC_VERSIONS)}")
        self._port = port
        self._kubeconfig_path = kubeconfig
        self.auth_mode = auth
        self.token = token or secrets.token_urlsafe(24)
        self.user = User(user, tuple(groups))
        self.exec_api_version = exec_api_version
        ttl = exec_token_ttl if isinstance(exec_token_ttl, timedelta) else timedelta(seconds=exec_token_ttl)
        self.rules = Behaviours(check(default_behaviour), ready_delay, crash_period)
        self._nodes = tuple(nodes)
        self._autoscaler = autoscaler
        self._hpa_sync_period = hpa_sync_period
        self._hpa_downscale = hpa_downscale_stabilization
        self._serve_app = serve_app
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
        self._controller: Controller | None = None
        self._server_ssl: ssl.SSLContext | None = None
        self.certificates = tls.generate()
        self.authenticator = Authenticator(
            token=self.token,
            user=self.user,
            ca_pem=self.certificates.ca_pem,
            token_ttl=ttl,
            issuer_key=secrets.token_urlsafe(24),
        )
        self.url = ""
        self.app_url: str | None = None
        self._doors: dict[tuple[str, str], tuple[web.AppRunner, str]] = {}  # Gateway -> its front door
        self.kubeconfig = Path()

    # lifecycle

    def start(self) -> KubeEmulator:
        self._tempdir = tempfile.mkdtemp(prefix="arxdeploy-kube-")
        client_certificates = self.auth_mode == "cert"
        self._server_ssl = self.certificates.server_context(
            Path(self._tempdir), client_certificates=client_certificates
        )
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._startup_timeout):
            self.stop()
            raise TimeoutError(f"the Kubernetes emulator did not start within {self._startup_timeout}s")
        if self._failure is not None:
            self.stop()
            raise RuntimeError("the Kubernetes emulator failed to start") from self._failure
        path = self._kubeconfig_path or Path(self._tempdir) / "kubeconfig"
        self.kubeconfig = kubeconfig_file.write(path, self._kubeconfig_text(Path(self._tempdir)))
        return self

    def _kubeconfig_text(self, directory: Path) -> str:
        ca = self.certificates.ca_pem
        if self.auth_mode == "cert":
            pair = self.certificates.client_certificate(self.user.name, self.user.groups)
            return kubeconfig_file.render(self.url, ca, client_certificate=pair)
        if self.auth_mode == "exec":
            ca_file = directory / "ca.crt"
            ca_file.write_bytes(ca)
            plugin = kubeconfig_file.ExecPlugin(self.exec_api_version, self.url, ca_file, self.authenticator.issuer_key)
            return kubeconfig_file.render(self.url, ca, exec_plugin=plugin)
        return kubeconfig_file.render(self.url, ca, token=self.token)

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
            for spec in self._nodes:
                nodes.add_node(store, spec)
        ctx = Context(store, self.authenticator, issuer=self.auth_mode == "exec", session=ClientSession())
        self._ctx = ctx
        controller = Controller(
            store,
            self.rules,
            self._tick,
            autoscaler=self._autoscaler,
            hpa_sync_period=self._hpa_sync_period,
            hpa_downscale_window=self._hpa_downscale,
        )
        self._controller = controller
        app_runner: web.AppRunner | None = None
        if self._serve_app:
            app_runner = web.AppRunner(
                stand_in_app.build(), shutdown_timeout=1.0, handle_signals=False, access_log=None
            )
            await app_runner.setup()
            await web.TCPSite(app_runner, "127.0.0.1", 0).start()
            self.app_url = f"http://127.0.0.1:{app_runner.addresses[0][1]}"
            ctx.backends.app = self.app_url
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
            for door, _ in self._doors.values():
                await door.cleanup()
            await close(ctx)
            await runner.cleanup()
            if app_runner is not None:
                await app_runner.cleanup()
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
        after: bool = False,
    ) -> None:
        """Fail the next ``times`` API requests matching ``method`` and ``path`` (a substring of
        the URL path) with ``status``, with a ``Retry-After`` header if given. ``after``: the
        request is carried out first and only its answer is lost, as when the API server times out
        (504) once etcd has committed the write: the client cannot tell whether it happened."""
        with self._context.calls_lock:
            self._context.faults.append(Fault(status, times, method, path, retry_after, after))

    def pending_faults(self) -> int:
        """Injected failures not served yet."""
        with self._context.calls_lock:
            return sum(f.times for f in self._context.faults)

    def gateway_url(self, namespace: str, name: str) -> str:
        """The front door of the Gateway ``namespace/name`` (``frontdoor.py``), opened on first
        use: plain HTTP on a port of its own, routing by the HTTPRoutes accepted for it."""
        return self._call(self._open_door(namespace, name))

    async def _open_door(self, namespace: str, name: str) -> str:
        if (namespace, name) not in self._doors:
            ctx = self._context
            door = FrontDoor(ctx.store, ctx.backends, namespace, name, ctx.session)
            runner = web.AppRunner(door.app(), shutdown_timeout=1.0, handle_signals=False, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._doors[namespace, name] = (runner, f"http://127.0.0.1:{runner.addresses[0][1]}")
        return self._doors[namespace, name][1]

    def register_service_backend(self, namespace: str, name: str, url: str) -> None:
        """Send the API server's service proxy for ``namespace/name`` to a real local ``url``."""
        self._context.backends.services[(namespace, name)] = url

    def register_pod_backend(
        self, namespace: str, url: str, *, pod: str | None = None, selector: str | None = None
    ) -> None:
        """Make pods answer at ``url`` through the pod proxy (and the service proxy, when their
        Service has no backend of its own): one ``pod`` by name, or those matching a label ``selector``."""
        if (pod is None) == (selector is None):
            raise ValueError("name a pod or give a label selector, not both")
        backends = self._context.backends
        if pod is not None:
            backends.pods[(namespace, pod)] = url
        else:
            backends.add_selector(namespace, selector or "", url)

    # nodes, autoscalers, metrics

    def add_node(self, spec: nodes.NodeSpec) -> None:
        """Register one more Ready node, as a kubelet joining the cluster does."""
        store = self._context.store

        async def add() -> None:
            async with store.lock:
                nodes.add_node(store, spec)

        self._call(add())

    def set_autoscaler(self, autoscaler: nodes.Autoscaler | None) -> None:
        """Switch the simulated cluster autoscaler on (with these settings) or off (None)."""

        async def configure() -> None:
            self._running_controller.autoscaler.configure(autoscaler)
            self._running_controller.wake()

        self._call(configure())

    def set_cpu_utilization(self, namespace: str, target: str, percent: float | None, *, resource: str = "cpu") -> None:
        """What metrics-server would report for the pods of Deployment (or ReplicaSet) ``target``:
        each ready pod uses ``percent`` % of its ``resource`` request; None: no metrics at all."""

        async def report() -> None:
            values = self._running_controller.hpas.utilization.setdefault((namespace, target), {})
            if percent is None:
                values.pop(resource, None)
            else:
                values[resource] = percent

        self._call(report())

    @property
    def _running_controller(self) -> Controller:
        if self._controller is None:
            raise RuntimeError("the Kubernetes emulator is not running")
        return self._controller

    # credentials

    @property
    def exec_runs(self) -> int:
        """How many times the exec credential plugin asked for a token."""
        return len(self.authenticator.minted)

    @property
    def minted(self) -> list[Minted]:
        """Each token the exec plugin was given: when, until when, and the client's ``KUBERNETES_EXEC_INFO``."""
        return self.authenticator.minted

    def revoke_tokens(self) -> None:
        """Refuse every exec token minted so far (the clients' cached ones get 401)."""
        self.authenticator.revoke()

    def client_certificate(self, user: str, groups: Sequence[str] = ()) -> tuple[bytes, bytes]:
        """A client certificate (PEM) and key for another user, signed by the emulator's CA."""
        return self.certificates.client_certificate(user, tuple(groups))

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

    @property
    def unauthorized(self) -> Counter[str]:
        """Requests answered ``401 Unauthorized`` so far (they count in ``calls`` too), keyed ``"METHOD /path"``."""
        with self._context.calls_lock:
            return copy.copy(self._context.unauthorized)

    def reset_calls(self) -> None:
        with self._context.calls_lock:
            self._context.calls.clear()
            self._context.unauthorized.clear()
