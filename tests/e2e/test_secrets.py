"""A secret taken from the environment never reaches output, logs or the stored record."""

from __future__ import annotations

import json

import pytest

from .conftest import Service

pytestmark = pytest.mark.slow

SECRETS = ["s3cr3t-Zq8v1XwK4p", 's3cr3t-"pä\\ss"-Zq8v']  # the second changes when JSON-encoded

CHECK = """#!/bin/sh
# Fails for versions named *badcheck* and prints the secret while doing so.
echo "using token $E2E_SECRET"
case "$ARXDEPLOY_VERSION" in *badcheck*) exit 1;; esac
"""


@pytest.mark.parametrize("secret", SECRETS, ids=["plain", "quotes-backslash-non-ascii"])
def test_secret_never_appears_anywhere(service: Service, secret: str) -> None:
    script = service.folder / "check.sh"
    script.write_text(CHECK)
    script.chmod(0o755)
    service.env["E2E_SECRET"] = secret
    service.write(
        deadline="2s",
        local_extra='    env: {API_TOKEN: "${E2E_SECRET}"}',
        checks_extra="  custom_checks:\n    - name: token_check\n      script: check.sh",
    )
    outputs = []
    for args in (
        ("deploy", "--env", "staging", "--version", "v1"),
        ("deploy", "--env", "staging", "--version", "v2-badcheck"),
        ("deploy", "--env", "staging", "--version", "v2-badcheck", "--json"),
        ("status",),
        ("history", "--json"),
        ("logs", "--env", "staging", "--all-colors"),
        ("validate",),
    ):
        done = service.run(*args)
        outputs.append(done.stdout + done.stderr)
    newest = service.newest()
    assert newest is not None
    shown = service.run("show", newest["id"])
    outputs.append(shown.stdout + shown.stderr)
    # The check really did print the secret: it reached us masked.
    assert "using token ***" in "".join(outputs)
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    for text in outputs:
        assert not any(form in text for form in forms)
    for path in service.state_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(form.encode() in data for form in forms), f"secret found in {path}"
