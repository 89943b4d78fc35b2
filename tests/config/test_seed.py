"""The seed file loads as written, with the values a deployment will run with."""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from arxdeploy.config import Config, LoadedConfig, check_files, load
from arxdeploy.domain.approvals import ApprovalPolicy
from arxdeploy.domain.plan import CheckPolicy, EnvironmentPlan
from arxdeploy.errors import NotFoundError

from .conftest import SEED, SEED_TEXT, Write, load_text, seed_with


@pytest.fixture
def seed(tmp_path: Path) -> LoadedConfig:
    """The seed file copied into tmp_path, with an executable scripts/check_db.sh beside it."""
    path = tmp_path / "deployment_config.yaml"
    shutil.copy(SEED, path)
    script = tmp_path / "scripts" / "check_db.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return load(path, {})


def test_seed_file_loads_where_it_is() -> None:
    loaded = load(SEED, {})
    assert loaded.path == SEED.resolve()
    assert loaded.base_dir == SEED.resolve().parent
    assert loaded.state_dir == SEED.resolve().parent / ".arxdeploy"
    assert loaded.digest == hashlib.sha256(SEED.read_bytes()).hexdigest()
    assert loaded.secrets == frozenset()


def test_seed_values(seed: LoadedConfig) -> None:
    config = seed.config
    assert config.service == "demo-api"
    assert config.target.type == "local"
    assert config.target.local is not None
    assert config.target.local.listen == "127.0.0.1:8080"
    assert config.target.local.command == ["python3", "app.py", "--port", "{port}", "--version", "{version}"]
    assert config.target.local.drain_timeout == timedelta(seconds=30)
    assert list(config.environments) == ["staging", "production"]
    staging, production = config.environments["staging"], config.environments["production"]
    assert (staging.branches, staging.tags, staging.replicas) == (["develop"], [], 2)
    assert (production.branches, production.tags, production.replicas) == (["main"], ["v*"], 3)
    assert staging.monitoring_duration == timedelta(minutes=5)
    assert production.rollback_timeout == timedelta(minutes=10)
    assert production.resources is not None
    assert production.resources.requests.cpu == "100m"
    assert production.resources.limits.memory == "512Mi"
    strategy = config.deployment_strategy.blue_green
    assert strategy.traffic_switch_delay == timedelta(seconds=30)
    assert strategy.scale_down_delay == timedelta(seconds=60)
    checks = config.health_checks
    assert checks.endpoints == ["/health", "/api/health", "/api/version", "/api/metrics"]
    assert checks.custom_checks[0].name == "database_connectivity"
    assert checks.custom_checks[0].timeout is None
    gates = config.approval_gates
    assert gates.required_for == ["production", "critical_updates"]
    assert gates.approvers == ["admin@arxos.com", "devops@arxos.com"]


@pytest.mark.parametrize(
    ("environment", "replicas", "monitoring", "needs_approval"),
    [("staging", 2, timedelta(minutes=5), False), ("production", 3, timedelta(minutes=10), True)],
)
def test_plan(seed: LoadedConfig, environment: str, replicas: int, monitoring: timedelta, needs_approval: bool) -> None:
    assert seed.config.plan(environment) == EnvironmentPlan(
        service="demo-api",
        environment=environment,
        replicas=replicas,
        monitoring_duration=monitoring,
        rollback_timeout=monitoring,
        traffic_switch_delay=timedelta(seconds=30),
        scale_down_delay=timedelta(seconds=60),
        checks=CheckPolicy(
            interval=timedelta(seconds=2),
            timeout=timedelta(seconds=2),
            success_threshold=2,
            failure_threshold=3,
            progress_deadline=timedelta(minutes=5),
        ),
        approval=ApprovalPolicy(
            required=needs_approval,
            required_if_critical=True,
            auto_approve=environment == "staging",
            approvers=("admin@arxos.com", "devops@arxos.com"),
            timeout=timedelta(minutes=60),
        ),
        drain_timeout=timedelta(seconds=30),
    )


@pytest.mark.parametrize(
    ("gates", "staging_required", "expected"),
    [
        ("enabled: false", "true", {"staging": False, "production": False}),  # gates off: nobody waits
        ("enabled: true", "true", {"staging": True, "production": True}),  # the environment asks for it
        ("enabled: true", "false", {"staging": False, "production": True}),  # production is in required_for
    ],
)
def test_needs_approval(write: Write, gates: str, staging_required: str, expected: dict[str, bool]) -> None:
    text = seed_with(
        ("approval_gates:\n  enabled: true", f"approval_gates:\n  {gates}"),
        ("approval_required: true", "approval_required: false"),  # production's; the first false is staging's
        ("approval_required: false", f"approval_required: {staging_required}"),
    )
    config = load_text(write, text).config
    assert {name: config.plan(name).approval.needs_gate(critical=False) for name in expected} == expected


def test_drain_timeout_comes_from_the_local_target(write: Write) -> None:
    text = seed_with(("    listen: 127.0.0.1:8080\n", "    listen: 127.0.0.1:8080\n    drain_timeout: 1m30s\n"))
    assert load_text(write, text).config.plan("staging").drain_timeout == timedelta(seconds=90)


def test_kubernetes_target_drains_for_30_seconds(write: Write) -> None:
    text = seed_with(
        ("  type: local\n", "  type: kubernetes\n  kubernetes:\n    image: registry/demo:{version}\n"),
    )
    config = load_text(write, text).config
    assert config.target.kubernetes is not None
    assert config.target.kubernetes.namespace == "{service}-{environment}"
    assert config.target.kubernetes.container_port == 8080
    assert config.plan("production").drain_timeout == timedelta(seconds=30)


def test_unknown_environment_names_the_known_ones(seed: LoadedConfig) -> None:
    with pytest.raises(NotFoundError, match="staging, production"):
        seed.config.plan("prod")
    with pytest.raises(NotFoundError, match="staging, production"):
        seed.config.listen_for("qa")


def test_both_environments_share_the_default_listen_address(seed: LoadedConfig) -> None:
    # Accepted at load time on purpose: the runtime reports the conflict if both run at once.
    assert seed.config.listen_for("staging") == seed.config.listen_for("production") == "127.0.0.1:8080"


def test_an_environment_can_have_its_own_listen_address(write: Write) -> None:
    text = seed_with(("    replicas: 3\n", "    replicas: 3\n    listen: 0.0.0.0:9090\n"))
    config = load_text(write, text).config
    assert config.listen_for("production") == "0.0.0.0:9090"
    assert config.listen_for("staging") == "127.0.0.1:8080"


def test_render_command_fills_placeholders(seed: LoadedConfig) -> None:
    local = seed.config.target.local
    assert local is not None
    rendered = local.render_command(port=4000, version="v2", color="green", replica=1, environment="staging")
    assert rendered == ["python3", "app.py", "--port", "4000", "--version", "v2"]


def test_state_dir_is_relative_to_the_config_folder(write: Write, tmp_path: Path) -> None:
    loaded = load_text(write, "state_dir: ../state\n" + SEED_TEXT)
    assert loaded.state_dir == tmp_path.parent.resolve() / "state"
    assert load_text(write, "state_dir: /var/lib/arx\n" + SEED_TEXT).state_dir == Path("/var/lib/arx")


def test_config_is_immutable(seed: LoadedConfig) -> None:
    with pytest.raises(ValueError, match="frozen"):
        seed.config.service = "other"  # type: ignore[misc, unused-ignore]


def test_dumped_json_loads_back_to_the_same_config(seed: LoadedConfig, write: Write) -> None:
    dumped = seed.config.model_dump_json()
    assert Config.model_validate_json(dumped) == seed.config
    assert '"monitoring_duration":"10m"' in dumped


def test_x_keys_hold_anchors_for_merging(write: Write) -> None:
    text = "x-defaults: &defaults {replicas: 4, monitoring_duration: 1m}\n" + seed_with(
        ("    replicas: 2\n", "    <<: *defaults\n"), ("    monitoring_duration: 5m\n", "")
    )
    staging = load_text(write, text).config.environments["staging"]
    assert (staging.replicas, staging.monitoring_duration) == (4, timedelta(minutes=1))
    assert staging.rollback_timeout == timedelta(minutes=5)  # written in the mapping itself


# --- check_files -------------------------------------------------------------------------


def test_check_files_passes_with_an_executable_script(seed: LoadedConfig) -> None:
    assert check_files(seed) == []


def test_check_files_reports_a_missing_script_at_its_line(tmp_path: Path) -> None:
    shutil.copy(SEED, tmp_path / "c.yaml")
    problems = check_files(load(tmp_path / "c.yaml", {}))
    assert [(p.line, p.key) for p in problems] == [(38, "health_checks.custom_checks[0].script")]
    assert "does not exist" in problems[0].message


def test_check_files_reports_a_script_that_is_not_executable(seed: LoadedConfig) -> None:
    (seed.base_dir / "scripts" / "check_db.sh").chmod(0o644)
    problems = check_files(seed)
    assert [(p.line, p.key) for p in problems] == [(38, "health_checks.custom_checks[0].script")]
    assert problems[0].hint is not None
    assert problems[0].hint.startswith("chmod +x")


def test_check_files_reports_a_missing_cwd(write: Write) -> None:
    text = seed_with(("    listen: 127.0.0.1:8080\n", "    listen: 127.0.0.1:8080\n    cwd: app\n"))
    loaded = load_text(write, text)
    problems = [p for p in check_files(loaded) if p.key == "target.local.cwd"]
    assert [(p.line, p.file) for p in problems] == [(6, str(loaded.path))]
    (loaded.base_dir / "app").mkdir()
    assert [p for p in check_files(loaded) if p.key == "target.local.cwd"] == []
