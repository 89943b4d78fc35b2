"""API tokens: shown once, stored as a digest, checked in constant time, revocable."""

from __future__ import annotations

import string
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arxdeploy.domain.roles import Role
from arxdeploy.engine.tokens import Tokens, digest
from arxdeploy.errors import ConflictError, NotFoundError, RefusedError, UnauthenticatedError, UsageError
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


def test_an_expired_token_is_refused_saying_when() -> None:
    clock = ManualClock()
    tokens = Tokens(store=MemoryStore(), clock=clock)
    record, token = tokens.create(email="ana@example.com", created_by="ops", expires_in=timedelta(days=90))
    assert record.expires_at == clock.now() + timedelta(days=90)

    clock.advance(timedelta(days=90) - timedelta(seconds=1))
    assert tokens.authenticate(token) == "ana@example.com"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(UnauthenticatedError, match="the token expired at 2026-04-01T00:00:00\\+00:00") as caught:
        tokens.identify(token)
    assert caught.value.hint and "admin" in caught.value.hint
    with pytest.raises(UsageError, match="must not expire at once"):
        tokens.create(email="ana@example.com", created_by="ops", expires_in=timedelta(0))


def test_a_token_does_what_its_role_allows() -> None:
    tokens = Tokens(store=MemoryStore(), clock=ManualClock())
    made = {role: tokens.create(email=f"{role}@example.com", created_by="ops", role=role)[1] for role in Role}
    assert tokens.identify(made[Role.VIEWER]).role is Role.VIEWER
    assert tokens.create(email="bo@example.com", created_by="ops")[0].role is Role.APPROVER  # the default
    for role, token in made.items():
        if role is Role.ADMIN:
            assert tokens.identify(token, needs=Role.ADMIN).email == "admin@example.com"
        else:
            with pytest.raises(RefusedError, match=f"it is a {role} token, and this needs the admin role"):
                tokens.identify(token, needs=Role.ADMIN)


def test_bootstrap_makes_the_first_admin_token_only() -> None:
    clock = ManualClock()
    tokens = Tokens(store=MemoryStore(), clock=clock)
    tokens.create(email="bo@example.com", created_by="ops")  # approvers do not count
    record, token = tokens.bootstrap(email="Root@Example.com", created_by="ops@host", expires_in=timedelta(days=1))
    assert record.role is Role.ADMIN and record.email == "root@example.com"
    assert record.created_by == "ops@host (bootstrap)"
    assert tokens.identify(token, needs=Role.ADMIN) == record

    with pytest.raises(ConflictError, match="an admin token exists already") as caught:
        tokens.bootstrap(email="eve@example.com", created_by="eve@laptop")
    assert caught.value.hint and "arxdeploy token create" in caught.value.hint
    assert sorted(t.email for t in tokens.list()) == ["bo@example.com", "root@example.com"]

    clock.advance(timedelta(days=1))  # the only admin token expired: bootstrap again
    assert tokens.bootstrap(email="root@example.com", created_by="ops@host")[0].role is Role.ADMIN
