"""The small checks behind names, addresses, quantities and templates."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from pydantic_core import PydanticCustomError

from arxdeploy.config import fields

CASES: list[tuple[Callable[[str], str], str, bool]] = [
    (fields.check_listen, "127.0.0.1:8080", True),
    (fields.check_listen, "0.0.0.0:1", True),
    (fields.check_listen, "localhost:65535", True),
    (fields.check_listen, "my-host.internal:443", True),
    (fields.check_listen, "[::1]:8080", True),
    (fields.check_listen, "127.0.0.1", False),
    (fields.check_listen, "127.0.0.1:0", False),
    (fields.check_listen, "127.0.0.1:65536", False),
    (fields.check_listen, "127.0.0.1:80a", False),
    (fields.check_listen, "999.1.1.1:80", False),
    (fields.check_listen, ":8080", False),
    (fields.check_listen, "[::1:8080", False),
    (fields.check_listen, "under_score:80", False),
    (fields.check_listen, "127.0.0.1:٨٠", False),  # non-ASCII digits
    (fields.check_email, "ops@example.com", True),
    (fields.check_email, "first.last+tag@sub.example.org", True),
    (fields.check_email, "ops@localhost", False),
    (fields.check_email, "ops example.com", False),
    (fields.check_email, "@example.com", False),
    (fields.check_cpu, "250m", True),
    (fields.check_cpu, "0.5", True),
    (fields.check_cpu, "2", True),
    (fields.check_cpu, "0", False),
    (fields.check_cpu, "0.5m", False),
    (fields.check_cpu, "1 core", False),
    (fields.check_memory, "64Mi", True),
    (fields.check_memory, "1Gi", True),
    (fields.check_memory, "128M", True),
    (fields.check_memory, "1e9", True),
    (fields.check_memory, "134217728", True),
    (fields.check_memory, "64MB", False),
    (fields.check_memory, "64mi", False),
    (fields.check_memory, "0Mi", False),
    (fields.check_memory, "1e999", False),
    (fields.dns_label(53), "demo-api", True),
    (fields.dns_label(53), "a", True),
    (fields.dns_label(53), "-demo", False),
    (fields.dns_label(53), "demo-", False),
    (fields.dns_label(53), "demo_api", False),
    (fields.dns_label(53), "a" * 54, False),
    (fields.template(fields.COMMAND_PLACEHOLDERS), "--port={port}", True),
    (fields.template(fields.COMMAND_PLACEHOLDERS), "{{literal}}", True),
    (fields.template(fields.COMMAND_PLACEHOLDERS), "{}", False),
    (fields.template(fields.COMMAND_PLACEHOLDERS), "{0}", False),
    (fields.template(fields.COMMAND_PLACEHOLDERS), "{port.real}", False),
    (fields.template(fields.COMMAND_PLACEHOLDERS), "{service}", False),
    (fields.template(fields.IMAGE_PLACEHOLDERS), "repo/app:{version}", True),
    (fields.template(fields.IMAGE_PLACEHOLDERS), "repo/{environment}:x", False),
]


@pytest.mark.parametrize(("check", "value", "valid"), CASES)
def test_check(check: Callable[[str], str], value: str, valid: bool) -> None:
    if valid:
        assert check(value) == value
    else:
        with pytest.raises(PydanticCustomError) as caught:
            check(value)
        assert caught.value.message().startswith(f'"{value}" ')  # the loader relies on the quotes


@pytest.mark.parametrize(("text", "millis"), [("250m", 250), ("0.5", 500), ("2", 2000), (".1", 100)])
def test_cpu_millis(text: str, millis: int) -> None:
    assert fields.cpu_millis(text) == Decimal(millis)


@pytest.mark.parametrize(("text", "size"), [("1Ki", 1024), ("64Mi", 64 * 2**20), ("128M", 128 * 10**6), ("1e3", 1000)])
def test_memory_bytes(text: str, size: int) -> None:
    assert fields.memory_bytes(text) == Decimal(size)


@pytest.mark.parametrize(
    ("value", "valid"), [("scripts/check.sh", True), ("/abs", True), ("", False), ("a\x00b", False)]
)
def test_check_path(value: str, valid: bool) -> None:
    if valid:
        assert fields.check_path(value) == value
    else:
        with pytest.raises(PydanticCustomError, match="is not a usable path"):
            fields.check_path(value)
