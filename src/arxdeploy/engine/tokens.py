"""API tokens: one per person, shown once, stored as a sha256 digest, revocable, maybe expiring.

A token reads ``arx_<id>_<secret>``. The id (hex) finds the record; the secret (32 random bytes,
url-safe base64, which may itself contain ``_``) is compared by digest in constant time. A plain
sha256 is enough here, unlike for passwords: the secret is random and long, so there is nothing
to guess from its digest.

A token has a role (``domain.roles.Role``). Admins create tokens through the server; the first
admin token is the exception, made by ``bootstrap`` straight into the store, and only while no
admin token is active.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from arxdeploy.domain.roles import Role
from arxdeploy.errors import ConflictError, NotFoundError, RefusedError, UnauthenticatedError, UsageError
from arxdeploy.ports import Clock, Store, TokenRecord

PREFIX = "arx_"
GITHUB_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_NEW_ONE = "ask an admin for a new one (`arxdeploy token create --for YOU`)"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Tokens:
    store: Store
    clock: Clock

    def create(
        self,
        *,
        email: str,
        created_by: str,
        role: Role = Role.APPROVER,
        github: str | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token for ``email``: the record, and the token text, which is never shown again."""
        record, text = self._new(email, created_by, role, github, expires_in)
        self.store.add_token(token=record)
        return record, text

    def bootstrap(
        self, *, email: str, created_by: str, github: str | None = None, expires_in: timedelta | None = None
    ) -> tuple[TokenRecord, str]:
        """The first admin token; ConflictError while an admin token is active (then admins make tokens)."""
        record, text = self._new(email, f"{created_by} (bootstrap)", Role.ADMIN, github, expires_in)
        if not self.store.add_first_admin(token=record):
            raise ConflictError(
                "an admin token exists already: bootstrap makes only the first one",
                hint="an admin makes more through the server: `arxdeploy token create --for EMAIL --role admin` "
                "with server.url set (or --server URL) and their token in ARXDEPLOY_TOKEN "
                "(every admin token lost? see docs/operations.md, rotating tokens)",
            )
        return record, text

    def list(self) -> list[TokenRecord]:
        return self.store.tokens()

    def revoke(self, *, token_id: str) -> TokenRecord:
        if not self.store.revoke_token(token_id=token_id, at=self.clock.now()):
            known = {t.id: t for t in self.store.tokens()}
            if token_id in known:
                return known[token_id]  # already revoked: revoking again changes nothing
            raise NotFoundError(f"no token {token_id!r}", hint="see them with `arxdeploy token list`")
        return next(t for t in self.store.tokens() if t.id == token_id)

    def authenticate(self, token: str) -> str:
        """The email of the token's owner; UnauthenticatedError for a bad, unknown, revoked or expired one."""
        return self.identify(token).email

    def identify(self, token: str, *, needs: Role = Role.VIEWER) -> TokenRecord:
        """The token's record (owner, GitHub login, role); errors as ``authenticate``, and
        RefusedError when its role does not allow what ``needs`` does."""
        token_id, secret = _parse(token)
        record = next((t for t in self.store.tokens() if t.id == token_id), None)
        # Compare even when the id is unknown, so timing does not tell which ids exist.
        expected = record.secret_sha256 if record else digest("")
        if not hmac.compare_digest(expected, digest(secret)) or record is None:
            raise UnauthenticatedError("the token is not valid", hint=_NEW_ONE)
        if record.revoked_at is not None:
            raise UnauthenticatedError("the token was revoked", hint=_NEW_ONE)
        if not record.active(self.clock.now()):
            assert record.expires_at is not None
            raise UnauthenticatedError(f"the token expired at {record.expires_at.isoformat()}", hint=_NEW_ONE)
        if not record.role.allows(needs):
            raise RefusedError(
                f"{record.email}'s token may not do this: it is a {record.role} token, and this needs the {needs} role",
                hint="an admin can make you a token with that role",
            )
        return record

    def _new(
        self, email: str, created_by: str, role: Role, github: str | None, expires_in: timedelta | None
    ) -> tuple[TokenRecord, str]:
        person = email.strip().lower()
        if "@" not in person or any(c.isspace() for c in person):
            raise UsageError(f"{email!r} is not an email address", hint="tokens are for people: --for ana@example.com")
        if github is not None and not GITHUB_LOGIN.fullmatch(github):
            raise UsageError(
                f"{github!r} is not a GitHub login", hint="letters, digits and single hyphens, e.g. ana-dev"
            )
        if expires_in is not None and expires_in <= timedelta(0):
            raise UsageError("a token must not expire at once", hint="e.g. --expires-in 90d, or leave it out")
        now = self.clock.now()
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        record = TokenRecord(
            id=token_id,
            email=person,
            secret_sha256=digest(secret),
            created_at=now,
            created_by=created_by,
            github=github.lower() if github else None,
            role=role,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        return record, f"{PREFIX}{token_id}_{secret}"


def _parse(token: str) -> tuple[str, str]:
    """``arx_<id>_<secret>`` into id and secret: the id is hex, so it ends at the first ``_``."""
    body = token.strip().removeprefix(PREFIX)
    token_id, _, secret = body.partition("_")
    if not token.strip().startswith(PREFIX) or not token_id or not secret:
        raise UnauthenticatedError("the token is not valid", hint="tokens look like arx_<id>_<secret>")
    return token_id, secret
