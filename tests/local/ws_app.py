"""An upstream that speaks WebSocket (aiohttp), for the router's upgrade tests.

``/ws`` greets with ``hello from <version>``, answers a text message ``m`` with ``<version>:m``,
echoes binary messages, and closes the connection itself on ``bye``. ``/health`` and
``/api/version`` answer plain HTTP.
"""

from __future__ import annotations

import argparse
import os

from aiohttp import WSMsgType, web

VERSION = os.environ.get("ARXDEPLOY_VERSION", "?")


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": VERSION})


async def socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    await ws.send_str(f"hello from {VERSION}")
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            if message.data == "bye":
                await ws.close(message=b"bye from " + VERSION.encode())
                break
            await ws.send_str(f"{VERSION}:{message.data}")
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/api/version", version)
    app.router.add_get("/ws", socket)
    port = parser.parse_args().port
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, shutdown_timeout=0.5)


if __name__ == "__main__":
    main()
