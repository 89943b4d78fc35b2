"""`arxdeploy init`: what it writes is valid as written, for the real tools that read it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from arxdeploy.cli.init import init
from arxdeploy.cli.main import cli
from arxdeploy.errors import UsageError
from arxdeploy.scaffold import ACTION, scaffold
from tests.support import without_arxdeploy_settings

ROOT = Path(__file__).resolve().parents[2]
ACTION_FILE = ROOT / "action.yml"
WORKFLOW = Path(".github/workflows/deploy_pipeline.yml")
KUBE_VERSION = "1.37.0"
TARGETS = ["local", "kubernetes"]
SEED_JOBS = {"validate", "build", "deploy-staging", "deploy-production", "rollback", "monitor"}
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"  # the backups' public key
MANIFEST_FILES = {"deployment.yaml", "service.yaml", "configmap.yaml", "hpa.yaml", "pdb.yaml", "networkpolicy.yaml"}
SEED_ENVIRONMENTS = {
    "staging": (2, {"cpu": "50m", "memory": "64Mi"}, {"cpu": "200m", "memory": "256Mi"}),
    "production": (3, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "500m", "memory": "512Mi"}),
}


def tool(name: str) -> str:
    """A binary the test extras install beside Python (actionlint, kubernetes-validate), or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"{name} is missing: `pip install -e .[test]` installs it"
    return found


@pytest.fixture(scope="module", params=TARGETS)
def repo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp(request.param)
    scaffold(directory=directory, target=request.param, service="arxos", image="ghcr.io/acme/arxos")
    yield directory


@pytest.fixture(scope="module")
def kube_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kube")
    scaffold(directory=directory, target="kubernetes", service="arxos", image="ghcr.io/acme/arxos")
    return directory


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run_steps(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, script) of every `run:` in a workflow or a composite action."""
    for job_name, job in (document.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" in step:
                yield f"{job_name}.steps[{index}]", step["run"]
    for index, step in enumerate((document.get("runs") or {}).get("steps") or []):
        if "run" in step:
            yield f"runs.steps[{index}]", step["run"]


# --- the config --------------------------------------------------------------------------------


def test_arxdeploy_validate_passes_on_the_config_as_written(repo: Path) -> None:
    env = without_arxdeploy_settings()
    env["ARXDEPLOY_BACKUP_RECIPIENT"] = RECIPIENT  # kubernetes: a repository variable in the workflow
    result = subprocess.run(
        [sys.executable, "-m", "arxdeploy.cli.main", "-c", str(repo / "deployment_config.yaml"), "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid (arxos; environments: staging, production)" in result.stdout
    assert result.stderr == ""  # not one key that has no effect


def test_the_config_carries_the_seeds_names_and_numbers(repo: Path) -> None:
    config = load(repo / "deployment_config.yaml")
    staging, production = config["environments"]["staging"], config["environments"]["production"]
    assert (staging["branches"], staging.get("tags", []), production["branches"], production["tags"]) == (
        ["develop"],
        [],
        ["main"],
        ["v*"],
    )
    for name, (replicas, _, _) in SEED_ENVIRONMENTS.items():
        environment = config["environments"][name]
        assert environment["replicas"] == replicas
        # requests and limits shape Kubernetes objects: the templates carry them (no effect here)
        assert "resources" not in environment
    assert (staging["monitoring_duration"], production["monitoring_duration"]) == ("5m", "10m")
    assert production["approval_required"] is True
    assert config["deployment_strategy"] == {
        "type": "blue_green",
        "blue_green": {"enabled": True, "traffic_switch_delay": 30, "scale_down_delay": 60},
    }
    assert config["health_checks"]["endpoints"] == ["/health", "/api/health", "/api/version", "/api/metrics"]
    assert "custom_checks" not in config["health_checks"]  # the scripts do not exist yet: commented out
    gates = config["approval_gates"]
    assert gates["enabled"] is True
    assert gates["required_for"] == ["production", "critical_updates"]
    assert gates["timeout_minutes"] == 60
    assert gates["auto_approve_staging"] is True
    assert len(gates["approvers"]) == 2
    text = (repo / "deployment_config.yaml").read_text()
    assert '#   slack: {webhook_url: "${SLACK_WEBHOOK_URL}"}' in text
    assert "# server:\n#   url: https://" in text
    assert "__" not in text and "#@" not in text


def test_each_target_gets_its_own_section(repo: Path) -> None:
    config = load(repo / "deployment_config.yaml")
    target = config["target"]
    if repo.name.startswith("local"):
        assert target["type"] == "local" and "kubernetes" not in target
        assert "{port}" in target["local"]["command"] and "{version}" in target["local"]["command"]
        listens = [env["listen"] for env in config["environments"].values()]
        assert len(set(listens)) == len(listens) == 2
        assert not (repo / "k8s").exists()
        assert "store_url" not in config  # SQLite under state_dir, or a database named by hand
    else:
        # the record lives in the cluster, and the config says so
        assert config["store_url"] == "kubernetes://"
        assert "The record of every deployment" in (repo / "deployment_config.yaml").read_text()
        # the templates are what is applied: no image, port or resources here to believe in
        assert target == {"type": "kubernetes", "kubernetes": {"manifests": "k8s", "namespace": "arxos-{environment}"}}
        assert "ghcr.io/acme/arxos:{version}" in (repo / "deployment_config.yaml").read_text()  # said, in a comment
        assert all("listen" not in env for env in config["environments"].values())


# --- the workflow and the composite action ----------------------------------------------------


def actionlint(directory: Path, *files: Path) -> None:
    result = subprocess.run(
        [tool("actionlint"), "-no-color", "-oneline", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=directory,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_accepts_the_workflow_as_written(repo: Path) -> None:
    actionlint(repo, WORKFLOW)


def test_actionlint_accepts_the_workflow_against_the_real_composite_action(repo: Path, tmp_path: Path) -> None:
    # With `uses: ./` and a repository root (.git), actionlint reads action.yml: its inputs, its
    # outputs (every `steps.<id>.outputs.X` the workflow reads) and its `runs` section.
    (tmp_path / ".git").mkdir()
    shutil.copy(ACTION_FILE, tmp_path / "action.yml")
    workflow = tmp_path / WORKFLOW
    workflow.parent.mkdir(parents=True)
    text = (repo / WORKFLOW).read_text()
    assert f"uses: {ACTION}\n" in text
    workflow.write_text(text.replace(f"uses: {ACTION}\n", "uses: ./\n"))
    actionlint(tmp_path, WORKFLOW)


def test_the_workflow_keeps_the_seeds_triggers(repo: Path) -> None:
    workflow = load(repo / WORKFLOW)
    assert workflow["name"] == "Deploy Pipeline"
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as a boolean
    assert triggers["push"] == {"tags": ["v*"], "branches": ["main", "develop"]}
    assert triggers["pull_request"] == {"branches": ["main"]}
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["environment"] == {
        "description": "Deployment Environment",
        "required": True,
        "default": "staging",
        "type": "choice",
        "options": ["staging", "production"],
    }
    assert (inputs["action"]["type"], inputs["action"]["options"], inputs["action"]["default"]) == (
        "choice",
        ["deploy", "rollback"],
        "deploy",
    )


def test_the_workflow_has_the_jobs_least_privilege_and_one_deployment_at_a_time(repo: Path) -> None:
    workflow = load(repo / WORKFLOW)
    jobs = workflow["jobs"]
    assert set(jobs) == SEED_JOBS | {"route", "request-production"}
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name for name, job in jobs.items() if "write" in (job.get("permissions") or {}).values()}
    assert writers == {"build"}
    assert jobs["build"]["permissions"] == {"contents": "read", "packages": "write"}
    assert set(jobs["route"]["outputs"]) == {"environment", "action", "needs_approval", "version", "reason"}
    for name, environment in [
        ("deploy-staging", "staging"),
        ("request-production", "production"),
        ("deploy-production", "production"),
    ]:
        assert jobs[name]["concurrency"] == {"group": f"deploy-{environment}", "cancel-in-progress": False}
        assert jobs[name]["environment"] == environment
    assert jobs["rollback"]["concurrency"]["group"] == "deploy-${{ inputs.environment }}"
    assert jobs["build"]["needs"] == ["route", "validate"]
    assert jobs["deploy-staging"]["needs"] == ["route", "build"]
    # production: one job asks and ends, a later one (any runner) waits for the decision and deploys
    assert jobs["request-production"]["needs"] == ["route", "deploy-staging"]
    assert jobs["deploy-production"]["needs"] == ["route", "request-production"]
    assert jobs["deploy-production"]["if"] == "needs.request-production.outputs.state == 'awaiting_approval'"
    assert set(jobs["request-production"]["outputs"]) == {"deployment_id", "state"}
    assert jobs["deploy-production"]["env"]["DEPLOYMENT_ID"] == "${{ needs.request-production.outputs.deployment_id }}"
    assert jobs["deploy-production"]["timeout-minutes"] > 60  # the approval timeout, and the deployment
    assert set(jobs["monitor"]["needs"]) == {"deploy-staging", "request-production", "deploy-production", "rollback"}
    assert "always()" in jobs["monitor"]["if"]
    assert "inputs.action == 'rollback'" in jobs["rollback"]["if"]
    scripts = "\n".join(script for _, script in run_steps(workflow))
    assert 'arxdeploy deploy --env staging --version "$VERSION"' in scripts
    assert "--no-wait --json" in scripts and 'arxdeploy resume "$DEPLOYMENT_ID"' in scripts
    assert 'arxdeploy rollback --env "$TARGET_ENVIRONMENT"' in scripts
    assert "arxdeploy history --limit 5" in scripts
    args = [s["with"]["args"] for job in jobs.values() for s in job["steps"] if s.get("uses") == ACTION]
    assert {"route", "validate", "status --json"} <= set(args)
    pusher = jobs["deploy-production"]["env"]["ARXDEPLOY_EMAIL"]
    assert pusher == "${{ github.event.pusher.email || github.actor }}"


@pytest.mark.parametrize("source", ["workflow", "action"])
def test_no_event_data_or_input_is_interpolated_into_a_script(repo: Path, source: str) -> None:
    document = load(repo / WORKFLOW if source == "workflow" else ACTION_FILE)
    scripts = list(run_steps(document))
    assert scripts
    for where, script in scripts:
        for unsafe in ("${{ github.event", "${{ inputs", "${{ github.head_ref", "${{ needs", "${{ steps"):
            assert unsafe not in script, f"{where} interpolates {unsafe} into its script"


def test_the_kubernetes_workflow_writes_the_kubeconfig_privately_and_checks_the_manifests(kube_repo: Path) -> None:
    jobs = load(kube_repo / WORKFLOW)["jobs"]
    for name in ("deploy-staging", "request-production", "deploy-production", "rollback", "monitor"):
        (write,) = [s for s in jobs[name]["steps"] if s.get("name") == "Write the kubeconfig"]
        assert write["env"] == {"KUBECONFIG_CONTENT": "${{ secrets.KUBECONFIG }}"}
        assert "umask 077" in write["run"] and "chmod 600" in write["run"]
    workflow = load(kube_repo / WORKFLOW)
    # the backups: sealed for a repository variable's public key, stored with credentials from secrets
    assert workflow["env"]["ARXDEPLOY_BACKUP_RECIPIENT"] == "${{ vars.ARXDEPLOY_BACKUP_RECIPIENT }}"
    for name in ("deploy-staging", "request-production", "deploy-production", "rollback"):
        assert jobs[name]["env"]["AWS_SECRET_ACCESS_KEY"] == "${{ secrets.AWS_SECRET_ACCESS_KEY }}"
    backup = load(kube_repo / "deployment_config.yaml")["backup"]
    assert backup["recipients"] == ["${ARXDEPLOY_BACKUP_RECIPIENT}"] and backup["encryption"] is True
    assert backup["storage"]["type"] == "s3"
    validate = "\n".join(s.get("run", "") for s in jobs["validate"]["steps"])
    assert 'arxdeploy k8s render --env "$env" --version "$GITHUB_SHA"' in validate
    assert "kubernetes-validate --strict" in validate


# --- the Kubernetes templates ---------------------------------------------------------------


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_rendered_manifests_pass_strict_schema_validation(kube_repo: Path, environment: str) -> None:
    assert {p.name for p in (kube_repo / "k8s" / environment).iterdir()} == MANIFEST_FILES
    config = str(kube_repo / "deployment_config.yaml")
    result = CliRunner().invoke(
        cli,
        ["-c", config, "k8s", "render", "--env", environment, "--version", "1.0.0"],
        env={"ARXDEPLOY_CONFIG": None, "ARXDEPLOY_BACKUP_RECIPIENT": RECIPIENT},
    )
    assert result.exit_code == 0, result.output
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "Service",
    ]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == f"arxos-{environment}"
    replicas, requests, limits = SEED_ENVIRONMENTS[environment]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["metadata"]["name"] == "arxos-blue"
    assert deployment["spec"]["replicas"] == replicas
    pod = deployment["spec"]["template"]
    assert {"app": "arxos", "color": "blue"}.items() <= pod["metadata"]["labels"].items()
    assert {
        "app.kubernetes.io/name": "arxos",
        "app.kubernetes.io/instance": f"arxos-{environment}",
        "app.kubernetes.io/version": "1.0.0",
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/part-of": "arxos",
        "app.kubernetes.io/managed-by": "arxdeploy",
        "arxdeploy.io/environment": environment,
    }.items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "ghcr.io/acme/arxos:1.0.0"
    assert container["resources"] == {"requests": requests, "limits": limits}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["spec"]["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    spread = {c["topologyKey"] for c in pod["spec"]["topologySpreadConstraints"]}
    assert spread == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    # the settings the pods read are this color's own: named by content, immutable
    (settings,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert settings["immutable"] is True and settings["metadata"]["name"].startswith("arxos-config-")
    assert container["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}]
    (hpa,) = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (replicas, 2 * replicas)
    assert hpa["metadata"]["name"] == hpa["spec"]["scaleTargetRef"]["name"] == "arxos-blue"
    (budget,) = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == {"matchLabels": {"app": "arxos", "color": "blue"}}
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    assert services == {"arxos", "arxos-preview"}
    # egress is left open until the database is listed (the policy is there, commented out)
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"] == ["arxos-ingress"]
    assert "#   name: {service}-egress" in (kube_repo / "k8s" / environment / "networkpolicy.yaml").read_text()


def test_the_rbac_folder_passes_kubernetes_validate_strict(kube_repo: Path) -> None:
    files = sorted((kube_repo / "k8s" / "rbac").glob("*.yaml"))
    assert [f.name for f in files] == ["production.yaml", "staging.yaml"]
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_role_grants_what_arxdeploy_calls_and_no_more(kube_repo: Path) -> None:
    docs = list(yaml.safe_load_all((kube_repo / "k8s" / "rbac" / "staging.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "Role", "RoleBinding"]
    assert {d["metadata"].get("namespace", d["metadata"]["name"]) for d in docs} == {"arxos-staging"}
    role = docs[2]
    grants = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    writes = {"create", "patch"}
    applied = ("deployments", "horizontalpodautoscalers", "poddisruptionbudgets", "services", "configmaps")
    for kind in (*applied, "networkpolicies"):
        assert {(kind, v) for v in ("get", "list", *writes)} <= grants
    deletes = {res for res, verb in grants if verb == "delete"}
    # stopping a color, and then the color ConfigMaps nothing reads any more; the Services and
    # policies a failed first deployment made; nothing else
    assert deletes == {
        "deployments",
        "horizontalpodautoscalers",
        "poddisruptionbudgets",
        "configmaps",
        "services",
        "networkpolicies",
        "httproutes",
    }
    assert {res for res, verb in grants if verb in writes} == {*applied, "networkpolicies", "leases", "httproutes"}
    # traffic_router: gateway weighs the colors through the environment's HTTPRoute
    assert {("httproutes", v) for v in ("get", "list", "create", "patch", "delete")} <= grants
    namespace = docs[0]["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["pod-security.kubernetes.io/enforce-version"] == "v1.37"
    assert {("pods", "get"), ("pods", "list"), ("secrets", "get"), ("secrets", "list"), ("events", "list")} <= grants
    assert {("services/proxy", "get"), ("pods/proxy", "get"), ("pods/log", "get"), ("namespaces", "get")} <= grants
    # the record: its ConfigMaps are updated as compare-and-swaps, the environment's lock is a Lease
    assert {res for res, verb in grants if verb == "update"} == {"configmaps", "leases"}
    assert {verb for res, verb in grants if res == "leases"} == {"get", "create", "update"}
    assert not {verb for _, verb in grants} & {"*", "watch", "escalate", "bind", "impersonate"}
    binding = docs[3]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "arxdeploy"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "arxdeploy", "namespace": "arxos-staging"}]


def test_the_server_folder_passes_kubernetes_validate_strict(kube_repo: Path) -> None:
    files = sorted((kube_repo / "k8s" / "server").glob("*.yaml"))
    assert [f.name for f in files] == ["records-production.yaml", "records-staging.yaml", "server.yaml"]
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_server_runs_in_the_tokens_namespace_and_may_only_read_and_append_to_the_record(kube_repo: Path) -> None:
    folder = kube_repo / "k8s" / "server"
    docs = [d for d in yaml.safe_load_all((folder / "server.yaml").read_text()) if d]
    assert [d["kind"] for d in docs] == [
        "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "NetworkPolicy"
    ]  # fmt: skip
    # the last environment's namespace, where the store keeps the tokens
    assert {d["metadata"]["namespace"] for d in docs} == {"arxos-production"}
    account, tokens, binding, deployment, service, policy = docs
    assert account["automountServiceAccountToken"] is False
    assert tokens["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update"]}
    ]
    server_account = {"kind": "ServiceAccount", "name": "arxdeploy-server", "namespace": "arxos-production"}
    assert binding["subjects"] == [server_account]
    for environment in ("staging", "production"):
        role, bound = yaml.safe_load_all((folder / f"records-{environment}.yaml").read_text())
        assert role["metadata"]["namespace"] == bound["metadata"]["namespace"] == f"arxos-{environment}"
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "update", "delete"]},
            # /metrics tells a deployment whose runner died by its lease: read, never taken
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
        ]
        assert bound["subjects"] == binding["subjects"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "arxdeploy-server" and pod["automountServiceAccountToken"] is False
    projected = next(v for v in pod["volumes"] if v["name"] == "service-account")["projected"]["sources"]
    assert projected[0]["serviceAccountToken"]["path"] == "token"
    (container,) = pod["containers"]
    assert container["image"].startswith("ghcr.io/your-org/arxdeploy:")
    assert container["args"][:2] == ["--config", "/srv/arxdeploy/deployment_config.yaml"]
    probes = ("startupProbe", "readinessProbe", "livenessProbe")
    assert {container[probe]["httpGet"]["path"] for probe in probes} == {"/healthz"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m.get("subPath") for m in container["volumeMounts"]}
    # the config and every template it names, where the config's relative paths find them
    assert mounts["/srv/arxdeploy/deployment_config.yaml"] == "deployment_config.yaml"
    assert mounts["/srv/arxdeploy/k8s/production/deployment.yaml"] == "production.deployment.yaml"
    assert len([m for m in mounts.values() if m]) == 1 + 2 * len(MANIFEST_FILES)
    assert mounts["/var/run/secrets/kubernetes.io/serviceaccount"] is None
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8700}]}]


def test_the_server_image_is_the_one_given(tmp_path: Path) -> None:
    image = "registry.example/ops/arxdeploy:0.1.0"
    scaffold(directory=tmp_path, target="kubernetes", service="arxos", server_image=image)
    deployment = [d for d in yaml.safe_load_all((tmp_path / "k8s/server/server.yaml").read_text()) if d][3]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    with pytest.raises(UsageError, match="not an image with a tag"):
        scaffold(directory=tmp_path / "other", target="kubernetes", server_image="registry.example/ops/arxdeploy")


# --- refusing to overwrite, and the command ------------------------------------------------------


def test_init_refuses_to_overwrite_and_lists_what_exists(tmp_path: Path) -> None:
    written = scaffold(directory=tmp_path, target="kubernetes")
    assert len(written) == 19  # 2 x 7 per environment, the config, the workflow, k8s/server/ (3)
    config = tmp_path / "deployment_config.yaml"
    config.write_text("service: mine\n")
    with pytest.raises(UsageError) as caught:
        scaffold(directory=tmp_path, target="kubernetes")
    assert caught.value.message.startswith("19 files exist already:")
    for path in written:
        assert f"  {path}\n" in caught.value.message + "\n"
    assert "--force" in (caught.value.hint or "")
    assert config.read_text() == "service: mine\n"  # nothing written
    assert scaffold(directory=tmp_path, target="kubernetes", force=True) == written
    assert config.read_text().startswith("# deployment_config.yaml")


def test_only_the_files_that_exist_are_listed(tmp_path: Path) -> None:
    (tmp_path / "deployment_config.yaml").write_text("service: mine\n")
    with pytest.raises(UsageError, match=r"^1 file exists already:\n  .*deployment_config.yaml$"):
        scaffold(directory=tmp_path)
    assert not (tmp_path / ".github").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"target": "nomad"}, "unknown target"),
        ({"service": "My_Service"}, "not a valid service name"),
        ({"image": "ghcr.io/acme/api:1.0"}, "not an image name"),
        ({"image": "ghcr.io/acme/api\nx: y"}, "not an image name"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, arguments: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        scaffold(directory=tmp_path, **arguments)
    assert list(tmp_path.iterdir()) == []


def test_the_command_prints_what_it_wrote_and_refuses_a_second_time(tmp_path: Path) -> None:
    runner = CliRunner()
    arguments = ["--target", "kubernetes", "--service", "arxos", "--dir", str(tmp_path)]
    result = runner.invoke(init, arguments)
    assert result.exit_code == 0, result.output
    wrote = [line.removeprefix("wrote ") for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert wrote[:2] == [str(tmp_path / "deployment_config.yaml"), str(tmp_path / WORKFLOW)]
    assert len(wrote) == 19 and all(Path(p).is_file() for p in wrote)
    assert "ghcr.io/your-org/arxos:{version}" in (tmp_path / "deployment_config.yaml").read_text()

    again = runner.invoke(init, arguments)
    assert again.exit_code == 2
    assert "error: 19 files exist already:" in again.stderr
    assert str(tmp_path / "deployment_config.yaml") in again.stderr
    assert "hint: move them away, or run again with --force" in again.stderr
    assert runner.invoke(init, [*arguments, "--force"]).exit_code == 0
