"""The tls gate against real TLS servers on loopback, one per certificate case.

The certificates are made here with ``cryptography``: a test CA the gate is told to trust (through
``security.tls.ca_file`` or ``SSL_CERT_FILE``), and leaf certificates signed by it, or by
themselves.
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from arxdeploy.domain.security import Status
from arxdeploy.security import tls
from tests.security.evidence import config

NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _make(common: str, *, issuer: Issuer | None, not_before: datetime, not_after: datetime, ca: bool = False) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(issuer.cert.subject if issuer else _name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common)]), critical=False)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    signer = issuer.key if issuer else key
    return Issuer(builder.sign(signer, hashes.SHA256()), key)


class Server:
    """A TLS server on loopback that completes handshakes and hangs up, until closed."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            conn.settimeout(60)  # a client that never finishes its handshake does not hold the others
            try:
                with self._context.wrap_socket(conn, server_side=True):
                    pass
            except OSError:
                pass  # a refused handshake is part of what is tested
            finally:
                conn.close()

    def close(self) -> None:
        # shutdown wakes the accept() blocked in the thread (close alone does not, on Linux).
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=30)


def _context(leaf: Issuer, folder: Path, name: str, *, only_old: bool = False, old_too: bool = False) -> ssl.SSLContext:
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert_file.write_bytes(leaf.cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    # OpenSSL 3 only speaks TLS 1.0 and 1.1 at security level 0; Python deprecates setting them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if only_old or old_too:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1
        if only_old:
            context.maximum_version = ssl.TLSVersion.TLSv1
    return context


@dataclass(frozen=True)
class Lab:
    ca_file: Path
    ports: dict[str, int]
    expiries: dict[str, datetime]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("tls")
    ca = _make(
        "arxdeploy test CA",
        issuer=None,
        not_before=NOW - timedelta(days=30),
        not_after=NOW + timedelta(days=3650),
        ca=True,
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    day = timedelta(days=1)
    cases: dict[str, tuple[Issuer, dict[str, Any]]] = {
        "valid": (_make("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day), {}),
        "soon": (_make("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 20 * day), {}),
        "expired": (_make("localhost", issuer=ca, not_before=NOW - 90 * day, not_after=NOW - 2 * day), {}),
        "three_days": (_make("localhost", issuer=ca, not_before=NOW - 60 * day, not_after=NOW + 3 * day), {}),
        "wrong_name": (_make("shop.example.com", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day), {}),
        "self_signed": (_make("localhost", issuer=None, not_before=NOW - day, not_after=NOW + 90 * day), {}),
        "tls10_only": (
            _make("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day),
            {"only_old": True},
        ),
        "tls10_too": (_make("localhost", issuer=ca, not_before=NOW - day, not_after=NOW + 90 * day), {"old_too": True}),
    }
    servers = {name: Server(_context(leaf, folder, name, **options)) for name, (leaf, options) in cases.items()}
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
