"""The TLS side of a connection to the API server: whom to trust, and our client certificate.

One ``ssl.SSLContext`` per connection, shared by the API calls (lightkube) and the health checks
(httpx), so both trust the same CA and present the same certificate. Python's ``ssl`` loads a
certificate and key from files only: they are handed over through an anonymous in-memory file
(``memfd``), or, where there is none, a 0600 file in a 0700 folder removed at once.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from arxdeploy.errors import TargetError

_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


def context(*, ca: bytes | None, insecure: bool) -> ssl.SSLContext:
    """A client context that trusts ``ca`` only, the system's roots without one, or nothing if ``insecure``."""
    if insecure:
        made = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        made.check_hostname = False
        made.verify_mode = ssl.CERT_NONE
        return made
    if ca is not None:
        try:
            return ssl.create_default_context(cadata=ca.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise TargetError(
                f"the cluster's certificate authority cannot be loaded: {exc}", hint="fix certificate-authority(-data)"
            ) from exc
    made = ssl.create_default_context()  # the system's roots, as client-go uses
    if not made.cert_store_stats().get("x509_ca"):
        import certifi  # no system store here: httpx's bundle

        made.load_verify_locations(cafile=certifi.where())
    return made


def load_client_certificate(into: ssl.SSLContext, *, certificate: bytes, key: bytes, what: str) -> None:
    """Present ``certificate`` (PEM, with its chain) signed by ``key`` from now on (new connections)."""
    pair = certificate.rstrip(b"\n") + b"\n" + key
    try:
        fd = os.memfd_create("arxdeploy-client-certificate", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        fd = None
    try:
        if fd is not None:
            try:
                _write_all(fd, pair)
                into.load_cert_chain(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
            return
        with tempfile.TemporaryDirectory(prefix="arxdeploy-tls-") as folder:
            path = Path(folder) / "client.pem"
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(handle, pair)
            finally:
                os.close(handle)
            into.load_cert_chain(path)
    except ssl.SSLError as exc:
        reason = "the key does not match the certificate" if "KEY_VALUES_MISMATCH" in str(exc) else str(exc)
        raise TargetError(
            f"the client certificate of {what} cannot be used: {reason}", hint="fix the kubeconfig"
        ) from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def not_after(pem: bytes) -> datetime | None:
    """When the first certificate in ``pem`` expires; None if it cannot be read (the TLS layer will say)."""
    start = pem.find(_PEM_BEGIN)
    end = pem.find(_PEM_END, start + 1)
    if start < 0 or end < 0:
        return None
    try:
        der = base64.b64decode(b"".join(pem[start + len(_PEM_BEGIN) : end].split()), validate=True)
        return _validity_end(der)
    except (binascii.Error, ValueError, IndexError):
        return None


def _validity_end(der: bytes) -> datetime:
    """``tbsCertificate.validity.notAfter`` (RFC 5280 4.1): version?, serial, signature, issuer, validity."""
    _, body, _ = _tlv(der, 0)  # Certificate
    _, tbs, _ = _tlv(der, body)  # TBSCertificate
    at = tbs
    tag, _, after = _tlv(der, at)
    if tag == 0xA0:  # [0] EXPLICIT version
        at = after
    for _ in range(3):  # serialNumber, signature, issuer
        _, _, at = _tlv(der, at)
    _, validity, _ = _tlv(der, at)
    _, _, second = _tlv(der, validity)  # skip notBefore
    tag, start, end = _tlv(der, second)
    text = der[start:end].decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ: years 50-99 are 19xx (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("not a time")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """The DER element at ``at``: its tag, where its content starts, where it ends."""
    tag, length = der[at], der[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[at : at + count], "big")
        at += count
    if at + length > len(der):
        raise ValueError("truncated")
    return tag, at, at + length
