"""Watch: replay after a resourceVersion, live events without loss, selectors, timeouts, 410."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from arxdeploy.testing.kube import KubeEmulator
from tests.kube_emulator.conftest import CONFIGMAPS, MERGE, configmap
from tests.support import wait_until

Events = list[dict[str, Any]]


def watch(api: httpx.Client, path: str, until: Callable[[Events], bool] | None = None, **params: Any) -> Events:
    """Read watch events until ``until`` holds or the server ends the stream."""
    events: Events = []
    with api.stream("GET", path, params={"watch": "true", **params}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
                if until is not None and until(events):
                    break
    return events


def summary(events: Events) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


def test_watch_replays_changes_after_the_given_resource_version(api: httpx.Client) -> None:
    since = api.post(CONFIGMAPS, json=configmap("a")).json()["metadata"]["resourceVersion"]
    api.post(CONFIGMAPS, json=configmap("b"))
    api.patch(f"{CONFIGMAPS}/a", json={"data": {"x": "1"}}, headers=MERGE)
    api.delete(f"{CONFIGMAPS}/b")
    started = time.monotonic()
    events = watch(api, CONFIGMAPS, resourceVersion=since, timeoutSeconds=1)
    elapsed = time.monotonic() - started
    assert summary(events) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert events[1]["object"]["data"] == {"x": "1"}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    # watch() returned without `until`: the server ended the stream, and not before timeoutSeconds
    # (a lower bound the server's own wait guarantees; a slow machine only makes it longer).
    assert elapsed >= 0.9


def test_watch_without_a_resource_version_starts_with_the_current_state(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("existing"))

    def write_later() -> None:
        api.post(CONFIGMAPS, json=configmap("live"))

    timer = threading.Timer(0.2, write_later)
    timer.start()
    try:
        events = watch(api, CONFIGMAPS, until=lambda e: len(e) >= 2, timeoutSeconds=10, watch="1")
    finally:
        timer.join()
    assert summary(events) == [("ADDED", "existing"), ("ADDED", "live")]


def test_live_events_from_concurrent_writers_are_all_delivered(kube: KubeEmulator, api: httpx.Client) -> None:
    since = api.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    writers, each = 4, 25
    names = {f"w{w}-{n}" for w in range(writers) for n in range(each)}
    collected: Events = []
    reader = threading.Thread(
        target=lambda: collected.extend(
            watch(api, CONFIGMAPS, until=lambda e: len(e) >= len(names) * 2, resourceVersion=since, timeoutSeconds=20)
        )
    )
    reader.start()

    def write(worker: int) -> None:
        with httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context()) as client:
            for n in range(each):
                client.post(CONFIGMAPS, json=configmap(f"w{worker}-{n}"))
                client.patch(f"{CONFIGMAPS}/w{worker}-{n}", json={"data": {"n": str(n)}}, headers=MERGE)

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    reader.join(timeout=20)
    assert not reader.is_alive()
    assert {name for kind, name in summary(collected) if kind == "ADDED"} == names
    assert {name for kind, name in summary(collected) if kind == "MODIFIED"} == names
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in collected]
    assert versions == sorted(set(versions))  # in order, no duplicates


def test_watch_reports_objects_entering_and_leaving_the_selector(api: httpx.Client) -> None:
    since = api.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    api.post(CONFIGMAPS, json=configmap("one", {"color": "blue"}))
    api.post(CONFIGMAPS, json=configmap("other", {"color": "green"}))
    api.patch(f"{CONFIGMAPS}/one", json={"metadata": {"labels": {"color": "green"}}}, headers=MERGE)
    api.patch(f"{CONFIGMAPS}/one", json={"metadata": {"labels": {"color": "blue"}}}, headers=MERGE)
    api.patch(f"{CONFIGMAPS}/one", json={"data": {"a": "1"}}, headers=MERGE)
    events = watch(api, CONFIGMAPS, labelSelector="color in (blue)", resourceVersion=since, timeoutSeconds=1)
    assert summary(events) == [("ADDED", "one"), ("DELETED", "one"), ("ADDED", "one"), ("MODIFIED", "one")]


def test_watch_filters_by_field_selector_and_supports_the_legacy_path(api: httpx.Client) -> None:
    since = api.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    api.post(CONFIGMAPS, json=configmap("a"))
    api.post(CONFIGMAPS, json=configmap("b"))
    events = watch(api, CONFIGMAPS, fieldSelector="metadata.name=b", resourceVersion=since, timeoutSeconds=1)
    assert summary(events) == [("ADDED", "b")]
    legacy = watch(api, "/api/v1/watch/namespaces/default/configmaps", resourceVersion=since, timeoutSeconds=1)
    assert summary(legacy) == [("ADDED", "a"), ("ADDED", "b")]


def test_a_compacted_resource_version_gets_a_410_error_event() -> None:
    with (
        KubeEmulator(history_limit=3) as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context()) as api,
    ):
        first = api.post(CONFIGMAPS, json=configmap("c0")).json()["metadata"]["resourceVersion"]
        for n in range(1, 6):
            api.post(CONFIGMAPS, json=configmap(f"c{n}"))
        events = watch(api, CONFIGMAPS, resourceVersion=first, timeoutSeconds=5)
        assert len(events) == 1
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410
        assert events[0]["object"]["reason"] == "Expired"


def test_stopping_the_emulator_ends_open_watches(kube: KubeEmulator) -> None:
    api = httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context())
    done = threading.Event()

    def follow() -> None:
        with contextlib.suppress(httpx.HTTPError):
            watch(api, CONFIGMAPS, timeoutSeconds=60)
        done.set()

    reader = threading.Thread(target=follow)
    reader.start()
    wait_until(lambda: kube.calls[f"GET {CONFIGMAPS}"], what="the watch to connect")
    kube.stop()
    assert done.wait(5)
    reader.join()
    api.close()
