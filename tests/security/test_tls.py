"""The tls gate against real TLS servers on loopback, one per certificate case.

The certificates are made here with ``cryptography``: a test CA the gate is told to trust (through
``security.tls.ca_file`` or ``SSL_CERT_FILE``), and leaf certificates signed by it, or by
themselves.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.domain.security import Status
from arxdeploy.security import tls
from arxdeploy.testing.tls import Issued, Server, issue, server_context
from tests.security.evidence import config

NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Lab:
    ca_file: Path
    ports: dict[str, int]
    expiries: dict[str, datetime]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("tls")
    ca = issue(
        "arxdeploy test CA",
        issuer=None,
        not_before=NOW - timedelta(days=30),
        not_after=NOW + timedelta(days=3650),
        ca=True,
    )
    ca_file, _ = ca.write(folder, "ca")
    day = timedelta(days=1)
    cases: dict[str, tuple[Issued, dict[str, Any]]] = {
        "valid": (issue("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day), {}),
        "soon": (issue("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 20 * day), {}),
        "expired": (issue("localhost", issuer=ca, not_before=NOW - 90 * day, not_after=NOW - 2 * day), {}),
        "three_days": (issue("localhost", issuer=ca, not_before=NOW - 60 * day, not_after=NOW + 3 * day), {}),
        "wrong_name": (issue("shop.example.com", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day), {}),
        "self_signed": (issue("localhost", issuer=None, not_before=NOW - day, not_after=NOW + 90 * day), {}),
        "tls10_only": (
            issue("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day),
            {"only_tls10": True},
        ),
        "tls10_too": (
            issue("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day),
            {"tls10_too": True},
        ),
    }
    servers = {name: Server(server_context(leaf, folder, name, **options)) for name, (leaf, options) in cases.items()}
    try:
        yield Lab(
            ca_file,
            {name: s.port for name, s in servers.items()},
            {name: leaf.cert.not_valid_after_utc for name, (leaf, _) in cases.items()},
        )
    finally:
        for server in servers.values():
            server.close()


def check(lab: Lab, case: str, *, environ: dict[str, str] | None = None, **settings: Any):
    tls_settings = {"ca_file": str(lab.ca_file), **settings} if environ is None else settings
    return tls.check(
        config=config(url=f"https://localhost:{lab.ports[case]}/", security={"tls": tls_settings}),
        environment="production",
        base_dir=Path("/"),
        now=datetime.now(UTC),
        environ=environ or {},
    )


def _day(lab: Lab, case: str) -> str:
    return lab.expiries[case].date().isoformat()


def test_a_valid_certificate_passes_and_names_its_expiry(lab: Lab) -> None:
    result = check(lab, "valid")
    assert result.status is Status.PASSED, result.summary
    assert f"valid until {_day(lab, 'valid')}" in result.summary
    assert result.facts["protocol"] == "TLSv1.3"
    assert result.facts["expires"].startswith(_day(lab, "valid"))
    assert "arxdeploy test CA" in str(result.facts["issuer"])


def test_the_ca_can_come_from_ssl_cert_file(lab: Lab) -> None:
    result = check(lab, "valid", environ={"SSL_CERT_FILE": str(lab.ca_file)})
    assert result.status is Status.PASSED, result.summary


def test_below_warn_days_passes_with_a_warning(lab: Lab) -> None:
    result = check(lab, "soon")
    assert result.status is Status.WARNING
    assert f"valid until {_day(lab, 'soon')}" in result.summary and "renew it soon" in result.summary


def test_an_expired_certificate_fails_and_names_when(lab: Lab) -> None:
    result = check(lab, "expired")
    assert result.status is Status.FAILED
    assert "the certificate has expired" in result.summary
    assert f"expires {_day(lab, 'expired')}" in result.summary


def test_three_days_left_is_below_min_days(lab: Lab) -> None:
    result = check(lab, "three_days")
    assert result.status is Status.FAILED
    assert f"valid until {_day(lab, 'three_days')}" in result.summary
    assert "fewer than security.tls.min_days (14)" in result.summary
    # With a lower bar the same certificate only warns.
    assert check(lab, "three_days", min_days=1, warn_days=30).status is Status.WARNING


def test_a_certificate_for_another_name_fails(lab: Lab) -> None:
    result = check(lab, "wrong_name")
    assert result.status is Status.FAILED
    assert "not for this host name" in result.summary
    assert result.facts["subject"] == "CN=shop.example.com"


def test_a_self_signed_certificate_fails(lab: Lab) -> None:
    result = check(lab, "self_signed")
    assert result.status is Status.FAILED
    assert "self-signed" in result.summary
    assert f"expires {_day(lab, 'self_signed')}" in result.summary


def test_a_server_that_speaks_only_tls_1_0_fails(lab: Lab) -> None:
    result = check(lab, "tls10_only")
    assert result.status is Status.FAILED
    assert "speaks only TLSv1, older than TLS 1.2" in result.summary
    assert result.findings[0].rule == "tls.protocol"


def test_a_server_that_also_accepts_tls_1_0_fails(lab: Lab) -> None:
    result = check(lab, "tls10_too")
    assert result.status is Status.FAILED
    assert "also accepts TLSv1" in result.summary


def test_no_url_is_not_applicable_and_plain_http_warns() -> None:
    bare = tls.check(config=config(), environment="production", base_dir=Path("/"), now=NOW, environ={})
    assert bare.status is Status.NOT_APPLICABLE and "environments.production.url is not set" in bare.summary
    plain = tls.check(
        config=config(url="http://shop.example.com"), environment="production", base_dir=Path("/"), now=NOW, environ={}
    )
    assert plain.status is Status.WARNING and "plain HTTP" in plain.summary


def test_a_url_nothing_answers_warns_without_judging() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    result = tls.check(
        config=config(url=f"https://localhost:{port}"),
        environment="production",
        base_dir=Path("/"),
        now=NOW,
        environ={},
    )
    assert result.status is Status.WARNING and f"cannot reach localhost:{port}" in result.summary
