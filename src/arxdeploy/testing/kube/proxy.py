"""The API server's service and pod proxies, forwarding to local stand-ins for what runs in pods.

Nothing runs in the emulator's pods, so what answers for them is a URL registered by a test or on
the command line (``Backends``): per Service, per pod, per pod label selector, or the built-in
app (``--serve-app``, app.py) for everything else. The rules around that are the API server's:

- ``services/{name}[:port]/proxy/{path}`` (pkg/registry/core/service/storage/rest.go
  ``ResourceLocation``): the port must be one of the Service's (``no service port ... found``) and
  it needs a ready endpoint (``503 no endpoints available for service``);
- ``pods/{name}[:port]/proxy/{path}`` (pkg/registry/core/pod/strategy.go ``ResourceLocation``):
  ``name``, ``name:port`` or ``scheme:name:port``; without a port, the first container port; a pod
  without an IP yet (not scheduled) is ``400 address not allowed``. It does not wait for readiness:
  it dials the pod, so a port no running container declares is refused, as a real connect is;
- a connection that fails is ``503 error trying to reach service: ...``
  (k8s.io/apimachinery/pkg/util/proxy/transport.go); the caller's ``Authorization`` is not passed
  on (the authentication filter drops it), ``X-Forwarded-Uri``/``-Host``/``-Proto`` are added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from arxdeploy.testing.kube.endpoints import selected_pods
from arxdeploy.testing.kube.errors import ApiError, bad_request
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.selectors import LabelSelector, parse_label_selector
from arxdeploy.testing.kube.store import Obj, Store

SERVICES, PODS = by_name("services"), by_name("pods")
POD_HEADER = "X-Arxdeploy-Emulator-Pod"
IMAGE_HEADER = "X-Arxdeploy-Emulator-Image"


@dataclass
class Backends:
    """Where the emulator's pods and Services answer."""

    services: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, service) -> URL
    pods: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, pod) -> URL
    selected: list[tuple[str, LabelSelector, str]] = field(default_factory=list)  # (namespace, labels, URL)
    app: str | None = None  # the built-in app, for pods nothing else answers for

    def add_selector(self, namespace: str, selector: str, url: str) -> None:
        self.selected.insert(0, (namespace, parse_label_selector(selector), url))  # the newest wins

    def for_pod(self, pod: Obj, services: list[Obj]) -> tuple[str | None, bool]:
        """The URL that answers for ``pod``, and whether it is the built-in app: the pod's own, the
        newest matching selector's, then that of a Service selecting it (by name), then the app's."""
        meta = pod["metadata"]
        exact = self.pods.get((meta["namespace"], meta["name"]))
        if exact is not None:
            return exact, False
        for namespace, selector, url in self.selected:
            if namespace == meta["namespace"] and selector.matches(meta.get("labels")):
                return url, False
        labels = meta.get("labels") or {}
        for service in sorted(services, key=lambda s: str(s["metadata"]["name"])):
            wanted = (service.get("spec") or {}).get("selector") or {}
            found = self.services.get((meta["namespace"], service["metadata"]["name"]))
            if found is not None and wanted and all(labels.get(k) == v for k, v in wanted.items()):
                return found, False
        return self.app, self.app is not None


def split_scheme_name_port(text: str) -> tuple[str, str, str] | None:
    """``utilnet.SplitSchemeNamePort``: ``name``, ``name:port`` or ``scheme:name:port``."""
    parts = text.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return None
    if not name or scheme not in {"", "http", "https"}:
        return None
    return scheme, name, port


def _pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    return str(ips[0].get("ip", "")) if ips else str(status.get("podIP") or "")


def _listening(pod: Obj, port: str) -> bool:
    """Whether a running container of ``pod`` declares ``port``: what answers a connect there."""
    running = {
        s.get("name")
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if "running" in (s.get("state") or {})
    }
    return any(
        str(p.get("containerPort")) == port
        for container in (pod.get("spec") or {}).get("containers") or []
        if container.get("name") in running
        for p in container.get("ports") or []
    )


def _refused(ip: str, port: str) -> ApiError:
    return ApiError(
        503, "ServiceUnavailable", f"error trying to reach service: dial tcp {ip}:{port}: connect: connection refused"
    )


async def pod_proxy(
    request: web.Request,
    store: Store,
    backends: Backends,
    session: ClientSession | None,
    namespace: str,
    target: str,
    rest: str,
) -> web.StreamResponse:
    parsed = split_scheme_name_port(target)
    if parsed is None:
        raise bad_request(f'invalid pod request "{target}"')
    _, name, port = parsed
    async with store.lock:
        pod = store.get(PODS, namespace, name)
        services = store.select(SERVICES, namespace)
    if not port:
        declared = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
        port = str(declared[0]["containerPort"]) if declared else "80"
    ip = _pod_ip(pod)
    if not ip:
        raise bad_request("address not allowed")
    url, builtin = backends.for_pod(pod, services)
    if url is None or not _listening(pod, port):
        raise _refused(ip, port)
    return await forward(request, session, url, rest, _extra(pod) if builtin else {})


async def service_proxy(
    request: web.Request,
    store: Store,
    backends: Backends,
    session: ClientSession | None,
    namespace: str,
    target: str,
    rest: str,
) -> web.StreamResponse:
    parsed = split_scheme_name_port(target)
    if parsed is None:
        raise bad_request(f'invalid service request "{target}"')
    _, name, port = parsed
    url, extra = await service_destination(store, backends, namespace, name, port)
    return await forward(request, session, url, rest, extra)


async def service_destination(
    store: Store, backends: Backends, namespace: str, name: str, port: str
) -> tuple[str, dict[str, str]]:
    """Where a request to Service ``name`` on ``port`` (its name or number; empty: any) goes, and
    the headers the built-in app is told: the Service's registered backend, else its first ready
    pod's. ``ApiError`` 404 for no such Service, 503 for no such port or no ready endpoint."""
    async with store.lock:
        service = store.get(SERVICES, namespace, name)
        ready = sorted(
            (p for p in selected_pods(store, service) if _ready(p)), key=lambda p: str(p["metadata"]["name"])
        )
    ports = (service.get("spec") or {}).get("ports") or []
    chosen = next((p for p in ports if port in {str(p.get("name", "")), str(p.get("port"))}), None)
    if port and chosen is None:
        raise ApiError(503, "ServiceUnavailable", f'no service port "{port}" found for service "{name}"')
    if not ready:
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
    url = backends.services.get((namespace, name))
    extra: dict[str, str] = {}
    if url is None:
        url, builtin = backends.for_pod(ready[0], [])
        extra = _extra(ready[0]) if builtin else {}
    if url is None:
        chosen = chosen or (ports[0] if ports else {})
        raise _refused(_pod_ip(ready[0]), str(chosen.get("targetPort", chosen.get("port", 80))))
    return url, extra


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _extra(pod: Obj) -> dict[str, str]:
    """What the built-in app is told about the pod it answers for."""
    meta = pod["metadata"]
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return {POD_HEADER: f"{meta['namespace']}/{meta['name']}", IMAGE_HEADER: str(containers[0].get("image", ""))}


async def forward(
    request: web.Request,
    session: ClientSession | None,
    base: str,
    rest: str,
    extra: dict[str, str],
    *,
    proto: str = "https",
) -> web.StreamResponse:
    if session is None:
        raise ApiError(503, "ServiceUnavailable", "the emulator is shutting down")
    url = base.rstrip("/") + "/" + rest
    if request.path.endswith("/") and rest:
        url += "/"
    dropped = {"host", "authorization", "content-length"}
    headers: dict[str, Any] = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
    headers.update(
        {"X-Forwarded-Uri": request.path, "X-Forwarded-Host": request.host, "X-Forwarded-Proto": proto, **extra}
    )
    try:
        async with session.request(
            request.method,
            url,
            params=request.query,
            headers=headers,
            data=await request.read(),
            timeout=ClientTimeout(total=30),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            content_type = upstream.headers.get("Content-Type", "application/octet-stream")
            return web.Response(body=body, status=upstream.status, headers={"Content-Type": content_type})
    except (ClientError, TimeoutError) as error:
        raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: {error}") from error
