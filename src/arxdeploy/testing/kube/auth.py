"""Who is calling: kube-apiserver's union of authenticators, as the emulator runs it.

Modes (``KubeEmulator(auth=...)``, ``--auth``) choose what the kubeconfig holds; the server always
accepts the static token besides (as a cluster accepts service account tokens next to anything else):

- ``token``: a static bearer token (``--token-auth-file``);
- ``cert``: a client certificate signed by the emulator's CA, whose Common Name is the user and whose
  Organizations are its groups, as the x509 authenticator maps them
  (k8s.io/apiserver/pkg/authentication/request/x509/x509.go: ``CommonNameUserConversion``; the user's
  extra ``authentication.kubernetes.io/credential-id`` is ``X509SHA256=<fingerprint>``);
- ``exec``: a credential plugin (``python -m arxdeploy.testing.kube.credential``) that fetches a token
  minted here with an expiry, as ``aws eks get-token`` does: only minted tokens are accepted, and an
  expired one is refused with 401 like any unknown token.

A request that none of them accepts gets 401 ``Unauthorized`` (a Status); every authenticated
user is also in ``system:authenticated`` (``AuthenticatedGroupAdder``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MODES = ("token", "cert", "exec")
EXEC_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TOKEN_PREFIX = "arxdeploy-emulator-v1."
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def info(self) -> dict[str, Any]:
        """``UserInfo`` as a SelfSubjectReview reports it."""
        body: dict[str, Any] = {"username": self.name, "groups": [*self.groups, "system:authenticated"]}
        if self.extra:
            body["extra"] = {key: list(values) for key, values in self.extra}
        return body


@dataclass(frozen=True)
class Minted:
    """One run of the credential plugin, as the issuer saw it."""

    token: str = field(repr=False)
    user: User
    issued: datetime
    expires: datetime
    api_version: str
    exec_info: dict[str, Any] | None  # KUBERNETES_EXEC_INFO as the client passed it (None: not passed)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires


class Authenticator:
    """Thread-safe: the server's loop authenticates and mints while tests read what was minted."""

    def __init__(self, *, token: str, user: User, ca_pem: bytes, token_ttl: timedelta, issuer_key: str) -> None:
        if token_ttl < timedelta(seconds=1):
            raise ValueError("an exec token lives at least one second (its expiry is written in whole seconds)")
        self.token = token
        self.user = user
        self.token_ttl = token_ttl
        self.issuer_key = issuer_key
        self._ca = x509.load_pem_x509_certificate(ca_pem)
        self._lock = threading.Lock()
        self._minted: list[Minted] = []
        self._by_token: dict[str, Minted] = {}
        self._revoked: set[str] = set()
        self._certs: dict[bytes, User | None] = {}

    # who is calling

    def authenticate(self, authorization: str | None, peer_certificate: bytes | None) -> User | None:
        """The first authenticator that accepts the request wins: client certificate, then token."""
        if peer_certificate is not None:
            user = self._from_certificate(peer_certificate)
            if user is not None:
                return user
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return None
        credential = credential.strip()
        if hmac.compare_digest(credential, self.token):
            return self.user
        with self._lock:
            minted = self._by_token.get(credential)
            if minted is None or credential in self._revoked or minted.expired():
                return None
            return minted.user

    def _from_certificate(self, der: bytes) -> User | None:
        with self._lock:
            if der in self._certs:
                return self._certs[der]
        user = self._map_certificate(der)
        with self._lock:
            self._certs[der] = user
        return user

    def _map_certificate(self, der: bytes) -> User | None:
        """The TLS layer verified the chain; check the issuer and the client-auth usage again, then
        map the subject as ``CommonNameUserConversion`` does."""
        certificate = x509.load_der_x509_certificate(der)
        if certificate.issuer != self._ca.subject:
            return None
        try:
            usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return None
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            return None
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or not str(names[0].value):
            return None  # "common name is required"
        groups = tuple(str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        fingerprint = hashlib.sha256(der).hexdigest()
        return User(str(names[0].value), groups, ((CREDENTIAL_ID, (f"X509SHA256={fingerprint}",)),))

    # the exec credential issuer

    def mint(self, api_version: str, exec_info: dict[str, Any] | None) -> dict[str, Any]:
        """An ``ExecCredential`` with a new token that expires ``token_ttl`` from now, rounded up to
        the second (``expirationTimestamp`` has no fractions), so it lives at least ``token_ttl``."""
        if api_version not in EXEC_VERSIONS:
            raise ValueError(f"unknown ExecCredential apiVersion {api_version!r}")
        issued = datetime.now(UTC)
        end = issued + self.token_ttl
        expires = end if end.microsecond == 0 else end.replace(microsecond=0) + timedelta(seconds=1)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        minted = Minted(token, self.user, issued, expires, api_version, exec_info)
        with self._lock:
            self._minted.append(minted)
            self._by_token[token] = minted
        status = {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return {"apiVersion": api_version, "kind": "ExecCredential", "spec": {}, "status": status}

    def issuer_allows(self, authorization: str | None) -> bool:
        return hmac.compare_digest(authorization or "", f"Bearer {self.issuer_key}")

    @property
    def minted(self) -> list[Minted]:
        with self._lock:
            return list(self._minted)

    def revoke(self) -> None:
        """Refuse every token minted so far (as if the cluster's token signer had rotated)."""
        with self._lock:
            self._revoked.update(self._by_token)
