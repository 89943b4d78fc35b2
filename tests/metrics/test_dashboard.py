"""The Grafana dashboard's shape: what Grafana needs to import it, and a panel for each thing
the served metrics say (its PromQL is run by a real Prometheus in test_promql.py)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "arxdeploy-dashboard.json"


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def test_panels_are_placed_once_on_the_grid_with_their_queries() -> None:
    dashboard = load()
    assert dashboard["uid"] == "arxdeploy" and dashboard["title"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    boxes = []
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        boxes.append((panel["title"], grid["x"], grid["y"], grid["w"], grid["h"]))
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    for (a, ax, ay, aw, ah), (b, bx, by, bw, bh) in itertools.combinations(boxes, 2):
        apart = ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
        assert apart, f"{a!r} and {b!r} overlap"
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "service", "environment"]


def test_every_served_family_has_a_panel() -> None:
    used = set(re.findall(r"arxdeploy_[a-z_]+", DASHBOARD.read_text()))
    families = {
        "arxdeploy_live_info",
        "arxdeploy_last_deployment_info",
        "arxdeploy_environment_unhealthy",
        "arxdeploy_deployments",
        "arxdeploy_deployments_finished_total",
        "arxdeploy_deployment_duration_seconds_bucket",
        "arxdeploy_step_duration_seconds_bucket",
        "arxdeploy_rollbacks_total",
        "arxdeploy_time_to_restore_seconds_bucket",
        "arxdeploy_approval_wait_seconds_bucket",
        "arxdeploy_approval_oldest_wait_seconds",
        "arxdeploy_pending_approvals",
        "arxdeploy_analysis_results_total",
        "arxdeploy_canary_weight",
        "arxdeploy_http_requests_total",
    }
    assert families - used == set()
