"""``${VAR}`` comes from the environment passed in, and what comes from it is never shown."""

from __future__ import annotations

import pytest

from arxdeploy.config.interpolate import interpolate

from .conftest import Write, error_for, load_text, seed_with

ENV_LINE = 6  # the line of `env:` in config_with_env()


def config_with_env(value: str) -> str:
    """The seed with ``target.local.env.X`` set to ``value``, a field that takes any text."""
    return seed_with(("    command:", f"    env: {{X: '{value}'}}\n    command:"))


@pytest.mark.parametrize(
    ("template", "environ", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("a-${A}-b-${B}", {"A": "1", "B": "2"}, "a-1-b-2"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),  # as in the shell, :- also covers set-but-empty
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("${A:-a:-b}", {}, "a:-b"),
        ("${A}", {"A": ""}, ""),
        ("$${A}", {"A": "1"}, "${A}"),
        ("$${A} and ${A}", {"A": "1"}, "${A} and 1"),
        ("$A $ $$ ${", {}, None),  # a lone ${ is malformed
        ("cost: $5", {}, "cost: $5"),
        ("$$", {}, "$$"),
    ],
)
def test_interpolate(template: str, environ: dict[str, str], expected: str | None) -> None:
    result = interpolate(template, environ)
    if expected is None:
        assert result.malformed
    else:
        assert (result.text, result.malformed, result.missing) == (expected, False, ())


def test_secrets_are_the_non_empty_values_taken_from_the_environment() -> None:
    result = interpolate("${A}${B}${C:-default}${D:-x}", {"A": "one", "B": "", "D": "four"})
    assert result.from_environ == ("A", "B", "D")
    assert result.secrets == ("one", "four")


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${TOKEN}", {"TOKEN": "abc"}, "abc"),
        ("${TOKEN:-none}", {}, "none"),
        ("$${TOKEN}", {"TOKEN": "abc"}, "${TOKEN}"),
        ("Bearer ${TOKEN}", {"TOKEN": "abc"}, "Bearer abc"),
    ],
)
def test_values_in_the_file(write: Write, value: str, environ: dict[str, str], expected: str) -> None:
    loaded = load_text(write, config_with_env(value), environ)
    assert loaded.config.target.local is not None
    assert loaded.config.target.local.env == {"X": expected}


def test_loaded_secrets(write: Write) -> None:
    text = config_with_env("${A}").replace("replicas: 2", "replicas: ${R:-2}")
    loaded = load_text(write, text, {"A": "s3cret", "UNUSED": "other"})
    assert loaded.secrets == frozenset({"s3cret"})


def test_numbers_and_booleans_can_come_from_the_environment(write: Write) -> None:
    text = seed_with(("replicas: 2", "replicas: ${R}"), ("approval_required: false", "approval_required: ${A:-true}"))
    staging = load_text(write, text, {"R": "5"}).config.environments["staging"]
    assert (staging.replicas, staging.approval_required) == (5, True)


def test_a_missing_variable_names_itself_the_key_and_the_fix(write: Write) -> None:
    path = write(config_with_env("${DB_PASSWORD}"))
    error = error_for(write, config_with_env("${DB_PASSWORD}"))
    [problem] = error.problems
    assert (problem.file, problem.line, problem.key) == (str(path), ENV_LINE, "target.local.env.X")
    assert problem.message == "uses ${DB_PASSWORD}, which is not set"
    assert problem.hint == "export DB_PASSWORD, or write ${DB_PASSWORD:-default}"


def test_every_missing_variable_is_reported(write: Write) -> None:
    text = seed_with(("service: demo-api", "service: ${SVC}"), ("replicas: 3", "replicas: ${REPLICAS}"))
    error = error_for(write, text)
    # One problem each: no follow-up "expected a whole number" for the emptied value.
    assert [(p.line, p.key, p.message) for p in error.problems] == [
        (1, "service", "uses ${SVC}, which is not set"),
        (18, "environments.production.replicas", "uses ${REPLICAS}, which is not set"),
    ]


def test_malformed_reference(write: Write) -> None:
    error = error_for(write, config_with_env("${1X}"))
    assert [(p.line, p.key, p.message) for p in error.problems] == [
        (ENV_LINE, "target.local.env.X", "has a malformed ${...} reference")
    ]
    assert error.problems[0].hint is not None
    assert "$${" in error.problems[0].hint


def test_the_process_environment_is_not_read(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARX_ONLY_IN_OS_ENVIRON", "1")
    error = error_for(write, config_with_env("${ARX_ONLY_IN_OS_ENVIRON}"), {})
    assert "ARX_ONLY_IN_OS_ENVIRON" in error.problems[0].message


def test_keys_are_not_interpolated(write: Write) -> None:
    text = seed_with(("    command:", "    env: {'${A}': x}\n    command:"))
    local = load_text(write, text, {"A": "value"}).config.target.local
    assert local is not None
    assert local.env == {"${A}": "x"}


SECRET = "Zq8-v1XwK4p-hunter2"

# A field per kind of check, each fed the secret from ${SECRET}; none may show it.
SECRET_CASES = {
    "service": (("service: demo-api", "service: ${SECRET}"), "service", 1, "is not a valid name"),
    "listen": (("listen: 127.0.0.1:8080", "listen: ${SECRET}"), "target.local.listen", 5, "is not a host:port"),
    "literal": (("type: local", "type: ${SECRET}"), "target.type", 3, "must be 'local' or 'kubernetes'"),
    "integer": (("replicas: 3", "replicas: ${SECRET}"), "environments.production.replicas", 18, "a whole number"),
    "boolean": (("enabled: true", "enabled: ${SECRET}"), "deployment_strategy.blue_green.enabled", 26, "true or false"),
    "duration": (("interval: 2s", "interval: ${SECRET}"), "health_checks.interval", 31, "is not a duration"),
    "endpoint": (("/api/metrics", '"${SECRET}"'), "health_checks.endpoints[3]", 30, "must be a path"),
    "email": (("devops@arxos.com", '"${SECRET}"'), "approval_gates.approvers[1]", 42, "is not an email"),
    "cpu": (("cpu: 50m", 'cpu: "${SECRET}"'), "environments.staging.resources.requests.cpu", 14, "not a CPU amount"),
    "command": (('"{version}"', '"{${SECRET}}"'), "target.local.command[5]", 6, "has a placeholder"),
    "required_for": (("[production,", '["${SECRET}",'), "approval_gates.required_for[0]", 41, "not an environment"),
    "inside text": (("listen: 127.0.0.1:8080", "listen: x${SECRET}y"), "target.local.listen", 5, "host:port"),
}


@pytest.mark.parametrize("case", list(SECRET_CASES))
def test_a_secret_never_appears_in_the_error(write: Write, case: str) -> None:
    replacement, key, line, message = SECRET_CASES[case]
    error = error_for(write, seed_with(replacement), {"SECRET": SECRET})
    assert [(p.line, p.key) for p in error.problems] == [(line, key)]
    problem = error.problems[0]
    assert message in problem.message
    shown = str(error) + repr(error.problems)
    for part in (SECRET, SECRET[:8], SECRET[-8:]):
        assert part not in shown
    if case != "required_for":  # a cross-field check: it never shows the value at all
        assert "${SECRET}" in problem.message
