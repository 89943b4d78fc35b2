"""The runtime's control API: JSON over loopback HTTP, every request with the bearer token.

Errors are ``{"error": ..., "hint": ...}`` with a status code, never a traceback. The one path
without the token is ``GET /metrics`` (the routers' counts in Prometheus' text format: no
secret in them, and a scraper cannot hold a token that changes with every runtime); a scrape
does not count as activity, so a scraped runtime still ends itself when idle.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from arxdeploy.targets.local.environments import COLORS, Environments, Problem
from arxdeploy.targets.local.files import ENVIRONMENT_NAME
from arxdeploy.targets.local.idle import Idleness
from arxdeploy.targets.local.split import Sticky
from arxdeploy.targets.local.supervisor import ColorSpec, SpecError
from arxdeploy.targets.local.traffic import Exposition

log = logging.getLogger("arxdeploy.runtime")

MAX_REPLICAS = 64  # processes on one machine: more is a typo, not a plan
METRICS = "/metrics"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def control_app(
    *,
    token: str,
    environments: Environments,
    idleness: Idleness,
    shutdown: Callable[[float], Awaitable[None]],
    exposition: Exposition | None = None,
) -> web.Application:
    expected = f"Bearer {token}".encode()
    loop = asyncio.get_running_loop()
    exposition = exposition or Exposition(environments.traffic, environments.gauges)

    @web.middleware
    async def activity(request: web.Request, handler: Handler) -> web.StreamResponse:
        if idleness.closing:
            # Idle and on its way out: drop the connection unanswered. The client sees the runtime
            # gone and starts a new one; nothing of this request was done, so sending it again is safe.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)  # never sent: the connection is closed
        if request.path == METRICS:
            return await handler(request)  # a scraper keeps nobody's runtime alive
        idleness.request_started()
        try:
            return await handler(request)
        finally:
            idleness.request_ended(loop.time())

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Problem as exc:
            return _error(exc.status, exc.message, exc.hint)
        except SpecError as exc:
            return _error(400, str(exc), "fix the command in the config")
        except web.HTTPException as exc:
            return _error(exc.status, f"{request.method} {request.path}: {exc.reason}")
        except Exception:  # the daemon must survive any bug in one request
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, f"{request.method} {request.path} failed inside the runtime", "see runtime.log")

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected) and request.path != METRICS:
            return _error(401, "missing or wrong token", "read it from runtime.json in the state directory")
        return await handler(request)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = exposition.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "pid": os.getpid()})

    async def get_environment(request: web.Request) -> web.Response:
        return web.json_response(environments.state(_environment(request)))

    async def put_color(request: web.Request) -> web.Response:
        name, color = _environment(request), _color(request)
        body = await _body(request)
        spec = ColorSpec(
            environment=name,
            color=color,
            version=_get(body, "version", str),
            replicas=_get(body, "replicas", int),
            command=tuple(_get(body, "command", list)),
            cwd=_get(body, "cwd", str),
            env=_get(body, "env", dict, {}),
            service=_get(body, "service", str, name),
            crash_loop_restarts=_get(body, "crash_loop_restarts", int, 3),
            crash_loop_window=float(_get(body, "crash_loop_window_s", (int, float), 60.0)),
        )
        if not 1 <= spec.replicas <= MAX_REPLICAS or spec.crash_loop_restarts < 1:
            raise Problem(400, f"replicas must be 1 to {MAX_REPLICAS} and crash_loop_restarts at least 1")
        if not spec.command or not all(isinstance(a, str) for a in spec.command):
            raise Problem(400, "command must be a non-empty list of strings")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in spec.env.items()):
            raise Problem(400, "env must map names to strings")
        started = await environments.start_color(
            spec,
            listen=_get(body, "listen", str),
            owner_pid=_get(body, "owner_pid", (int, type(None)), None),
            owner_grace=float(_get(body, "owner_grace_s", (int, float), 10.0)),
            sticky=_sticky(_get(body, "sticky", (dict, type(None)), None)),
        )
        return web.json_response({"started": started, **environments.state(name)})

    async def switch(request: web.Request) -> web.Response:
        name = _environment(request)
        color = _get(await _body(request), "color", (str, type(None)))
        if color is not None and color not in COLORS:
            raise Problem(400, f"color must be one of {', '.join(COLORS)} or null, not {color!r}")
        await environments.switch(name, color)
        return web.json_response(environments.state(name))

    async def set_weight(request: web.Request) -> web.Response:
        name = _environment(request)
        body = await _body(request)
        color = _get(body, "color", str)
        weight = _get(body, "weight", int)
        if color not in COLORS:
            raise Problem(400, f"color must be one of {', '.join(COLORS)}, not {color!r}")
        if not 0 <= weight <= 100:
            raise Problem(400, f"weight is a percentage of the requests, from 0 to 100, not {weight}")
        await environments.set_weight(name, color, weight)
        return web.json_response(environments.state(name))

    async def delete_color(request: web.Request) -> web.Response:
        stopped = await environments.stop_color(
            _environment(request), _color(request), drain_timeout=_drain_timeout(request)
        )
        return web.json_response({"stopped": stopped})

    async def delete_environment(request: web.Request) -> web.Response:
        await environments.stop_environment(_environment(request), drain_timeout=_drain_timeout(request))
        return web.json_response({"stopped": True})

    async def post_shutdown(request: web.Request) -> web.Response:
        await shutdown(_drain_timeout(request, default=5.0))
        return web.json_response({"stopped": True})

    app = web.Application(middlewares=[activity, errors, auth], client_max_size=1024 * 1024)
    app.router.add_get(METRICS, metrics)
    app.router.add_get("/v1/healthz", healthz)
    app.router.add_get("/v1/environments/{env}", get_environment)
    app.router.add_put("/v1/environments/{env}/colors/{color}", put_color)
    app.router.add_post("/v1/environments/{env}/switch", switch)
    app.router.add_post("/v1/environments/{env}/weight", set_weight)
    app.router.add_delete("/v1/environments/{env}/colors/{color}", delete_color)
    app.router.add_delete("/v1/environments/{env}", delete_environment)
    app.router.add_post("/v1/shutdown", post_shutdown)
    return app


def _error(status: int, message: str, hint: str | None = None) -> web.Response:
    return web.json_response({"error": message, "hint": hint}, status=status)


def _environment(request: web.Request) -> str:
    name = request.match_info["env"]
    if not ENVIRONMENT_NAME.match(name):
        raise Problem(400, f"environment name {name!r} is not valid", "use letters, digits, '.', '_' and '-'")
    return name


def _color(request: web.Request) -> str:
    color = request.match_info["color"]
    if color not in COLORS:
        raise Problem(400, f"color must be one of {', '.join(COLORS)}, not {color!r}")
    return color


def _sticky(raw: dict[str, Any] | None) -> Sticky | None:
    if raw is None:
        return None
    try:
        return Sticky(header=raw.get("header"), cookie=raw.get("cookie"))
    except (TypeError, ValueError) as exc:
        raise Problem(400, f"sticky: {exc}", 'give {"header": NAME} or {"cookie": NAME}') from None


def _drain_timeout(request: web.Request, default: float = 30.0) -> float:
    raw = request.query.get("drain_timeout")
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except ValueError:
        raise Problem(400, f"drain_timeout must be a number of seconds, not {raw!r}") from None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Problem(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "the request body must be a JSON object")
    return body


_MISSING: Any = object()


def _get(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
    if key not in body:
        if default is _MISSING:
            raise Problem(400, f"the request body needs {key!r}")
        return default
    value = body[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise Problem(400, f"{key!r} has the wrong type ({type(value).__name__})")
    return value
