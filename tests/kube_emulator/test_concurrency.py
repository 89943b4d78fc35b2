"""Concurrent writers: every write is applied one at a time, so none is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from arxdeploy.testing.kube import KubeEmulator
from tests.kube_emulator.conftest import CONFIGMAPS, MERGE, configmap

WORKERS, EACH = 6, 15


def client(kube: KubeEmulator) -> httpx.Client:
    return httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=10)


def test_concurrent_patches_to_one_object_all_land(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("shared"))

    def write(worker: int) -> None:
        with client(kube) as own:
            for n in range(EACH):
                response = own.patch(f"{CONFIGMAPS}/shared", json={"data": {f"k{worker}-{n}": "x"}}, headers=MERGE)
                assert response.status_code == 200

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(write, range(WORKERS)))
    assert len(api.get(f"{CONFIGMAPS}/shared").json()["data"]) == WORKERS * EACH


@pytest.mark.parametrize("verb", ["put", "json-patch"])
def test_read_modify_write_with_resource_versions_never_loses_an_increment(
    kube: KubeEmulator, api: httpx.Client, verb: str
) -> None:
    api.post(CONFIGMAPS, json=configmap("counter", n="0"))

    def increment(_: int) -> int:
        conflicts = 0
        with client(kube) as own:
            for _ in range(EACH):
                while True:
                    current = own.get(f"{CONFIGMAPS}/counter").json()
                    value = str(int(current["data"]["n"]) + 1)
                    if verb == "put":
                        current["data"]["n"] = value
                        response = own.put(f"{CONFIGMAPS}/counter", json=current)
                    else:
                        ops = [
                            {"op": "test", "path": "/data/n", "value": current["data"]["n"]},
                            {"op": "replace", "path": "/data/n", "value": value},
                        ]
                        response = own.patch(
                            f"{CONFIGMAPS}/counter", json=ops, headers={"Content-Type": "application/json-patch+json"}
                        )
                    if response.status_code == 200:
                        break
                    assert response.status_code == (409 if verb == "put" else 422)
                    conflicts += 1
        return conflicts

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(increment, range(WORKERS)))
    assert api.get(f"{CONFIGMAPS}/counter").json()["data"]["n"] == str(WORKERS * EACH)
