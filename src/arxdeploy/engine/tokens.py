"""API tokens: one per person, shown once, stored as a sha256 digest, revocable.

A token reads ``arx_<id>_<secret>``. The id finds the record; the secret (32 random bytes) is
compared by digest in constant time. A plain sha256 is enough here, unlike for passwords: the
secret is random and long, so there is nothing to guess from its digest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from arxdeploy.errors import NotFoundError, UnauthenticatedError, UsageError
from arxdeploy.ports import Clock, Store, TokenRecord

PREFIX = "arx_"
GITHUB_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Tokens:
    store: Store
    clock: Clock

    def create(self, *, email: str, created_by: str, github: str | None = None) -> tuple[TokenRecord, str]:
        """A new token for ``email``: the record, and the token text, which is never shown again."""
        person = email.strip().lower()
        if "@" not in person or any(c.isspace() for c in person):
            raise UsageError(f"{email!r} is not an email address", hint="tokens are for people: --for ana@example.com")
        if github is not None and not GITHUB_LOGIN.fullmatch(github):
            raise UsageError(
                f"{github!r} is not a GitHub login", hint="letters, digits and single hyphens, e.g. ana-dev"
            )
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        record = TokenRecord(
            id=token_id,
            email=person,
            secret_sha256=digest(secret),
            created_at=self.clock.now(),
            created_by=created_by,
            github=github.lower() if github else None,
        )
        self.store.add_token(token=record)
        return record, f"{PREFIX}{token_id}_{secret}"

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
        """The email of the token's owner; UnauthenticatedError for a bad, unknown or revoked one."""
        return self.identify(token).email

    def identify(self, token: str) -> TokenRecord:
        """The token's record (its owner's email and GitHub login); errors as ``authenticate``."""
        token_id, secret = _parse(token)
        record = next((t for t in self.store.tokens() if t.id == token_id), None)
        # Compare even when the id is unknown, so timing does not tell which ids exist.
        expected = record.secret_sha256 if record else digest("")
        if not hmac.compare_digest(expected, digest(secret)) or record is None:
            raise UnauthenticatedError("the token is not valid", hint="ask for a new one: `arxdeploy token create`")
        if record.revoked_at is not None:
            raise UnauthenticatedError("the token was revoked", hint="ask for a new one: `arxdeploy token create`")
        return record


def _parse(token: str) -> tuple[str, str]:
    body = token.strip().removeprefix(PREFIX)
    token_id, _, secret = body.partition("_")
    if not token.strip().startswith(PREFIX) or not token_id or not secret:
        raise UnauthenticatedError("the token is not valid", hint="tokens look like arx_<id>_<secret>")
    return token_id, secret
