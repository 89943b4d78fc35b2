"""Every problem names the file, the line and the key, says what is wrong, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from arxdeploy.config import load
from arxdeploy.errors import ConfigError, ConfigProblem

from .conftest import SEED_TEXT, Write, error_for, seed_with

# Lines of the seed file, so the expectations below read as "the line of X".
SERVICE, TARGET, TARGET_TYPE, LOCAL, LISTEN, COMMAND = 1, 2, 3, 4, 5, 6
STAGING, STAGING_REPLICAS, STAGING_RESOURCES = 8, 10, 14
PRODUCTION, PRODUCTION_TAGS, PRODUCTION_REPLICAS, PRODUCTION_MONITORING = 15, 17, 18, 20
BLUE_GREEN, HEALTH_CHECKS, ENDPOINTS, INTERVAL = 25, 29, 30, 31
CHECK_ITEM, CHECK_SCRIPT, REQUIRED_FOR, APPROVERS = 37, 38, 41, 42


@dataclass(frozen=True)
class Expect:
    line: int | None
    key: str
    message: str  # a part of the message
    hint: str | None = None  # a part of the hint


def check(error: ConfigError, path: Path, *expected: Expect) -> None:
    assert [(p.line, p.key) for p in error.problems] == [(e.line, e.key) for e in expected], str(error)
    for problem, want in zip(error.problems, expected, strict=True):
        assert problem.file == str(path)
        assert want.message in problem.message, problem
        if want.hint is not None:
            assert problem.hint is not None, problem
            assert want.hint in problem.hint, problem
    text = str(error)
    for problem in error.problems:
        where = f"{path}:{problem.line}" if problem.line else str(path)
        assert f"{where}: {problem.key}: " in text if problem.key else where in text


CASES: dict[str, tuple[str, list[Expect]]] = {
    # --- unknown keys, at every depth, with a did-you-mean -------------------------------
    "misspelt top-level key": (
        seed_with(("health_checks:", "health_check:")),
        [Expect(HEALTH_CHECKS, "health_check", "not a known key", "did you mean 'health_checks'?")],
    ),
    "misspelt key at depth 2": (
        seed_with(("  blue_green:", "  blue_gren:")),
        [Expect(BLUE_GREEN, "deployment_strategy.blue_gren", "not a known key", "did you mean 'blue_green'?")],
    ),
    "misspelt key at depth 3": (
        seed_with(("    monitoring_duration: 10m", "    monitoring_duraton: 10m")),
        [
            Expect(
                PRODUCTION_MONITORING,
                "environments.production.monitoring_duraton",
                "not a known key",
                "did you mean 'monitoring_duration'?",
            )
        ],
    ),
    "misspelt required key at depth 3 is also missing": (
        seed_with(("    command:", "    comand:")),
        [
            Expect(LOCAL, "target.local.command", "is required", "The app's command line"),
            Expect(COMMAND, "target.local.comand", "not a known key", "did you mean 'command'?"),
        ],
    ),
    "misspelt key at depth 4": (
        seed_with(("resources: {requests: {cpu: 50m", "resources: {request: {cpu: 50m")),
        [Expect(STAGING_RESOURCES, "environments.staging.resources.request", "not a known key", "'requests'?")],
    ),
    "misspelt key in a list item": (
        seed_with(("      script: scripts", "      scrpt: scripts")),
        [
            Expect(CHECK_ITEM, "health_checks.custom_checks[0].script", "is required"),
            Expect(CHECK_SCRIPT, "health_checks.custom_checks[0].scrpt", "not a known key", "did you mean 'script'?"),
        ],
    ),
    "key in the wrong place": (
        seed_with(("  type: local\n", "  type: local\n  replicas: 2\n")),
        [Expect(LOCAL, "target.replicas", "not a known key", "'replicas' belongs under environments.<name>")],
    ),
    "unknown key without a close match lists the known ones": (
        seed_with(("  type: local\n", "  type: local\n  zzz: 1\n")),
        [Expect(LOCAL, "target.zzz", "not a known key", "keys here: type, local, kubernetes")],
    ),
    # --- missing keys: the line of the parent mapping ------------------------------------
    "missing required key": (
        seed_with(("    replicas: 3\n", "")),
        [Expect(PRODUCTION, "environments.production.replicas", "is required", "How many copies")],
    ),
    "missing top-level key": (
        seed_with(("service: demo-api\n", "")),
        [Expect(1, "service", "is required")],
    ),
    "local target without its section": (
        "service: demo\ntarget:\n  type: local\nenvironments:\n  staging: {replicas: 1}\n",
        [Expect(TARGET, "target.local", "is required because target.type is local", "add a 'local:' section")],
    ),
    "kubernetes target without its section": (
        seed_with(("type: local", "type: kubernetes")),
        [Expect(TARGET, "target.kubernetes", "is required because target.type is kubernetes")],
    ),
    # --- wrong types, in plain words -----------------------------------------------------
    "text for a number": (
        seed_with(("replicas: 3", "replicas: three")),
        [
            Expect(
                PRODUCTION_REPLICAS, "environments.production.replicas", "expected a whole number, got the text 'three'"
            )
        ],
    ),
    "fraction for a whole number": (
        seed_with(("replicas: 3", "replicas: 2.5")),
        [Expect(PRODUCTION_REPLICAS, "environments.production.replicas", "expected a whole number")],
    ),
    "number below the minimum": (
        seed_with(("replicas: 3", "replicas: 0")),
        [Expect(PRODUCTION_REPLICAS, "environments.production.replicas", "must be at least 1, got the number 0")],
    ),
    "YAML boolean for text": (
        seed_with(("service: demo-api", "service: yes")),
        [Expect(SERVICE, "service", "expected text, got true", "put it in quotes")],
    ),
    "number in a list of text": (
        seed_with(('tags: ["v*"]', "tags: [1.0]")),
        [Expect(PRODUCTION_TAGS, "environments.production.tags[0]", "expected text, got the number 1.0", "quotes")],
    ),
    "text for a list": (
        seed_with(('tags: ["v*"]', "tags: v1")),
        [Expect(PRODUCTION_TAGS, "environments.production.tags", "expected a list", "[a, b]")],
    ),
    "nothing for a mapping": (
        seed_with(("  staging:\n", "  qa:\n  staging:\n")),
        [Expect(STAGING, "environments.qa", "expected a mapping of keys, got nothing", "add keys under it")],
    ),
    "text for true/false": (
        seed_with(("approval_required: true", "approval_required: maybe")),
        [Expect(19, "environments.production.approval_required", "expected true or false")],
    ),
    "value not among the choices": (
        seed_with(("type: local", "type: kubernets")),
        [Expect(TARGET_TYPE, "target.type", "must be 'local' or 'kubernetes'", "did you mean 'kubernetes'?")],
    ),
    "no environments": (
        seed_with(("environments:\n", "environments: {}\nx-old:\n")),
        [Expect(7, "environments", "needs at least 1 entry")],
    ),
    # --- our own checks ------------------------------------------------------------------
    "bad duration": (
        seed_with(("interval: 2s", "interval: 10x")),
        [
            Expect(
                INTERVAL,
                "health_checks.interval",
                '"10x" is not a duration; use a number of seconds or 500ms, 30s, 5m, 1h, 90d',
            )
        ],
    ),
    "negative duration": (
        seed_with(("traffic_switch_delay: 30", "traffic_switch_delay: -30")),
        [Expect(27, "deployment_strategy.blue_green.traffic_switch_delay", '"-30" is not a duration')],
    ),
    "service name with capitals": (
        seed_with(("service: demo-api", "service: Demo_API")),
        [Expect(SERVICE, "service", '"Demo_API" is not a valid name')],
    ),
    "service name too long": (
        seed_with(("service: demo-api", "service: " + "a" * 54)),
        [Expect(SERVICE, "service", "at most 53")],
    ),
    "environment name with capitals": (
        seed_with(("  staging:", "  Staging:")),
        [Expect(STAGING, "environments.Staging", '"Staging" is not a valid name')],
    ),
    "port out of range": (
        seed_with(("listen: 127.0.0.1:8080", "listen: 127.0.0.1:99999")),
        [Expect(LISTEN, "target.local.listen", "the port must be a number from 1 to 65535")],
    ),
    "listen without a port": (
        seed_with(("listen: 127.0.0.1:8080", "listen: localhost")),
        [Expect(LISTEN, "target.local.listen", "is not a host:port address")],
    ),
    "unknown placeholder in the command": (
        seed_with(('"{version}"', '"{verison}"')),
        [
            Expect(
                COMMAND,
                "target.local.command[5]",
                '"{verison}" has a placeholder that is not allowed here; the allowed ones are {port}, {version}, '
                "{color}, {replica}, {environment}",
            )
        ],
    ),
    "unmatched brace in the command": (
        seed_with(('"{port}"', '"{port"')),
        [Expect(COMMAND, "target.local.command[3]", "unmatched brace")],
    ),
    "empty command": (
        seed_with(('["python3", "app.py", "--port", "{port}", "--version", "{version}"]', "[]")),
        [Expect(COMMAND, "target.local.command", "needs at least 1 item")],
    ),
    "endpoint without a slash": (
        seed_with(("/api/metrics", "api/metrics")),
        [Expect(ENDPOINTS, "health_checks.endpoints[3]", "must be a path starting with '/'")],
    ),
    "memory in MB": (
        seed_with(("memory: 64Mi", "memory: 64MB")),
        [Expect(STAGING_RESOURCES, "environments.staging.resources.requests.memory", '"64MB" is not a memory amount')],
    ),
    "cpu with a unit": (
        seed_with(("cpu: 50m", "cpu: 50mc")),
        [Expect(STAGING_RESOURCES, "environments.staging.resources.requests.cpu", '"50mc" is not a CPU amount')],
    ),
    "limit below the request": (
        seed_with(("limits: {cpu: 200m", "limits: {cpu: 0.02")),
        [Expect(STAGING_RESOURCES, "environments.staging.resources.limits.cpu", "is lower than requests.cpu")],
    ),
    "not an email": (
        seed_with(("devops@arxos.com", "devops-at-arxos")),
        [Expect(APPROVERS, "approval_gates.approvers[1]", '"devops-at-arxos" is not an email address')],
    ),
    "required_for names an unknown environment": (
        seed_with(("[production, critical_updates]", "[prodution, critical_update, qa]")),
        [
            Expect(REQUIRED_FOR, "approval_gates.required_for[0]", "not an environment", "did you mean 'production'?"),
            Expect(REQUIRED_FOR, "approval_gates.required_for[1]", "", "did you mean 'critical_updates'?"),
            Expect(REQUIRED_FOR, "approval_gates.required_for[2]", "", "known: staging, production, critical_updates"),
        ],
    ),
    "two checks with one name": (
        seed_with(
            (
                "      script: scripts/check_db.sh\n",
                "      script: a.sh\n    - name: database_connectivity\n      script: b\n",
            )
        ),
        [Expect(39, "health_checks.custom_checks[1].name", "is used by an earlier check")],
    ),
    # --- YAML the loader reads itself ----------------------------------------------------
    "duplicate key": (
        seed_with(("    replicas: 3\n", "    replicas: 3\n    replicas: 4\n")),
        [Expect(19, "environments.production.replicas", "appears twice in this mapping (first on line 18)")],
    ),
    "duplicate environment": (
        seed_with(("  production:\n", "  staging:\n")),
        [
            Expect(PRODUCTION, "environments.staging", "appears twice in this mapping (first on line 8)"),
            # The last one wins, as in YAML, so production is gone:
            Expect(REQUIRED_FOR, "approval_gates.required_for[0]", "not an environment"),
        ],
    ),
    "unsupported tag": (
        seed_with(("service: demo-api", "service: !!python/name:os.system demo-api")),
        [Expect(SERVICE, "service", "has a value YAML cannot read", "remove the tag")],
    ),
    "impossible date": (
        seed_with(("service: demo-api", "service: 2024-13-45")),
        [Expect(SERVICE, "service", "has a value YAML cannot read", "quote it")],
    ),
    "several problems at once, in file order": (
        seed_with(
            ("service: demo-api", "service: Demo"), ("replicas: 2", "replicas: -1"), ("timeout: 2s", "timeout: x")
        ),
        [
            Expect(SERVICE, "service", "is not a valid name"),
            Expect(STAGING_REPLICAS, "environments.staging.replicas", "must be at least 1"),
            Expect(32, "health_checks.timeout", "is not a duration"),
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_problem_names_file_line_and_key(write: Write, case: str) -> None:
    text, expected = CASES[case]
    path = write(text)
    check(error_for(write, text), path, *expected)


# --- whole-file problems ----------------------------------------------------------------

FILE_CASES: dict[str, tuple[str, Expect]] = {
    "empty file": ("", Expect(None, "", "the file is empty", "arxdeploy schema")),
    "only comments": ("# nothing yet\n\n", Expect(None, "", "the file is empty")),
    "a list at the top": ("- service: demo\n", Expect(1, "", "the top level must be a mapping")),
    "text at the top": ("\n\nhello\n", Expect(3, "", "the top level must be a mapping")),
    "unclosed bracket": ("service: demo\ntarget: [a, b\nenvironments: {}\n", Expect(3, "", "invalid YAML at column")),
    "unclosed bracket at the end": ("service: demo\ntarget: [\n", Expect(2, "", "invalid YAML")),
    "tab indentation": ("target:\n\ttype: local\n", Expect(2, "", "invalid YAML at column 1", "spaces, not tabs")),
    "bad indentation": (
        "service: demo\ntarget:\n  type: local\n   local: x\n",
        Expect(4, "", "mapping values are not allowed here"),
    ),
    "unquoted ${VAR} in a flow list": (
        "service: demo\nenvironments: [${A}]\n",
        Expect(2, "", "invalid YAML", 'put quotes around values that use ${VAR}: "${VAR}"'),
    ),
    "two documents": ("service: a\n---\nservice: b\n", Expect(2, "", "invalid YAML")),
    "control character": ("service: demo\ntarget: \x01\n", Expect(2, "", "is not allowed", "control characters")),
    "undefined alias": ("service: demo\ntarget: *nowhere\n", Expect(2, "", "invalid YAML")),
    "alias that contains itself": (
        "service: demo\nx-a: &a [*a]\n",
        Expect(2, "x-a[0][0][0][0][0][0][0]...", "nested too deeply"),
    ),
    "alias explosion": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)),
        Expect(1, "", "expands to too many values"),  # the line where the budget ran out
    ),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_whole_file_problem(write: Write, case: str) -> None:
    text, expected = FILE_CASES[case]
    path = write(text)
    error = error_for(write, text)
    assert len(error.problems) == 1, str(error)
    problem = error.problems[0]
    assert problem.file == str(path)
    assert problem.line == expected.line, str(error)
    assert expected.message in problem.message, str(error)
    if expected.hint is not None:
        assert problem.hint is not None
        assert expected.hint in problem.hint
    if case != "alias explosion":
        assert problem.key == expected.key


@pytest.mark.parametrize("depth", [60, 600])  # past the loader's limit; past the YAML parser's recursion
def test_deep_nesting(write: Write, depth: int) -> None:
    error = error_for(write, "a: " + "[" * depth + "]" * depth + "\n")
    assert [p.line for p in error.problems] in ([1], [None])
    assert "nested too deeply" in error.problems[0].message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"service: demo\n# caf\xe9\n")
    error = _error(path)
    assert error.problems == [
        ConfigProblem(str(path), 2, "", "is not UTF-8 text (byte 0xe9)", "save the file as UTF-8")
    ]


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    path = tmp_path / "deployment_config.yaml"
    error = _error(path)
    assert error.problems == [
        ConfigProblem(
            str(path),
            None,
            "",
            "no such file",
            "write one (`arxdeploy schema` describes every key; `arxdeploy demo` shows a working one), or pass -c FILE",
        )
    ]
    assert error.exit_code == 2


def test_a_folder_is_not_a_config(tmp_path: Path) -> None:
    error = _error(tmp_path)
    assert error.problems[0].message == "is a folder, not a config file"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + SEED_TEXT.encode())
    assert load(path, {}).config.service == "demo-api"


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    return caught.value
