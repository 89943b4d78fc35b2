"""A tiny built-in app that answers for the emulator's pods (``KubeEmulator(serve_app=True)``, ``--serve-app``).

Like arxdeploy's demo app it answers ``200 ok`` on the health endpoints (``/health``,
``/api/health``, ``/healthz``, ``/livez``, ``/readyz``, ``/ready``), ``/api/version`` with the
image tag of the pod the API server's proxy reached, ``/api/metrics`` in text, ``/`` with a line;
anything else is 404. Served by the emulator's event loop on a free loopback port.
"""

from __future__ import annotations

import json

from aiohttp import web

from arxdeploy.testing.kube.proxy import IMAGE_HEADER, POD_HEADER

HEALTH = frozenset({"/health", "/api/health", "/healthz", "/livez", "/readyz", "/ready"})


def _tag(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


async def _answer(request: web.Request) -> web.Response:
    path = request.path
    if path in HEALTH:
        return web.Response(text="ok\n")
    if path == "/api/version":
        image = request.headers.get(IMAGE_HEADER, "")
        body = {
            "version": _tag(image) if image else "unknown",
            "image": image,
            "pod": request.headers.get(POD_HEADER, ""),
        }
        return web.Response(text=json.dumps(body), content_type="application/json")
    if path == "/api/metrics":
        return web.Response(text="emulator_app_up 1\n")
    if path == "/":
        return web.Response(text="arxdeploy emulator stand-in app\n")
    return web.Response(status=404, text="not found\n")


def build() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _answer)
    return app
