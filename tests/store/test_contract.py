"""The Store contract, run against every implementation (see conftest.store)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from arxdeploy.domain.decide import Route
from arxdeploy.domain.events import Event, entered, fold, note, step_ended, switched
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import Color, Kind, State
from arxdeploy.errors import NotFoundError, StoreError
from arxdeploy.ports import LiveRelease, Store, TokenRecord
from tests.store.helpers import at, deployment, holder

# --- create / get --------------------------------------------------------------------------


def test_create_then_get_returns_every_field(store: Store) -> None:
    d = replace(
        deployment("d1a2b3c4d5e6", kind=Kind.ROLLBACK, old_color=None),
        previous_version=None,
        git_ref=None,
        git_sha=None,
        critical=True,
        route=Route(needs_approval=True, monitor=False),
        from_backup="20250301-110000-beef",
    )
    store.create(deployment=d, events=[entered(State.VALIDATING, at(1))])

    got = store.get(deployment_id=d.id)

    assert got.deployment == d
    assert got.deployment.created_at.tzinfo is not None
    assert got.state is State.VALIDATING
    assert got.updated_at == at(1)
    assert got.updated_at.tzinfo is not None


def test_create_without_events_is_requested_as_of_creation(store: Store) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6", created=5), events=[])

    got = store.get(deployment_id="d1a2b3c4d5e6")

    assert (got.state, got.updated_at) == (State.REQUESTED, at(5))
    assert store.events(deployment_id="d1a2b3c4d5e6") == []


def test_create_twice_raises_and_keeps_the_first(store: Store) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6", version="v2"), events=[entered(State.VALIDATING, at(1))])

    with pytest.raises(StoreError, match="already exists"):
        store.create(deployment=deployment("d1a2b3c4d5e6", version="v9"), events=[entered(State.FAILED, at(2))])

    got = store.get(deployment_id="d1a2b3c4d5e6")
    assert (got.deployment.version, got.state) == ("v2", State.VALIDATING)
    assert len(store.events(deployment_id="d1a2b3c4d5e6")) == 1


def test_get_by_unique_prefix(store: Store) -> None:
    store.create(deployment=deployment("abc123def456"), events=[])
    store.create(deployment=deployment("abd999000111"), events=[])

    assert store.get(deployment_id="abc123").deployment.id == "abc123def456"
    assert store.get(deployment_id="abc123def4").deployment.id == "abc123def456"


def test_get_exact_id_wins_over_longer_ids_it_prefixes(store: Store) -> None:
    store.create(deployment=deployment("abc123"), events=[])
    store.create(deployment=deployment("abc1234"), events=[])

    assert store.get(deployment_id="abc123").deployment.id == "abc123"


def test_get_ambiguous_prefix_lists_candidates(store: Store) -> None:
    store.create(deployment=deployment("abc123aaaaaa"), events=[])
    store.create(deployment=deployment("abc123bbbbbb"), events=[])

    with pytest.raises(NotFoundError) as caught:
        store.get(deployment_id="abc123")

    assert "abc123aaaaaa" in caught.value.message and "abc123bbbbbb" in caught.value.message
    assert caught.value.hint and "more characters" in caught.value.hint


@pytest.mark.parametrize(
    "asked",
    [
        "zzz999000111",  # unknown
        "abc12",  # a prefix, but too short to be trusted
        "ABC123",  # ids are case-sensitive (SQLite's LIKE is not)
        "abc1_3",  # no wildcards
        "abc%",
    ],
)
def test_get_unknown_raises_not_found_with_hint(store: Store, asked: str) -> None:
    store.create(deployment=deployment("abc123def456"), events=[])

    with pytest.raises(NotFoundError) as caught:
        store.get(deployment_id=asked)

    assert caught.value.hint and "arxdeploy history" in caught.value.hint


# --- events ----------------------------------------------------------------------------------


def test_append_keeps_order_and_caches_the_folded_state(store: Store) -> None:
    first = [entered(State.VALIDATING, at(1))]
    second = [
        step_ended("validate", "ok", at(1), at(2)),
        entered(State.BACKING_UP, at(2)),
        entered(State.DEPLOYING, at(3)),  # the last state of a batch wins
        note("pulling image", at(4)),
    ]
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=first)
    store.append(deployment_id="d1a2b3c4d5e6", events=second)

    logged = store.events(deployment_id="d1a2b3c4d5e6")
    summary = store.get(deployment_id="d1a2b3c4d5e6")

    assert logged == first + second
    assert summary.state is fold(logged).state is State.DEPLOYING
    assert summary.updated_at == at(4)


def test_append_without_state_event_keeps_state_and_moves_updated_at(store: Store) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[entered(State.MONITORING, at(1))])
    store.append(deployment_id="d1a2b3c4d5e6", events=[note("still fine", at(9))])
    store.append(deployment_id="d1a2b3c4d5e6", events=[])

    summary = store.get(deployment_id="d1a2b3c4d5e6")
    assert (summary.state, summary.updated_at) == (State.MONITORING, at(9))
    assert len(store.events(deployment_id="d1a2b3c4d5e6")) == 2


def test_unknown_deployment_events_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.append(deployment_id="nope00000000", events=[note("x", at(1))])
    with pytest.raises(NotFoundError):
        store.append(deployment_id="nope00000000", events=[])
    with pytest.raises(NotFoundError):
        store.events(deployment_id="nope00000000")


def test_events_round_trip_with_aware_times_and_payloads(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    original = [
        Event("state", datetime(2025, 3, 1, 14, 0, 0, 123456, tzinfo=plus_two), {"state": "validating"}),
        step_ended("verify", "failed", at(1), at(2), check="GET /health", answer="503 Service Unavailable\nbody ü"),
        Event("custom", at(3), {"nested": {"list": [1, 2.5, None, True], "text": "é"}, "count": 3}),
        switched(None, None, at(4)),
    ]
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=original)

    loaded = store.events(deployment_id="d1a2b3c4d5e6")

    assert loaded == original
    assert [e.to_json() for e in loaded] == [e.to_json() for e in original]
    assert all(e.at.tzinfo is not None for e in loaded)


def test_naive_times_are_refused(store: Store) -> None:
    naive = datetime(2025, 3, 1, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.create(deployment=replace(deployment("d1a2b3c4d5e6"), created_at=naive), events=[])
    with pytest.raises(ValueError, match="timezone-aware"):
        store.create(deployment=deployment("d1a2b3c4d5e6"), events=[note("x", naive)])
    with pytest.raises(ValueError, match="timezone-aware"):
        store.acquire_lock(
            service="shop", environment="production", holder=replace(holder("d1", acquired=0), acquired_at=naive)
        )
    with pytest.raises(NotFoundError):
        store.get(deployment_id="d1a2b3c4d5e6")  # nothing was half-written


# --- listing ---------------------------------------------------------------------------------


def _seed_listing(store: Store) -> None:
    for id, env, created, final in [
        ("aaaa00000001", "production", 1, State.SUCCEEDED),
        ("aaaa00000002", "staging", 2, State.FAILED),
        ("aaaa00000003", "production", 3, State.MONITORING),
        ("aaaa00000004", "production", 4, State.ROLLED_BACK),
        ("aaaa00000005", "staging", 5, State.AWAITING_APPROVAL),
        ("aaaa00000006", "production", 6, State.DEPLOYING),
    ]:
        store.create(
            deployment=deployment(id, environment=env, created=created), events=[entered(final, at(created + 0.5))]
        )
    store.create(deployment=deployment("bbbb00000001", service="other", created=7), events=[])


def test_history_is_newest_first_with_filter_and_limit(store: Store) -> None:
    _seed_listing(store)

    every = store.history(service="shop")
    production = store.history(service="shop", environment="production")
    last_two = store.history(service="shop", limit=2)

    assert [s.deployment.id[-1] for s in every] == list("654321")
    assert [s.deployment.id[-1] for s in production] == list("6431")
    assert [s.deployment.id[-1] for s in last_two] == list("65")
    assert [s.state for s in production] == [State.DEPLOYING, State.ROLLED_BACK, State.MONITORING, State.SUCCEEDED]
    assert store.history(service="nobody") == []


def test_unfinished_is_oldest_first_and_skips_terminal(store: Store) -> None:
    _seed_listing(store)

    unfinished = store.unfinished(service="shop", environment="production")

    assert [s.deployment.id for s in unfinished] == ["aaaa00000003", "aaaa00000006"]
    assert [s.deployment.id for s in store.unfinished(service="shop", environment="staging")] == ["aaaa00000005"]
    assert store.unfinished(service="other", environment="staging") == []


# --- live ------------------------------------------------------------------------------------


def test_live_is_none_before_traffic_ever_moved(store: Store) -> None:
    store.create(deployment=deployment("d1a2b3c4d5e6"), events=[entered(State.DEPLOYING, at(1))])

    assert store.live(service="shop", environment="production") is None


def test_live_follows_the_last_switch_across_deployments_and_rollbacks(store: Store) -> None:
    # v2 goes live on green.
    store.create(
        deployment=deployment("dep000000001", version="v2", created=0), events=[switched(Color.GREEN, "v2", at(10))]
    )
    # v3 goes live on blue, then is rolled back to green within the same deployment.
    store.create(deployment=deployment("dep000000002", version="v3", new_color=Color.BLUE, created=20), events=[])
    store.append(deployment_id="dep000000002", events=[switched(Color.BLUE, "v3", at(30))])
    assert store.live(service="shop", environment="production") == LiveRelease(Color.BLUE, "v3", "dep000000002", at(30))
    store.append(
        deployment_id="dep000000002", events=[entered(State.ROLLING_BACK, at(40)), switched(Color.GREEN, "v2", at(41))]
    )
    # Elsewhere, traffic moved later: it must not leak into production.
    store.create(
        deployment=deployment("dep000000003", environment="staging", created=50),
        events=[switched(Color.BLUE, "v9", at(60))],
    )
    store.create(
        deployment=deployment("dep000000004", service="other", created=50), events=[switched(Color.BLUE, "v9", at(60))]
    )

    live = store.live(service="shop", environment="production")

    assert live == LiveRelease(color=Color.GREEN, version="v2", deployment_id="dep000000002", at=at(41))
    assert live is not None and live.at.tzinfo is not None
    assert store.live(service="shop", environment="staging") == LiveRelease(Color.BLUE, "v9", "dep000000003", at(60))


def test_live_after_a_manual_rollback_deployment_and_a_switch_to_nothing(store: Store) -> None:
    store.create(deployment=deployment("dep000000001", created=0), events=[switched(Color.GREEN, "v2", at(10))])
    rollback = deployment("dep000000002", version="v1", new_color=Color.BLUE, created=20, kind=Kind.ROLLBACK)
    store.create(deployment=rollback, events=[switched(Color.BLUE, "v1", at(30))])
    assert store.live(service="shop", environment="production") == LiveRelease(Color.BLUE, "v1", "dep000000002", at(30))

    store.create(deployment=deployment("dep000000003", created=40), events=[switched(None, None, at(50))])

    assert store.live(service="shop", environment="production") == LiveRelease(None, None, "dep000000003", at(50))


def test_live_breaks_time_ties_by_creation_then_sequence(store: Store) -> None:
    store.create(deployment=deployment("dep000000002", created=5), events=[switched(Color.BLUE, "v3", at(10))])
    store.create(deployment=deployment("dep000000001", created=0), events=[switched(Color.GREEN, "v2", at(10))])
    assert store.live(service="shop", environment="production") == LiveRelease(Color.BLUE, "v3", "dep000000002", at(10))

    store.append(
        deployment_id="dep000000002", events=[switched(Color.GREEN, "v2", at(10)), switched(None, None, at(10))]
    )

    assert store.live(service="shop", environment="production") == LiveRelease(None, None, "dep000000002", at(10))


# --- locks -----------------------------------------------------------------------------------

SVC = {"service": "shop", "environment": "production"}


def test_acquire_free_lock_and_contend(store: Store) -> None:
    ours = holder("dep-a", acquired=0, ttl=60)

    assert store.acquire_lock(**SVC, holder=ours) == ours
    theirs = holder("dep-b", acquired=30, pid=777)
    in_force = store.acquire_lock(**SVC, holder=theirs)

    assert in_force == ours
    assert in_force.acquired_at.tzinfo is not None
    # Our own second attempt while the lease lives does not replace it either.
    assert store.acquire_lock(**SVC, holder=holder("dep-a", acquired=59)) == ours
    # Other environments have their own lease.
    assert store.acquire_lock(service="shop", environment="staging", holder=theirs) == theirs


def test_expired_lease_is_taken_over_at_exactly_its_expiry(store: Store) -> None:
    store.acquire_lock(**SVC, holder=holder("dep-a", acquired=0, ttl=60))

    just_before = holder("dep-b", acquired=59.999999)
    at_expiry = holder("dep-b", acquired=60)

    assert store.acquire_lock(**SVC, holder=just_before).deployment_id == "dep-a"
    assert store.acquire_lock(**SVC, holder=at_expiry) == at_expiry
    assert store.renew_lock(**SVC, holder=holder("dep-a", acquired=0, ttl=60), expires_at=at(500)) is False


def test_renew_extends_only_our_lease(store: Store) -> None:
    ours = holder("dep-a", acquired=0, ttl=60)
    store.acquire_lock(**SVC, holder=ours)

    assert store.renew_lock(**SVC, holder=ours, expires_at=at(120)) is True
    assert store.renew_lock(**SVC, holder=holder("dep-b", acquired=0), expires_at=at(999)) is False
    assert store.renew_lock(service="shop", environment="staging", holder=ours, expires_at=at(999)) is False
    # A recovery holds the same deployment id from another process: not ours to renew.
    assert store.renew_lock(**SVC, holder=replace(ours, pid=7), expires_at=at(999)) is False
    assert store.renew_lock(**SVC, holder=replace(ours, host="ci-2"), expires_at=at(999)) is False
    assert store.renew_lock(**SVC, holder=replace(ours, acquired_at=at(1)), expires_at=at(999)) is False

    assert store.acquire_lock(**SVC, holder=holder("dep-b", acquired=90)).expires_at == at(120)
    assert store.acquire_lock(**SVC, holder=holder("dep-b", acquired=120)).deployment_id == "dep-b"


def test_release_frees_only_our_lease(store: Store) -> None:
    ours = holder("dep-a", acquired=0)
    store.acquire_lock(**SVC, holder=ours)

    store.release_lock(**SVC, holder=holder("dep-b", acquired=0))
    store.release_lock(**SVC, holder=replace(ours, pid=7))  # the same deployment, another process
    assert store.acquire_lock(**SVC, holder=holder("dep-b", acquired=1)).deployment_id == "dep-a"

    store.release_lock(**SVC, holder=ours)
    store.release_lock(**SVC, holder=ours)  # idempotent
    assert store.acquire_lock(**SVC, holder=holder("dep-b", acquired=2)).deployment_id == "dep-b"


def test_lock_holder_reads_who_holds_the_lease(store: Store) -> None:
    assert store.lock_holder(**SVC) is None
    ours = holder("dep-a", acquired=0)
    store.acquire_lock(**SVC, holder=ours)

    assert store.lock_holder(**SVC) == ours
    assert store.lock_holder(service="shop", environment="staging") is None
    store.release_lock(**SVC, holder=ours)
    assert store.lock_holder(**SVC) is None


def test_break_removes_exactly_the_given_holder(store: Store) -> None:
    abandoned = holder("dep-a", acquired=0, pid=100)
    store.acquire_lock(**SVC, holder=abandoned)

    assert store.break_lock(**SVC, holder=replace(abandoned, pid=101)) is False
    assert store.break_lock(**SVC, holder=replace(abandoned, acquired_at=at(1))) is False
    assert store.break_lock(**SVC, holder=replace(abandoned, deployment_id="dep-x")) is False
    assert store.break_lock(**SVC, holder=replace(abandoned, host="ci-2")) is False
    assert store.break_lock(**SVC, holder=abandoned) is True
    assert store.break_lock(**SVC, holder=abandoned) is False

    fresh = holder("dep-b", acquired=5)
    assert store.acquire_lock(**SVC, holder=fresh) == fresh


def test_break_after_the_lease_changed_hands_does_nothing(store: Store) -> None:
    first = holder("dep-a", acquired=0, ttl=10)
    store.acquire_lock(**SVC, holder=first)
    second = holder("dep-a", acquired=10, ttl=10)  # same deployment, re-acquired after expiry
    assert store.acquire_lock(**SVC, holder=second) == second

    assert store.break_lock(**SVC, holder=first) is False
    assert store.acquire_lock(**SVC, holder=holder("dep-b", acquired=11)) == second


def test_lock_times_in_other_offsets_compare_as_instants(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    utc = holder("dep-a", acquired=0, ttl=60)
    local = replace(
        utc, acquired_at=utc.acquired_at.astimezone(plus_two), expires_at=utc.expires_at.astimezone(plus_two)
    )
    store.acquire_lock(**SVC, holder=local)

    in_force = store.acquire_lock(**SVC, holder=holder("dep-b", acquired=59))

    assert in_force == utc and in_force.expires_at.tzinfo is not None
    assert store.break_lock(**SVC, holder=utc) is True


# --- tokens ---------------------------------------------------------------------------------


def test_tokens_are_kept_listed_and_revoked_once(store: Store) -> None:
    first = TokenRecord("a1b2c3", "ana@example.com", "0" * 64, at(1), "ops@ci-1")
    second = TokenRecord("d4e5f6", "bo@example.com", "1" * 64, at(2), "ops@ci-1", github="bo-gh")
    store.add_token(token=second)
    store.add_token(token=first)
    with pytest.raises(StoreError, match="already exists"):
        store.add_token(token=first)
    assert store.tokens() == [first, second]

    assert store.revoke_token(token_id="a1b2c3", at=at(3)) is True
    assert store.revoke_token(token_id="a1b2c3", at=at(4)) is False  # already revoked
    assert store.revoke_token(token_id="nope", at=at(4)) is False
    assert store.tokens() == [replace(first, revoked_at=at(3)), second]


def test_a_tokens_role_and_expiry_are_kept(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    admin = TokenRecord("a1b2c3", "ana@example.com", "0" * 64, at(1), "ops", role=Role.ADMIN)
    viewer = TokenRecord(
        "d4e5f6", "bo@example.com", "1" * 64, at(2), "ana@example.com", role=Role.VIEWER, expires_at=at(90)
    )
    local = replace(viewer, id="a7b8c9", created_at=at(3), expires_at=at(90).astimezone(plus_two))
    for token in (admin, viewer, local):
        store.add_token(token=token)

    kept = store.tokens()

    assert kept == [admin, viewer, replace(local, expires_at=at(90))]
    assert [t.role for t in kept] == [Role.ADMIN, Role.VIEWER, Role.VIEWER]
    assert all(type(t.role) is Role for t in kept)
    assert [t.expires_at.utcoffset() if t.expires_at else None for t in kept] == [None, timedelta(0), timedelta(0)]
    assert TokenRecord("x", "cy@example.com", "2" * 64, at(3), "ops").role is Role.APPROVER  # the default


def admin_token(token_id: str, created: float, **fields: object) -> TokenRecord:
    return replace(TokenRecord(token_id, "ana@example.com", "0" * 64, at(created), "ops", role=Role.ADMIN), **fields)


def test_the_first_admin_is_recorded_only_while_no_admin_token_is_active(store: Store) -> None:
    approver = replace(admin_token("a00000000001", 1), role=Role.APPROVER)
    store.add_token(token=approver)
    first = admin_token("a00000000002", 2, expires_at=at(100))
    assert store.add_first_admin(token=first) is True  # approvers do not count

    assert store.add_first_admin(token=admin_token("a00000000003", 3)) is False
    assert store.add_first_admin(token=admin_token("a00000000004", 100)) is True  # the first one expired at 100
    store.revoke_token(token_id="a00000000004", at=at(101))
    assert store.add_first_admin(token=admin_token("a00000000005", 102)) is True  # the second one was revoked

    assert [t.id for t in store.tokens()] == ["a00000000001", "a00000000002", "a00000000004", "a00000000005"]


def test_of_first_admins_at_the_same_moment_one_is_recorded(store: Store) -> None:
    contenders = 6
    barrier = threading.Barrier(contenders)
    won: list[bool] = []

    def bootstrap(n: int) -> None:
        store.tokens()  # a connection of its own, opened before the race
        barrier.wait(timeout=10)
        won.append(store.add_first_admin(token=admin_token(f"b{n:011d}", 1)))

    threads = [threading.Thread(target=bootstrap, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(won) == [False] * (contenders - 1) + [True]
    assert len(store.tokens()) == 1
