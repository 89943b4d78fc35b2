"""Label selectors (equality and set-based) and field selectors, parsed and over HTTP."""

from __future__ import annotations

import httpx
import pytest

from arxdeploy.testing.kube.selectors import parse_field_selector, parse_label_selector
from tests.kube_emulator.conftest import CONFIGMAPS, configmap

LABELS = {"app": "web", "color": "blue", "tier": "front"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app=web,color=green", False),
        ("color in (blue,green)", True),
        ("color in (green, red)", False),
        ("color notin (green)", True),
        ("missing notin (x)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web, color in (blue), !missing", True),
        ("", True),
    ],
)
def test_label_selector_semantics(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


def test_a_malformed_label_selector_is_a_bad_request(api: httpx.Client) -> None:
    response = api.get(CONFIGMAPS, params={"labelSelector": "app in web"})
    assert response.status_code == 400
    assert response.json()["reason"] == "BadRequest"


def test_field_selectors_match_dotted_paths() -> None:
    obj = {"metadata": {"name": "a", "namespace": "default"}, "status": {"phase": "Running"}}
    assert parse_field_selector("metadata.name=a").matches(obj)
    assert parse_field_selector("metadata.name!=b,status.phase==Running").matches(obj)
    assert not parse_field_selector("metadata.namespace=kube-system").matches(obj)


def test_lists_filter_by_label_and_field_selectors(api: httpx.Client) -> None:
    api.post(CONFIGMAPS, json=configmap("blue", {"app": "web", "color": "blue"}))
    api.post(CONFIGMAPS, json=configmap("green", {"app": "web", "color": "green"}))
    api.post(CONFIGMAPS, json=configmap("db", {"app": "db"}))

    def names(**params: str) -> list[str]:
        return [i["metadata"]["name"] for i in api.get(CONFIGMAPS, params=params).json()["items"]]

    assert names(labelSelector="app=web") == ["blue", "green"]
    assert names(labelSelector="color notin (blue)") == ["db", "green"]
    assert names(labelSelector="app=web,color!=blue") == ["green"]
    assert names(labelSelector="!color") == ["db"]
    assert names(fieldSelector="metadata.name=green") == ["green"]
    assert names(fieldSelector="metadata.name!=green", labelSelector="app") == ["blue", "db"]
