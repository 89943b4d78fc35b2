"""The command line's contract: exit codes, error shape, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arxdeploy.cli.main import cli

SEED = Path(__file__).parents[1] / "config" / "fixtures" / "seed.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"ARXDEPLOY_CONFIG": None})
    return result.exit_code, result.stdout, result.stderr


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from arxdeploy.cli.main import cli\n"
        "try:\n    cli(['--help'], prog_name='arxdeploy')\nexcept SystemExit:\n    pass\n"
        "heavy = {'sqlalchemy', 'alembic', 'pydantic', 'aiohttp', 'rich', 'httpx', 'yaml'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_schema_is_json_with_the_seed_keys() -> None:
    code, out, _ = run("schema")
    assert code == 0
    schema = json.loads(out)
    assert {"service", "target", "environments", "health_checks", "approval_gates"} <= set(schema["properties"])


def test_validate_accepts_the_seed_file_but_reports_its_missing_script() -> None:
    code, _, err = run("-c", str(SEED), "validate")
    assert code == 2
    assert "scripts/check_db.sh" in err


def test_missing_config_file_says_what_to_do(tmp_path: Path) -> None:
    code, _, err = run("-c", str(tmp_path / "nope.yaml"), "status")
    assert code == 2
    assert "nope.yaml" in err and "-c FILE" in err


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(SEED.read_text())
    code, _, err = run("-c", str(config), "history", "--env", "prod")
    assert code == 2
    assert "staging" in err and "production" in err


def test_json_errors_are_json(tmp_path: Path) -> None:
    code, out, _ = run("-c", str(tmp_path / "nope.yaml"), "status", "--json")
    assert code == 2
    assert json.loads(out)["exit_code"] == 2


def test_show_unknown_id(tmp_path: Path) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(SEED.read_text())
    code, _, err = run("-c", str(config), "show", "20990101-000000-ffff")
    assert code == 2
    assert "20990101-000000-ffff" in err and "history" in err


yaml_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mutation=st.sampled_from(["delete", "rename", "retype"]),
    index=st.integers(min_value=0, max_value=200),
    value=yaml_like,
)
def test_malformed_configs_exit_2_naming_file_and_line(
    tmp_path: Path, mutation: str, index: int, value: object
) -> None:
    lines = SEED.read_text().splitlines()
    keyed = [i for i, row in enumerate(lines) if ":" in row and not row.strip().startswith("-")]
    i = keyed[index % len(keyed)]
    key, _, rest = lines[i].partition(":")
    if mutation == "delete":
        del lines[i]
    elif mutation == "rename":
        lines[i] = f"{key}x:{rest}"
    else:
        lines[i] = f"{key}: {json.dumps(value)}"
    config = tmp_path / "deployment_config.yaml"
    config.write_text("\n".join(lines) + "\n")
    code, out, err = run("-c", str(config), "validate")
    assert "Traceback" not in out + err
    assert code == 2, (lines[i] if i < len(lines) else "", out, err)
    assert str(config) in err


def test_the_first_admin_token_is_shown_once_listed_without_secrets_and_revoked(tmp_path: Path) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(SEED.read_text())
    code, out, err = run("-c", str(config), "token", "bootstrap", "--for", "Admin@arxos.com")
    assert code == 0, err
    assert "created the first admin token" in out and "later tokens go through the server" in err
    token = out.splitlines()[1]
    token_id = out.split("token, ")[1].split(" ")[0]
    assert token.startswith(f"arx_{token_id}_")
    secret = token.removeprefix(f"arx_{token_id}_")  # it may contain "_" itself

    code, out, _ = run("-c", str(config), "token", "list", "--json")
    listed = json.loads(out)
    assert [(t["id"], t["email"], t["role"], t["active"]) for t in listed] == [
        (token_id, "admin@arxos.com", "admin", True)
    ]
    assert listed[0]["revoked_at"] is None and listed[0]["expires_at"] is None
    assert secret not in out
    assert secret not in (tmp_path / ".arxdeploy" / "state.db").read_bytes().decode("latin-1")

    code, _, err = run("-c", str(config), "token", "bootstrap", "--for", "eve@arxos.com")
    assert code == 2 and "an admin token exists already" in err and "arxdeploy token create" in err
    code, _, err = run("-c", str(config), "token", "create", "--for", "eve@arxos.com", "--role", "admin")
    assert code == 2 and "created through the arxdeploy server" in err and "server.url" in err
    assert len(json.loads(run("-c", str(config), "token", "list", "--json")[1])) == 1

    code, out, _ = run("-c", str(config), "token", "revoke", token_id)
    assert code == 0 and "revoked" in out
    code, out, _ = run("-c", str(config), "token", "list", "--json")
    assert json.loads(out)[0]["revoked_at"] is not None and json.loads(out)[0]["active"] is False
    code, _, err = run("-c", str(config), "token", "bootstrap", "--for", "ci-bot")
    assert code == 2 and "not an email" in err
    code, _, err = run("-c", str(config), "token", "bootstrap", "--for", "a@arxos.com", "--expires-in", "soon")
    assert code == 2 and '"soon" is not a duration' in err


def test_status_prints_yaml_and_json_alike(tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "deployment_config.yaml"
    config.write_text(SEED.read_text())
    code, as_yaml, err = run("-c", str(config), "status", "-o", "yaml")
    assert code == 0, err
    code, as_json, err = run("-c", str(config), "status", "-o", "json")
    assert code == 0, err
    assert yaml.safe_load(as_yaml) == json.loads(as_json) == json.loads(run("-c", str(config), "status", "--json")[1])
    assert [row["health"]["status"] for row in json.loads(as_json)["environments"]] == ["not deployed"] * 2


def test_reading_commands_import_neither_sqlalchemy_nor_alembic(tmp_path: Path) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(SEED.read_text())
    run("-c", str(config), "history")  # makes a current record (the first open migrates)
    code = (
        "import sys\n"
        "from arxdeploy.cli.main import cli\n"
        f"try:\n    cli(['-c', {str(config)!r}, 'history', '--json'], prog_name='arxdeploy')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({'sqlalchemy', 'alembic', 'structlog'} & {m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
