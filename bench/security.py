"""The security step: its wall time for the seed's objects and a 2,000-finding report, and its share of a deployment.

In process: the gates (``security.runner.Gates``, as the step runs them) over the config
`arxdeploy init` writes for the Kubernetes target (the seed's environments and objects), with a
scan report of 2,000 findings in each scanner's format (Trivy, Grype, SARIF), and the tls gate
against a TLS server on loopback (a certificate made here, its CA given as ``ca_file``).

With the real CLI: deploys of the demo app on the local target with the same report and public
URL; the ``security`` step's seconds against the deploy's (``deploy --json``), as engine_overhead
measures the rest.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from common import ENVIRONMENT, Service, Settings, log, run_alone, seconds_between, summary

NAME = "security"
FINDINGS = 2000
SETTINGS = Settings(replicas=2, switch_delay=1.0, monitoring=3.0, scale_down=1.0, interval=0.3, success_threshold=2)
SEVERITIES = ("low", "medium", "high")  # no critical: with fail_on critical the deployments go ahead


def vulns(count: int) -> list[tuple[str, str, str, str, str | None]]:
    return [
        (
            f"CVE-2026-{n:05d}",
            f"package-{n % 300}",
            f"1.{n % 7}.{n % 11}",
            SEVERITIES[n % 3],
            None if n % 4 else f"1.{n % 7}.99",
        )
        for n in range(count)
    ]


def reports(folder: Path, image: str) -> dict[str, Path]:
    from arxdeploy.testing.scans import grype_report, sarif_report, trivy_report

    found = vulns(FINDINGS)
    made = {"trivy": trivy_report, "grype": grype_report, "sarif": sarif_report}
    paths = {}
    for kind, make in made.items():
        path = folder / f"{kind}.json"
        path.write_text(json.dumps(make(found, image=image)), encoding="utf-8")
        paths[kind] = path
    return paths


class _Tls:
    """A CA, a valid certificate for localhost, and a TLS server with it."""

    def __init__(self, folder: Path) -> None:
        from arxdeploy.testing.tls import Server, issue, server_context

        now = datetime.now(UTC)
        ca = issue(
            "bench CA", issuer=None, not_before=now - timedelta(days=1), not_after=now + timedelta(days=3650), ca=True
        )
        leaf = issue("localhost", issuer=ca, not_before=now - timedelta(days=1), not_after=now + timedelta(days=90))
        self.ca_file, _ = ca.write(folder, "ca")
        self.server = Server(server_context(leaf, folder, "localhost"))
        self.url = f"https://localhost:{self.server.port}/"

    def close(self) -> None:
        self.server.close()


def _timed(run: Callable[[], Any], repeats: int) -> tuple[dict[str, Any], Any]:
    seconds, last = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        last = run()
        seconds.append(time.perf_counter() - start)
    return summary(seconds, 4), last


def in_process(quick: bool, folder: Path, tls: _Tls) -> dict[str, Any]:
    from arxdeploy.clock import SystemClock
    from arxdeploy.config import load
    from arxdeploy.domain import security_events
    from arxdeploy.scaffold import scaffold
    from arxdeploy.security import reports as scan_reports
    from arxdeploy.security import runner, sarif, vulnerabilities
    from arxdeploy.security import tls as tls_gate
    from arxdeploy.targets.kubernetes.manifests import image_for
    from arxdeploy.targets.kubernetes.spec import spec_from_config

    repeats = 3 if quick else 15
    project = folder / "init"
    scaffold(directory=project, target="kubernetes", service="arxos", image="ghcr.io/acme/arxos")
    config_file = project / "deployment_config.yaml"
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    version = "1.4.0"
    loaded = load(
        config_file, {"ARXDEPLOY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
    )
    spec = spec_from_config(loaded.config, base_dir=project)
    image = image_for(spec, version)
    paths = reports(project, image)
    figures: dict[str, Any] = {"image": image, "report_bytes": {k: p.stat().st_size for k, p in paths.items()}}
    figures["parse_s"] = {k: _timed(lambda p=p: scan_reports.read(p), repeats)[0] for k, p in paths.items()}
    per_format = {}
    for kind, path in paths.items():
        raw["security"] = {
            "vulnerabilities": {"reports": [path.name], "fail_on": "critical"},
            "tls": {"ca_file": tls.ca_file.as_posix()},
        }
        raw["environments"]["production"]["url"] = tls.url
        config_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        loaded = load(
            config_file,
            {"ARXDEPLOY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
        )
        gates = runner.Gates(
            config=loaded.config,
            base_dir=project,
            environ={},
            clock=SystemClock(),
            image_of=lambda v: image_for(spec, v),
        )
        timing, results = _timed(lambda g=gates: g.run(environment="production", version=version), repeats)
        statuses = {r.gate: r.status.value for r in results}
        recorded = [security_events.recorded(r, datetime.now(UTC)).to_json() for r in results]
        per_format[kind] = {
            "gates_s": timing,
            "statuses": statuses,
            "findings_in_result": {r.gate: len(r.findings) for r in results},
            "event_bytes": sum(len(json.dumps(e)) for e in recorded),
        }
        log(f"security: {kind} {FINDINGS} findings, all gates median {timing['median']}s ({statuses})")
    figures["gates"] = per_format
    # Every finding kept: fail_on low makes all 2,000 findings of the Trivy report the gate's, as
    # a failing deployment records them (50 kept in the event) and `security check --sarif` writes them.
    raw["security"]["vulnerabilities"] = {"reports": ["trivy.json"], "fail_on": "low"}
    config_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    loaded = load(
        config_file, {"ARXDEPLOY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
    )
    gates = runner.Gates(
        config=loaded.config, base_dir=project, environ={}, clock=SystemClock(), image_of=lambda v: image_for(spec, v)
    )
    timing, results = _timed(lambda: gates.run(environment="production", version=version), repeats)
    sarif_timing, doc = _timed(
        lambda: sarif.document(
            results, config_file="deployment_config.yaml", service="arxos", environment="production", version=version
        ),
        repeats,
    )
    figures["all_findings_kept"] = {
        "gates_s": timing,
        "statuses": {r.gate: r.status.value for r in results},
        "findings_in_result": {r.gate: len(r.findings) for r in results},
        "event_bytes": sum(len(json.dumps(security_events.recorded(r, datetime.now(UTC)).to_json())) for r in results),
        "sarif_s": sarif_timing,
        "sarif_bytes": len(json.dumps(doc)),
    }
    only = {
        "vulnerabilities_s": lambda: vulnerabilities.check(
            config=loaded.config,
            base_dir=project,
            version=version,
            image=image,
            digest=None,
            today=datetime.now(UTC).date(),
            environ={},
        ),
        "tls_s": lambda: tls_gate.check(
            config=loaded.config, environment="production", base_dir=project, now=datetime.now(UTC), environ={}
        ),
    }
    figures["each_gate_sarif_report"] = {name: _timed(run, repeats)[0] for name, run in only.items()}
    return figures


class SecuredService(Service):
    """The demo app with the security step on: the 2,000-finding report and a public URL."""

    def __init__(self, settings: Settings, report: Path, tls: _Tls) -> None:
        self._report, self._tls = report, tls
        super().__init__(settings)

    def _config(self, s: Settings) -> dict[str, Any]:
        config = super()._config(s)
        config["environments"][ENVIRONMENT]["url"] = self._tls.url
        config["security"] = {
            "vulnerabilities": {"reports": [str(self._report)], "fail_on": "critical"},
            "tls": {"ca_file": str(self._tls.ca_file)},
        }
        return config


def deployments(quick: bool, folder: Path, tls: _Tls) -> dict[str, Any]:
    report = reports(folder, "bench-api:unused")["trivy"]  # the local target runs no image: no name check
    runs = []
    svc = SecuredService(SETTINGS, report, tls)
    try:
        with _served(svc, "v0"):
            for n in range(1, 3 if quick else 6):
                log(f"security: deploy {n}")
                result, run = svc.deploy(f"v{n}")
                steps = {s["step"]: s["seconds"] for s in result["steps"]}
                total = seconds_between(result["created_at"], result["finished_at"])
                waits = SETTINGS.configured_waits()
                runs.append(
                    {
                        "security_step_s": steps["security"],
                        "deployment_s": round(total, 3),
                        "process_wall_s": round(run.seconds, 3),
                        "share_of_deployment": round(steps["security"] / total, 4),
                        "share_without_waits": round(steps["security"] / (total - waits), 4),
                        "security_detail": next(s["detail"] for s in result["steps"] if s["step"] == "security"),
                    }
                )
    finally:
        svc.close()
    keys = ("security_step_s", "deployment_s", "process_wall_s", "share_of_deployment", "share_without_waits")
    return {
        "settings": asdict(SETTINGS),
        "configured_waits_s": SETTINGS.configured_waits(),
        **{key: summary([r[key] for r in runs], 4) for key in keys},
        "per_deploy": runs,
    }


class _served:
    """``common.service`` for a service made here: the first version live, always torn down."""

    def __init__(self, svc: Service, first: str) -> None:
        self.svc, self.first = svc, first

    def __enter__(self) -> Service:
        from dataclasses import replace

        self.svc.write_config(replace(SETTINGS, monitoring=0, switch_delay=0, scale_down=0))
        self.svc.deploy(self.first)
        self.svc.write_config(SETTINGS)
        return self.svc

    def __exit__(self, *_exc: object) -> None:
        pass  # svc.close() in deployments()


def measure(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="arxdeploy-bench-security-") as name:
        folder = Path(name)
        tls = _Tls(folder)
        try:
            return {
                "findings": FINDINGS,
                "in_process": in_process(quick, folder, tls),
                "deployments": deployments(quick, folder, tls),
            }
        finally:
            tls.close()


def headline(figures: dict[str, Any]) -> str:
    gates = figures["in_process"]["gates"]
    deploys = figures["deployments"]
    each = ", ".join(f"{k} {v['gates_s']['median']}s" for k, v in gates.items())
    return (
        f"all gates with a {figures['findings']}-finding report: {each} (medians, in process); "
        f"the security step {deploys['security_step_s']['median']}s of a {deploys['deployment_s']['median']}s deploy "
        f"({statistics.median(r['share_of_deployment'] for r in deploys['per_deploy']):.1%})"
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
