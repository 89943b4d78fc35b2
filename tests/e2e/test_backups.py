"""`arxdeploy backup list|show|restore` on the local target."""

from __future__ import annotations

import json

import pytest

from .conftest import Service

pytestmark = pytest.mark.slow


def test_backups_are_listed_checked_restored_and_pruned(service: Service) -> None:
    with service.config.open("a", encoding="utf-8") as config:
        config.write("backup:\n  keep: 2\n")
    for version in ("v1", "v2"):
        assert service.run("deploy", "--env", "staging", "--version", version).returncode == 0
    history = service.json("history")
    second, first = history[0]["id"], history[1]["id"]

    listed = service.json("backup", "list")
    assert [b["deployment_id"] for b in listed] == [second, first]
    assert all(b["intact"] for b in listed)
    shown = service.json("backup", "show", second)
    assert (shown["live_version"], shown["live_color"]) == ("v1", "blue")

    done = service.run("backup", "restore", second, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    restored = json.loads(done.stdout)
    assert (restored["kind"], restored["version"], restored["state"]) == ("restore", "v1", "succeeded")
    assert restored["reason"] == f"restore of backup {second}"
    assert service.served_version() == "v1"
    # The restore took a backup of its own; with keep: 2 the oldest went.
    assert [b["deployment_id"] for b in service.json("backup", "list")] == [restored["id"], second]
    assert not (service.state_dir / "backups" / first).exists()

    # A damaged backup is reported, and refused.
    damaged = service.state_dir / "backups" / second / "environment.json"
    damaged.write_text(damaged.read_text().replace("v1", "v9"))
    assert [b["intact"] for b in service.json("backup", "list") if b["deployment_id"] == second] == [False]
    refused = service.run("backup", "restore", second)
    assert refused.returncode == 2
    assert "damaged" in refused.stderr and "environment.json" in refused.stderr
