"""The emulator's Gateway data plane: one front door per Gateway (``KubeEmulator.gateway_url``),
where requests are routed by the rules of the HTTPRoutes accepted for that Gateway and split by
their backendRefs' weights, as kubernetes-sigs/gateway-api ``apis/v1`` (``HTTPRouteRule``,
``BackendRef``) says:

- hostnames match exactly or by a leading ``*.`` wildcard, a route without any matches every host;
  paths match ``Exact``, ``PathPrefix`` (by whole segments: ``/abc`` matches ``/abc/d``, not
  ``/abcd``) or ``RegularExpression``; among matching rules the most precise wins (exact path,
  then the longest prefix, a method, more headers), then the oldest route;
- a backend's share is ``weight / sum of weights``: weight 0 gets no request; a rule with no
  backendRef, every weight 0 or an invalid backend (no such Service, not a Service, another
  namespace) answers 500; a Service without ready endpoints 503; no matching route 404.

The split is a smooth weighted round-robin (nginx's): exact over every ``sum of weights``
requests, so tests that measure it are deterministic, where a real data plane (Envoy) draws at
random and is only close to it. A Gateway's listeners (ports, hostnames, protocols) are all
served by its one front door, on a port of its own on 127.0.0.1, as plain HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

from arxdeploy.testing.kube.errors import ApiError
from arxdeploy.testing.kube.gateway import ROUTES, accepted_by
from arxdeploy.testing.kube.proxy import Backends, forward, service_destination
from arxdeploy.testing.kube.store import Store


def host_matches(hostnames: list[str], host: str) -> bool:
    if not hostnames:
        return True
    for name in hostnames:
        if name.startswith("*."):
            if host.endswith(name[1:]) and host.count(".") >= name.count("."):
                return True
        elif host == name:
            return True
    return False


def path_matches(path_match: dict[str, Any], path: str) -> bool:
    kind, value = path_match.get("type", "PathPrefix"), str(path_match.get("value", "/"))
    if kind == "Exact":
        return path == value
    if kind == "RegularExpression":
        return re.fullmatch(value, path) is not None
    prefix = value.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _precedence(match: dict[str, Any]) -> tuple[int, int, int, int]:
    """Higher is more precise (``HTTPRouteRule``: exact path, longest prefix, method, headers)."""
    path = match.get("path") or {}
    return (
        1 if path.get("type") == "Exact" else 0,
        len(str(path.get("value", "/"))),
        1 if match.get("method") else 0,
        len(match.get("headers") or []),
    )


def _request_matches(match: dict[str, Any], request: web.Request) -> bool:
    if not path_matches(match.get("path") or {}, request.path):
        return False
    if match.get("method") and match["method"] != request.method:
        return False
    for header in match.get("headers") or []:
        got = request.headers.get(str(header.get("name")))
        if got is None:
            return False
        if header.get("type", "Exact") == "RegularExpression":
            if re.fullmatch(str(header.get("value")), got) is None:
                return False
        elif got != header.get("value"):
            return False
    return True


@dataclass
class _Turns:
    weights: tuple[int, ...]
    current: list[int]


@dataclass
class FrontDoor:
    """Answers requests as the data plane of the Gateway ``namespace/name`` would."""

    store: Store
    backends: Backends
    namespace: str
    name: str
    session: ClientSession | None = None
    _turns: dict[tuple[str, str, int], _Turns] = field(default_factory=dict)

    def pick(self, key: tuple[str, str, int], weights: tuple[int, ...]) -> int | None:
        """The next backend's index by smooth weighted round-robin; None when every weight is 0.

        Synchronous (no await inside), so concurrent requests on the event loop never interleave here.
        """
        total = sum(weights)
        if total <= 0:
            return None
        turns = self._turns.get(key)
        if turns is None or turns.weights != weights:
            turns = self._turns[key] = _Turns(weights, [0] * len(weights))
        for i, weight in enumerate(weights):
            turns.current[i] += weight
        best = max(range(len(weights)), key=lambda i: turns.current[i])
        turns.current[best] -= total
        return best

    async def handle(self, request: web.Request) -> web.StreamResponse:
        host = request.host.rsplit(":", 1)[0].lower() if request.host else ""
        async with self.store.lock:
            routes = [r for r in self.store.iter_objects(ROUTES) if accepted_by(r, self.namespace, self.name)]
        best: tuple[Any, ...] | None = None
        for route in routes:
            spec = route.get("spec") or {}
            if not host_matches(list(spec.get("hostnames") or []), host):
                continue
            meta = route["metadata"]
            for index, rule in enumerate(spec.get("rules") or []):
                for match in rule.get("matches") or []:
                    if not _request_matches(match, request):
                        continue
                    # the most precise match first, then the oldest route, then by name, then rule order
                    key = (
                        tuple(-x for x in _precedence(match)),
                        meta.get("creationTimestamp", ""),
                        f"{meta['namespace']}/{meta['name']}",
                        index,
                    )
                    if best is None or key < best[0]:
                        best = (key, route, index, rule)
        if best is None:
            return web.Response(status=404, text="no route matches\n")
        _, route, index, rule = best
        refs = list(rule.get("backendRefs") or [])
        namespace = route["metadata"]["namespace"]
        weights = tuple(int(ref.get("weight", 1)) for ref in refs)
        chosen = self.pick((namespace, route["metadata"]["name"], index), weights)
        if chosen is None:
            return web.Response(status=500, text="no backend takes traffic on this route\n")
        ref = refs[chosen]
        if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
            return web.Response(status=500, text="invalid backend kind\n")
        if ref.get("namespace", namespace) != namespace:
            return web.Response(status=500, text="backend reference not permitted\n")
        try:
            url, extra = await service_destination(
                self.store, self.backends, namespace, str(ref.get("name")), str(ref.get("port", ""))
            )
        except ApiError as error:
            status = 503 if error.code == 503 else 500
            return web.Response(status=status, text=f"{error.message}\n")
        try:
            return await forward(request, self.session, url, request.path.strip("/"), extra, proto="http")
        except ApiError as error:
            return web.Response(status=503, text=f"{error.message}\n")

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", self.handle)
        return application
