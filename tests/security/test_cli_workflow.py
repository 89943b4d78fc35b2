"""The workflow `arxdeploy init` writes: the build job scans the image with Trivy and keeps the JSON
report; the deploy jobs hand it to arxdeploy's security step. (actionlint checks the whole file in
tests/scaffold.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from arxdeploy.scaffold import scaffold


def workflow(tmp_path: Path, target: str) -> dict[str, Any]:
    scaffold(directory=tmp_path, target=target, service="arxos", image="ghcr.io/acme/arxos")
    return yaml.safe_load((tmp_path / ".github/workflows/deploy_pipeline.yml").read_text(encoding="utf-8"))


def test_the_build_job_scans_the_pushed_image_and_keeps_the_report(tmp_path: Path) -> None:
    steps = workflow(tmp_path, "kubernetes")["jobs"]["build"]["steps"]
    names = [s.get("uses", s.get("name")) for s in steps]
    pushed = names.index("docker/build-push-action@v7")
    scan = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("aquasecurity/trivy-action@"))
    assert scan > pushed  # the image that was pushed, by the tag arxdeploy deploys
    assert steps[scan]["with"] == {
        "image-ref": "${{ env.IMAGE }}:${{ needs.route.outputs.version }}",
        "format": "json",
        "output": "trivy-report.json",
        "exit-code": "0",
    }
    keep = steps[scan + 1]
    assert keep["uses"].startswith("actions/upload-artifact@")
    assert (keep["with"]["name"], keep["with"]["path"]) == ("trivy-report", "trivy-report.json")


def test_the_deploy_jobs_pass_the_report_to_the_security_step(tmp_path: Path) -> None:
    jobs = workflow(tmp_path, "kubernetes")["jobs"]
    for job, step_name in (("deploy-staging", "Deploy"), ("request-production", "Ask for approval")):
        steps = jobs[job]["steps"]
        fetch = next(s for s in steps if str(s.get("uses", "")).startswith("actions/download-artifact@"))
        assert fetch["with"] == {"name": "trivy-report", "path": "${{ runner.temp }}/scan"}
        deploy = next(s for s in steps if s.get("name") == step_name)
        assert deploy["env"]["ARXDEPLOY_SCAN_REPORT"] == "${{ runner.temp }}/scan/trivy-report.json"
        assert steps.index(fetch) < steps.index(deploy)
        assert "build" in jobs[job]["needs"] or "deploy-staging" in jobs[job]["needs"]


def test_the_local_target_runs_no_image_and_gets_no_scan(tmp_path: Path) -> None:
    jobs = workflow(tmp_path, "local")["jobs"]
    uses = [str(s.get("uses", "")) for job in jobs.values() for s in job.get("steps", [])]
    assert not any("trivy" in u or "artifact" in u for u in uses)
