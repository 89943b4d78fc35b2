"""Configs for the security tests; the scan reports come from ``arxdeploy.testing.scans``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arxdeploy.config.models import Config
from arxdeploy.testing.scans import DIGEST, IMAGE, grype_report, sarif_report, trivy_report

__all__ = ["DIGEST", "IMAGE", "OTHER_DIGEST", "config", "grype_report", "sarif_report", "trivy_report", "write"]

OTHER_DIGEST = "sha256:" + "b" * 64


def config(
    *, target: str = "kubernetes", security: dict[str, Any] | None = None, name: str = "production", **env: Any
) -> Config:
    targets: dict[str, Any] = {"type": target, target: {} if target == "kubernetes" else {"command": ["app"]}}
    return Config.model_validate(
        {
            "service": "web",
            "target": targets,
            "environments": {name: {"replicas": 2, **env}},
            "security": security or {},
        }
    )


def write(folder: Path, name: str, report: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(json.dumps(report), encoding="utf-8")
    return path
