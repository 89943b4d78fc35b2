"""examples/arxos: the seed's repository layout, checked with real tools and played through.

The config, manifests, workflow and wrapper script are checked as shipped. Then the seed's five
usage examples run: each CI event goes through `arxdeploy route` the way the workflow calls it,
and the decision is carried out by `deploy_script.sh` (the seed's entry point) on the local
target, with the example's config moved from the cluster to this machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from arxdeploy.targets.local.client import LocalTarget
from tests.fixtures.database import AppDatabase
from tests.support import free_port, without_arxdeploy_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "arxos"
INFRA = EXAMPLE / "arx-infra"
CONFIG = INFRA / "deploy" / "deployment_config.yaml"
WORKFLOW = EXAMPLE / ".github" / "workflows" / "deploy_pipeline.yml"
SCRIPT = INFRA / "deploy" / "deploy_script.sh"
CLI = [sys.executable, "-m", "arxdeploy.cli.main"]
SHA_DEVELOP = "1111111111111111111111111111111111111111"
SHA_MAIN = "2222222222222222222222222222222222222222"
# The repository variable the example's backups are sealed for (an age public key).
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"{name} is missing: `make test` installs it"
    return found


def clean_env(**extra: str) -> dict[str, str]:
    # Not CI either: the approvals here stand for people at their terminals, even when the suite runs in CI.
    env = {
        k: v for k, v in without_arxdeploy_settings().items() if not k.startswith(("GITHUB_", "RUNNER_")) and k != "CI"
    }
    return {**env, "ARXDEPLOY_BACKUP_RECIPIENT": RECIPIENT, **extra}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=180, env=clean_env(**env), check=False)


# --- as shipped -----------------------------------------------------------------------------


def test_the_layout_is_the_seeds() -> None:
    for path in (
        "arx-infra/deploy/deployment_config.yaml",
        "arx-infra/deploy/deploy_script.sh",
        "arx-infra/k8s/staging/deployment.yaml",
        "arx-infra/k8s/production/deployment.yaml",
        "arx-infra/k8s/rbac/production.yaml",
        "arx-infra/k8s/network-policies/default-deny.yaml",
        ".github/workflows/deploy_pipeline.yml",
    ):
        assert (EXAMPLE / path).is_file(), path
    assert os.access(SCRIPT, os.X_OK)


def test_the_config_validates_and_keeps_the_seeds_numbers() -> None:
    done = run([*CLI, "-c", str(CONFIG), "validate", "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["warnings"] == []  # every key it sets has an effect
    config = yaml.safe_load(CONFIG.read_text())
    staging, production = config["environments"]["staging"], config["environments"]["production"]
    assert (staging["branches"], staging["replicas"]) == (["develop"], 2)
    assert (production["branches"], production["tags"], production["replicas"]) == (["main"], ["v*"], 3)
    assert config["target"]["kubernetes"]["namespace"] == "arxos-{environment}"
    assert config["approval_gates"]["approvers"] == ["admin@arxos.com", "devops@arxos.com"]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_rendered_manifests_pass_the_kubernetes_schemas(environment: str, tmp_path: Path) -> None:
    rendered = run([*CLI, "-c", str(CONFIG), "k8s", "render", "--env", environment, "--version", "v1.2.0"])
    assert rendered.returncode == 0, rendered.stderr
    documents = list(yaml.safe_load_all(rendered.stdout))
    namespaces = {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"}
    assert namespaces == {f"arxos-{environment}"}
    (tmp_path / "all.yaml").write_text(rendered.stdout)
    checked = run([tool("kubernetes-validate"), "--strict", "--quiet", str(tmp_path / "all.yaml")])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (settings,) = [d for d in documents if d["kind"] == "ConfigMap"]
    assert settings["immutable"] is True and settings["data"]["ENVIRONMENT"] == environment
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}]
    assert {d["kind"] for d in documents} >= {"PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"}


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_app_may_reach_its_database_past_the_namespaces_dns_only_egress(environment: str) -> None:
    """The admin's allow-dns-egress.yaml denies every egress but DNS to every pod; the app's own
    egress policy must open its database, or the app is cut off from it."""
    admin = yaml.safe_load((INFRA / "k8s" / "network-policies" / "allow-dns-egress.yaml").read_text())
    assert admin["spec"]["podSelector"] == {} and admin["spec"]["policyTypes"] == ["Egress"]
    rendered = run([*CLI, "-c", str(CONFIG), "k8s", "render", "--env", environment, "--version", "v1.2.0"])
    (egress,) = [d for d in yaml.safe_load_all(rendered.stdout) if d["metadata"]["name"] == "arxos-egress"]
    assert egress["spec"]["podSelector"] == {"matchLabels": {"app": "arxos"}}
    rules = egress["spec"]["egress"]
    dns = [r for r in rules if {"protocol": "UDP", "port": 53} in r.get("ports", [])]
    database = [r for r in rules if {"protocol": "TCP", "port": 5432} in r.get("ports", [])]
    assert dns and database
    (peer,) = database[0]["to"]
    assert "cidr" in peer["ipBlock"]


def test_rbac_and_network_policies_pass_the_kubernetes_schemas() -> None:
    admin = ("rbac", "network-policies", "server")
    files = sorted(str(p) for p in (INFRA / "k8s").glob("*/*.yaml") if p.parent.name in admin)
    assert len(files) >= 7
    checked = run([tool("kubernetes-validate"), "--strict", "--quiet", *files])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_workflow_passes_actionlint_and_reads_the_example_config() -> None:
    linted = run([tool("actionlint"), "-no-color", "-oneline", str(WORKFLOW)])
    assert linted.returncode == 0, linted.stdout + linted.stderr
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["env"]["ARXDEPLOY_CONFIG"] == "arx-infra/deploy/deployment_config.yaml"
    assert set(workflow["jobs"]) >= {"validate", "build", "deploy-staging", "deploy-production", "rollback", "monitor"}
    # production: asked for by one job, resumed by a later one (any runner), on the shared record
    assert workflow["jobs"]["deploy-production"]["needs"] == ["route", "request-production"]
    assert workflow["env"]["ARXDEPLOY_BACKUP_RECIPIENT"] == "${{ vars.ARXDEPLOY_BACKUP_RECIPIENT }}"
    config = yaml.safe_load(CONFIG.read_text())
    assert config["store_url"] == "kubernetes://" and config["backup"]["storage"]["type"] == "s3"


def test_every_job_that_may_take_a_backup_names_the_database() -> None:
    """Every deploy, resume and rollback takes a backup first, and the backup runs the database
    script: those jobs give it libpq's variables, the password from a secret."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    changing = {
        name
        for name, job in jobs.items()
        if any(re.search(r"arxdeploy (deploy|resume|rollback)\b", step.get("run", "")) for step in job["steps"])
    }
    assert changing >= {"deploy-staging", "request-production", "deploy-production", "rollback"}
    for name in changing:
        env = jobs[name].get("env", {})
        assert {k: env.get(k) for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE")} == {
            k: f"${{{{ vars.{k} }}}}" for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE")
        }, name
        assert env.get("PGPASSWORD") == "${{ secrets.PGPASSWORD }}", name


def test_the_wrapper_and_database_scripts_pass_shellcheck() -> None:
    scripts = [SCRIPT, *sorted((INFRA / "deploy" / "scripts").glob("*.sh"))]
    assert [p.name for p in scripts] == ["deploy_script.sh", "backup_database.sh", "restore_database.sh"]
    assert all(os.access(p, os.X_OK) for p in scripts)
    checked = run([tool("shellcheck"), *map(str, scripts)])
    assert checked.returncode == 0, checked.stdout


# --- the seed's five usage examples ------------------------------------------------------------


@dataclass
class Repo:
    """A copy of the example whose config runs the demo app on this machine instead of a cluster,
    its database scripts dumping a real database (as a CI job's PG* variables name it)."""

    root: Path
    ports: dict[str, int]
    database: AppDatabase

    @property
    def config(self) -> Path:
        return self.root / "arx-infra" / "deploy" / "deployment_config.yaml"

    def route(self, event: str, ref: str, sha: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """`arxdeploy route` as the workflow's route job runs it: GitHub's variables, nothing else."""
        event_file = self.root / "event.json"
        event_file.write_text(json.dumps(payload or {}))
        output = self.root / "github_output"
        output.write_text("")
        github = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_REF": ref,
            "GITHUB_SHA": sha,
            "GITHUB_EVENT_PATH": str(event_file),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(self.root / "summary.md"),
            "ARXDEPLOY_CONFIG": str(self.config),
        }
        done = run([*CLI, "route", "--json"], **github)
        assert done.returncode == 0, done.stdout + done.stderr
        decided: dict[str, Any] = json.loads(done.stdout)
        return decided

    def script(self, *args: str, person: str = "dev@arxos.com") -> subprocess.CompletedProcess[str]:
        env = {"ARXDEPLOY": f"{sys.executable} -m arxdeploy.cli.main", "ARXDEPLOY_EMAIL": person}
        return run([str(self.root / "arx-infra" / "deploy" / "deploy_script.sh"), *args], **env, **self.database.env)

    def cli(self, *args: str, person: str = "dev@arxos.com") -> subprocess.CompletedProcess[str]:
        return run([*CLI, "-c", str(self.config), *args], ARXDEPLOY_EMAIL=person, **self.database.env)

    def deploy(self, environment: str, version: str) -> None:
        """What the deploy jobs do: the script, then, if it waits at the gate, an approval and resume."""
        done = self.script("--environment", environment, "--version", version, "--no-wait")
        assert done.returncode == 0, done.stdout + done.stderr
        waiting = json.loads(self.cli("approvals", "--json").stdout)
        if waiting:
            (request,) = waiting
            assert request["version"] == version and request["environment"] == environment
            approved = self.cli("approve", request["id"], person="devops@arxos.com")
            assert approved.returncode == 0, approved.stderr
            resumed = self.cli("resume", request["id"])
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert self.served(environment) == version

    def served(self, environment: str) -> str | None:
        response = httpx.get(f"http://127.0.0.1:{self.ports[environment]}/api/version", timeout=5)
        version: str = response.json()["version"]
        return version

    def stop(self) -> None:
        """Stop both environments, then the runtime (idle, it would only leave a minute later)."""
        try:
            for environment in self.ports:
                self.cli("stop", "--env", environment)
        finally:
            runtime = LocalTarget(state_dir=self.config.parent / ".arxdeploy", service="arxos", environments={})
            try:
                runtime.shutdown_runtime()
            finally:
                runtime.close()


@pytest.fixture
def repo(tmp_path: Path, app_database: AppDatabase) -> Iterator[Repo]:
    root = tmp_path / "arxos"
    shutil.copytree(EXAMPLE, root)
    app = resources.files("arxdeploy.demo_app").joinpath("app.py").read_text(encoding="utf-8")
    (root / "arx-infra" / "deploy" / "app.py").write_text(app)
    ports = {"staging": free_port(), "production": free_port()}
    made = Repo(root, ports, app_database)
    config = yaml.safe_load(made.config.read_text())
    config.pop("store_url")  # the record moves from the cluster to this machine too
    # and the backups from S3 to its state dir, still with the database's dump
    config["backup"] = {key: config["backup"][key] for key in ("keep", "database")}
    config["target"] = {
        "type": "local",
        "local": {"command": [sys.executable, "app.py", "--port", "{port}", "--version", "{version}"]},
    }
    for name, environment in config["environments"].items():
        environment.update(
            {
                "listen": f"127.0.0.1:{ports[name]}",
                "replicas": 1,
                "monitoring_duration": "1s",
                "rollback_timeout": "20s",
            }
        )
    config["deployment_strategy"]["blue_green"].update({"traffic_switch_delay": 0, "scale_down_delay": "1s"})
    config["health_checks"].update({"interval": "200ms", "success_threshold": 1, "progress_deadline": "20s"})
    made.config.write_text(yaml.safe_dump(config, sort_keys=False))
    yield made
    made.stop()


@pytest.mark.slow
def test_the_seeds_five_usage_examples(repo: Repo) -> None:
    # 1. Automated staging deployment: push to develop.
    decided = repo.route("push", "refs/heads/develop", SHA_DEVELOP)
    assert (decided["action"], decided["environment"], decided["needs_approval"]) == ("deploy", "staging", False)
    repo.deploy("staging", decided["version"])

    # 2. Production deployment with approval: push to main (staging first, then production).
    decided = repo.route("push", "refs/heads/main", SHA_MAIN)
    assert (decided["action"], decided["environment"], decided["needs_approval"]) == ("deploy", "production", True)
    repo.deploy("staging", decided["version"])
    repo.deploy("production", decided["version"])
    main_version = decided["version"]

    # ... and a release tag.
    decided = repo.route("push", "refs/tags/v1.2.0", SHA_MAIN)
    assert (decided["environment"], decided["version"]) == ("production", "v1.2.0")
    repo.deploy("production", "v1.2.0")

    # 3. Manual deployment: Run workflow, environment staging.
    decided = repo.route("workflow_dispatch", "refs/heads/main", SHA_MAIN, {"inputs": {"environment": "staging"}})
    assert (decided["action"], decided["environment"]) == ("deploy", "staging")
    repo.deploy("staging", decided["version"])

    # 4. Emergency rollback: the seed's own command.
    rolled = repo.script("--rollback", "--environment", "production")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert repo.served("production") == main_version

    # 5. A pull request to main is validated, never deployed.
    decided = repo.route("pull_request", "refs/pull/7/merge", SHA_MAIN, {"pull_request": {"base": {"ref": "main"}}})
    assert (decided["action"], decided["environment"]) == ("validate", "production")

    history = json.loads(repo.cli("history", "--env", "production", "--json").stdout)
    assert [(h["kind"], h["version"], h["state"]) for h in history] == [
        ("rollback", main_version, "succeeded"),
        ("deploy", "v1.2.0", "succeeded"),
        ("deploy", main_version, "succeeded"),
    ]
    # Every backup holds a dump of the database; the rollback left the data as it was.
    backups = json.loads(repo.cli("backup", "list", "--env", "production", "--json").stdout)
    assert len(backups) == 3 and all(b["database"] for b in backups)
    rollback = json.loads(repo.cli("show", history[0]["id"], "--json").stdout)
    assert rollback["database_restored_from"] is None
    assert "the database is left as it is" in rollback["steps"][0]["detail"]
