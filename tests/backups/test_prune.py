"""Retention: ``prune`` keeps the newest backups of one environment and touches no other."""

from __future__ import annotations

import json
from pathlib import Path

from arxdeploy.backups import list_backups, prune


def save(state_dir: Path, deployment_id: str, environment: str, created_at: str) -> None:
    folder = state_dir / "backups" / deployment_id
    folder.mkdir(parents=True)
    manifest = {"deployment_id": deployment_id, "environment": environment, "created_at": created_at, "files": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_prune_keeps_the_newest_of_one_environment(tmp_path: Path) -> None:
    for hour in range(5):
        save(tmp_path, f"s{hour}", "staging", f"2026-11-27T1{hour}:00:00+00:00")
    save(tmp_path, "p0", "production", "2026-11-27T09:00:00+00:00")

    assert prune(tmp_path, environment="staging", keep=2) == ["s2", "s1", "s0"]

    assert [b.deployment_id for b in list_backups(tmp_path)] == ["s4", "s3", "p0"]
    assert prune(tmp_path, environment="staging", keep=2) == []
