"""Synthetic load: a bounded request generator against the candidate while it is analysed.

Requests go to the address that reaches the candidate (the router, with ``X-Arxdeploy-Color``
naming it, as a preview does) at a steady rate, taking the configured paths in turn, each marked
``X-Arxdeploy-Synthetic: 1`` so the router (and the app) can tell them from users' requests.
One request at a time on one keep-alive connection: a slow candidate gets fewer requests, never
a pile-up. It stops when its duration ends or when stopped, whichever comes first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from arxdeploy.domain.plan import SyntheticLoad
from arxdeploy.domain.states import Color

SYNTHETIC_HEADER = "X-Arxdeploy-Synthetic"  # what the router labels origin=synthetic
COLOR_HEADER = "X-Arxdeploy-Color"  # the router's preview header


def start(url: str, color: Color, load: SyntheticLoad) -> Callable[[], int]:
    """Start sending; the returned function stops and returns how many requests were answered."""
    stop = threading.Event()
    answered = [0]
    headers = {SYNTHETIC_HEADER: "1", COLOR_HEADER: color.value}
    limit = load.duration.total_seconds() if load.duration is not None else None

    def send() -> None:
        gap = 1.0 / load.rate
        begun = time.monotonic()
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=10.0) as client:
            index = 0
            while not stop.is_set():
                elapsed = time.monotonic() - begun
                if limit is not None and elapsed >= limit:
                    return
                try:
                    client.get(load.paths[index % len(load.paths)])
                    answered[0] += 1
                except httpx.HTTPError:
                    pass  # the router counts what it could not answer; the generator goes on
                index += 1
                # On schedule: a slow answer is not made up for with a burst.
                stop.wait(max(0.0, begun + index * gap - time.monotonic()))

    thread = threading.Thread(target=send, name=f"synthetic-load-{color.value}", daemon=True)
    thread.start()

    def halt() -> int:
        stop.set()
        thread.join(timeout=15)
        return answered[0]

    return halt
