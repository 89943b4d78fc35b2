"""API tokens: shown once, stored as a digest, checked in constant time, revocable."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arxdeploy.engine.tokens import Tokens, digest
from arxdeploy.errors import NotFoundError, UnauthenticatedError, UsageError
from arxdeploy.ports import TokenRecord
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.store import MemoryStore

# What ``secrets.token_urlsafe`` draws from: "_" and "-" included, so a secret may hold any of them.
URLSAFE = string.ascii_letters + string.digits + "-_"


def test_a_token_names_its_person_until_revoked() -> None:
    store = MemoryStore()
    tokens = Tokens(store=store, clock=ManualClock())
    record, token = tokens.create(email="Ana@Example.com", created_by="ops@ci-1")
    assert token.startswith(f"arx_{record.id}_")
    assert tokens.authenticate(token) == "ana@example.com"
    secret = token.removeprefix(f"arx_{record.id}_")  # the secret itself may contain "_"
    assert len(secret) == 43
    assert all(secret not in repr(t) for t in store.tokens())  # only its digest is kept

    tokens.revoke(token_id=record.id)
    with pytest.raises(UnauthenticatedError, match="revoked"):
        tokens.authenticate(token)
    assert tokens.revoke(token_id=record.id).revoked_at is not None  # again: no change, no error
    with pytest.raises(NotFoundError):
        tokens.revoke(token_id="nope")


@pytest.mark.parametrize("bad", ["", "arx_", "arx_abc", "Bearer x", "arx_unknown_secret"])
def test_malformed_or_unknown_tokens_are_refused(bad: str) -> None:
    tokens = Tokens(store=MemoryStore(), clock=ManualClock())
    _, good = tokens.create(email="ana@example.com", created_by="ops")
    with pytest.raises(UnauthenticatedError):
        tokens.authenticate(bad)
    with pytest.raises(UnauthenticatedError):
        tokens.authenticate(good[:-1] + ("A" if good[-1] != "A" else "B"))


def test_tokens_are_for_people() -> None:
    with pytest.raises(UsageError, match="not an email"):
        Tokens(store=MemoryStore(), clock=ManualClock()).create(email="ci-bot", created_by="ops")


def test_a_token_may_name_its_owners_github_login() -> None:
    tokens = Tokens(store=MemoryStore(), clock=ManualClock())
    record, token = tokens.create(email="ana@example.com", created_by="ops", github="Ana-Dev")
    assert tokens.identify(token).github == "ana-dev" == record.github
    for bad in ("-ana", "ana--dev", "ana dev", "a" * 40):
        with pytest.raises(UsageError, match="not a GitHub login"):
            tokens.create(email="ana@example.com", created_by="ops", github=bad)


@given(token_id=st.text("0123456789abcdef", min_size=12, max_size=12), secret=st.text(URLSAFE, min_size=1))
def test_any_secret_identifies_its_token(token_id: str, secret: str) -> None:
    # Secrets may start or end with "_" or "-", or be made of them: the id ends at the first "_".
    store = MemoryStore()
    clock = ManualClock()
    record = TokenRecord(token_id, "ana@example.com", digest(secret), clock.now(), "ops")
    store.add_token(token=record)
    tokens = Tokens(store=store, clock=clock)
    assert tokens.identify(f"arx_{token_id}_{secret}") == record
    with pytest.raises(UnauthenticatedError):
        tokens.identify(f"arx_{token_id}_{secret}x")
