"""Gate ``tls``: the certificate of the environment's public URL, as a browser would judge it.

The chain verifies (against the system's CAs, ``security.tls.ca_file`` or ``SSL_CERT_FILE``), the
name matches, the certificate stays valid long enough (``min_days`` fails, ``warn_days`` warns),
and the server speaks TLS 1.2 or newer only: a second handshake offering only TLS 1.0 and 1.1
must be refused. Whatever went wrong, the result names the certificate's expiry date when the
server showed one.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from arxdeploy.config.models import Config, TlsGate
from arxdeploy.domain.security import Finding, GateResult, Severity, Status

GATE = "tls"
# X509_V_ERR_* codes (OpenSSL's include/openssl/x509_vfy.h) that have a plainer name for people.
_VERIFY = {
    10: "the certificate has expired",
    9: "the certificate is not valid yet",
    18: "the certificate is self-signed",
    19: "the chain ends in a self-signed certificate that is not trusted",
    20: "the chain does not lead to a trusted CA",
    21: "the chain does not lead to a trusted CA",
    62: "the certificate is not for this host name",
}


@dataclass(frozen=True)
class _Seen:
    """What a handshake showed: the protocol spoken and the certificate's facts."""

    protocol: str | None
    expires: datetime | None
    subject: str | None
    issuer: str | None


def check(*, config: Config, environment: str, base_dir: Path, now: datetime, environ: Mapping[str, str]) -> GateResult:
    settings = config.security.tls
    url = config.environment(environment).url
    if url is None:
        return GateResult(
            GATE,
            Status.NOT_APPLICABLE,
            f"environments.{environment}.url is not set: no public URL to check",
        )
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return GateResult(
            GATE, Status.WARNING, f"{url} is served over plain HTTP: no certificate to check", facts={"url": url}
        )
    host, port = parts.hostname, parts.port or 443
    ca_file = _ca_file(settings, base_dir, environ)
    return judge(url, host, port, settings, ca_file, now)


def judge(url: str, host: str, port: int, settings: TlsGate, ca_file: str | None, now: datetime) -> GateResult:
    timeout = settings.timeout.total_seconds()
    facts: dict[str, object] = {"url": url}
    seen: _Seen | None
    try:
        seen = _handshake(host, port, _verifying(ca_file), timeout)
    except ssl.SSLCertVerificationError as exc:
        seen = _unverified(host, port, timeout)
        reason = _VERIFY.get(exc.verify_code, exc.verify_message or str(exc))
        return _result(Status.FAILED, f"{url}: {reason}{_until(seen)}", "tls.chain", facts, seen, now)
    except ssl.SSLError as exc:
        seen = _unverified(host, port, timeout, legacy=True)
        if seen is not None and seen.protocol in ("TLSv1", "TLSv1.1"):
            message = f"{url} speaks only {seen.protocol}, older than TLS 1.2{_until(seen)}"
            return _result(Status.FAILED, message, "tls.protocol", facts, seen, now)
        return _result(Status.FAILED, f"{url}: TLS handshake failed ({exc.reason or exc})", "tls.handshake", facts)
    except OSError as exc:
        # Not reachable (yet: a first deployment): nothing to judge, and nothing proven either.
        why = exc.strerror or str(exc) or type(exc).__name__
        return GateResult(
            GATE, Status.WARNING, f"cannot reach {host}:{port} ({why}): certificate not checked", facts=facts
        )
    legacy = _legacy_accepted(host, port, timeout)
    if legacy is not None:
        message = f"{url} also accepts {legacy}; only TLS 1.2 or newer should be{_until(seen)}"
        return _result(Status.FAILED, message, "tls.protocol", facts, seen, now)
    assert seen is not None and seen.expires is not None  # a verified handshake always shows a certificate
    days = (seen.expires - now).days
    status, rule = Status.PASSED, None
    if days < settings.min_days:
        status, rule = Status.FAILED, "tls.expiry"
    elif days < settings.warn_days:
        status, rule = Status.WARNING, "tls.expiry"
    summary = f"{url}: certificate valid until {seen.expires.date().isoformat()} ({days} days left), {seen.protocol}"
    if status is Status.FAILED:
        summary += f": fewer than security.tls.min_days ({settings.min_days})"
    elif status is Status.WARNING:
        summary += f": renew it soon (warn_days {settings.warn_days})"
    return _result(status, summary, rule, facts, seen, now)


def _result(
    status: Status,
    summary: str,
    rule: str | None,
    facts: dict[str, object],
    seen: _Seen | None = None,
    now: datetime | None = None,
) -> GateResult:
    if seen is not None:
        facts = {**facts, "protocol": seen.protocol, "subject": seen.subject, "issuer": seen.issuer}
        if seen.expires is not None:
            facts["expires"] = seen.expires.isoformat()
            if now is not None:
                facts["days_left"] = (seen.expires - now).days
    findings: tuple[Finding, ...] = ()
    if rule is not None:
        severity = Severity.HIGH if status is Status.FAILED else Severity.MEDIUM
        findings = (Finding(rule=rule, message=summary, severity=severity),)
    return GateResult(GATE, status, summary, findings, facts)


def _until(seen: _Seen | None) -> str:
    return f" (certificate expires {seen.expires.date().isoformat()})" if seen and seen.expires else ""


def _ca_file(settings: TlsGate, base_dir: Path, environ: Mapping[str, str]) -> str | None:
    if settings.ca_file is not None:
        return str(base_dir / settings.ca_file)
    return environ.get("SSL_CERT_FILE") or None


def _verifying(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _lenient(*, legacy: bool) -> ssl.SSLContext:
    """A context that accepts any certificate, to read what the server shows; ``legacy`` also
    offers TLS 1.0 and 1.1 (security level 0, or OpenSSL 3 refuses them before asking)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if legacy:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        _old(context, "minimum_version", ssl.TLSVersion.TLSv1)
    return context


def _old(context: ssl.SSLContext, bound: str, version: ssl.TLSVersion) -> None:
    # Python deprecates the old protocols; offering them is the point here (is it accepted?).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        setattr(context, bound, version)


def _handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> _Seen:
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        if context.verify_mode is ssl.CERT_REQUIRED:
            return _verified_facts(tls.version(), tls.getpeercert())
        return _facts(tls.version(), tls.getpeercert(binary_form=True))


def _unverified(host: str, port: int, timeout: float, *, legacy: bool = False) -> _Seen | None:
    try:
        return _handshake(host, port, _lenient(legacy=legacy), timeout)
    except OSError:
        return None


def _legacy_accepted(host: str, port: int, timeout: float) -> str | None:
    """The older protocol the server accepts when offered nothing newer, or None."""
    context = _lenient(legacy=True)
    _old(context, "maximum_version", ssl.TLSVersion.TLSv1_1)
    try:
        return _handshake(host, port, context, timeout).protocol
    except OSError:  # ssl.SSLError included: refused, as it should be
        return None


def _verified_facts(protocol: str | None, cert: Mapping[str, Any] | None) -> _Seen:
    """From the certificate Python decoded (it only does so for a verified one)."""
    if not cert:
        return _Seen(protocol, None, None, None)
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), tz=UTC)
    return _Seen(protocol, expires, _name(cert.get("subject")), _name(cert.get("issuer")))


def _name(rdns: Any) -> str | None:
    if not rdns:
        return None
    return ",".join(f"{key}={value}" for rdn in reversed(rdns) for key, value in rdn)


def _facts(protocol: str | None, der: bytes | None) -> _Seen:
    """From an unverified certificate: read with ``cryptography`` where it is installed (the
    ``tls`` extra), to name its expiry date in a failure; without it, the failure says less."""
    if not der:
        return _Seen(protocol, None, None, None)
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - the test environment has it
        return _Seen(protocol, None, None, None)

    cert = x509.load_der_x509_certificate(der)
    return _Seen(protocol, cert.not_valid_after_utc, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string())
