"""``arxdeploy server``: the HTTP API and the approval page.

Cheap to import: FastAPI, uvicorn and prometheus_client are imported only when a server is
built, so ``arxdeploy --help`` stays fast and the CLI works without them.

    create_app(app)                 the FastAPI application over an ``App`` (store, approvals, tokens)
    serve(app, host=..., port=...)  run it with uvicorn until Ctrl-C
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import fastapi

    from arxdeploy.bootstrap import App

__all__ = ["create_app", "serve"]


def create_app(app: App) -> fastapi.FastAPI:
    """The HTTP API, the approval page and /metrics over ``app``; reads the store, never the target."""
    from arxdeploy.api.server import build_api

    return build_api(app)


def serve(app: App, *, host: str = "127.0.0.1", port: int = 8700) -> None:
    """Serve ``create_app(app)`` with uvicorn; blocks until Ctrl-C (or SIGTERM) stops it."""
    import uvicorn
    from prometheus_client import disable_created_metrics

    # This process only serves: the `*_created` series (one per counter) are noise to a scraper.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    config = uvicorn.Config(
        create_app(app),
        host=host,
        port=port,
        server_header=False,
        proxy_headers=True,  # X-Forwarded-* from a TLS proxy on 127.0.0.1 (uvicorn's default allow-list)
        log_level="info",
    )
    uvicorn.Server(config).run()
