"""Certificates made on the spot and TLS servers on loopback, for tests and benchmarks of the tls gate.

``cryptography`` (the ``testing`` extra) makes a CA and leaf certificates signed by it, or by
themselves; ``Server`` completes handshakes with one certificate, and hangs up, until closed.
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """The certificate and its key as PEM files: (cert, key)."""
        cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
        cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def issue(common: str, *, issuer: Issued | None, not_before: datetime, not_after: datetime, ca: bool = False) -> Issued:
    """A certificate for ``common`` (also its DNS name), signed by ``issuer`` or by itself."""
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
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        builder = builder.add_extension(usage, critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common)]), critical=False)
    return Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


def server_context(
    leaf: Issued, folder: Path, name: str, *, only_tls10: bool = False, tls10_too: bool = False
) -> ssl.SSLContext:
    """A server context with ``leaf``; optionally speaking only TLS 1.0, or TLS 1.0 besides the newer ones."""
    cert_file, key_file = leaf.write(folder, name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    # OpenSSL 3 only speaks TLS 1.0 and 1.1 at security level 0; Python deprecates setting them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if only_tls10 or tls10_too:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1
        if only_tls10:
            context.maximum_version = ssl.TLSVersion.TLSv1
    return context


class Server:
    """A TLS server on 127.0.0.1 that completes handshakes and hangs up, until closed."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"tls-{self.port}", daemon=True)
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

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
