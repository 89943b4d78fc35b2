"""The engine and the database: a restore puts the data back only when asked, a rollback only
where the environment asks, always between the checks and the switch (or, for an automatic
rollback, before the old version is judged), and every restore and rollback says which."""

from __future__ import annotations

import dataclasses

import pytest

from arxdeploy.domain.events import Deployment, Event, as_recorded, fold
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.domain.request import Request
from arxdeploy.domain.states import Color, Kind, State
from arxdeploy.errors import UsageError
from tests.drive import deploy, restore, rollback

from .conftest import PLAN, Killed, World

WITH_DATABASE = dataclasses.replace(PLAN, database=True)
RESTORED_ON_ROLLBACK = dataclasses.replace(PLAN, database=True, restore_database_on_rollback=True)


@pytest.fixture
def dumping(world: World) -> World:
    """Backups hold a database dump, as with backup.database."""
    world.backups.database = True
    return world


def states(world: World, deployment_id: str) -> list[str]:
    return [e.data["state"] for e in world.store.events(deployment_id=deployment_id) if e.type == "state"]


def v1_then_v2(world: World, plan: EnvironmentPlan) -> str:
    """Deploy v1, then v2; the id of v2's backup, whose dump was taken while v1 was live."""
    engine = world.engine()
    deploy(engine, plan=plan, version="v1")
    d, _ = deploy(engine, plan=plan, version="v2")
    assert world.backups.saved[d.id][0].live_version == "v1"
    return d.id


def test_a_restore_with_the_database_puts_it_back_after_the_checks_and_before_the_switch(dumping: World) -> None:
    backup = v1_then_v2(dumping, WITH_DATABASE)
    d, view = restore(dumping.engine(), plan=WITH_DATABASE, backup=backup, version="v1", with_database=True)
    assert view.state is State.SUCCEEDED, view.failure
    assert dumping.backups.restored == [(backup, d.id)]
    assert states(dumping, d.id)[4:7] == ["verifying", "restoring_database", "switching"]
    assert view.database_restored_from == backup and view.restores_database
    (step,) = [s for s in view.steps if s.step == "restore_database"]
    assert step.detail == f"database restored from backup {backup}"
    assert "the database goes back too" in view.steps[0].detail


def test_a_restore_without_the_flag_leaves_the_database_and_says_so(dumping: World) -> None:
    backup = v1_then_v2(dumping, WITH_DATABASE)
    d, view = restore(dumping.engine(), plan=WITH_DATABASE, backup=backup, version="v1")
    assert view.state is State.SUCCEEDED, view.failure
    assert dumping.backups.restored == [] and "restoring_database" not in states(dumping, d.id)
    assert view.steps[0].detail.endswith("; the database is left as it is (no --with-database)")
    assert view.database_restored_from is None and not view.restores_database


def test_a_failed_database_restore_fails_the_restore_with_the_live_version_untouched(dumping: World) -> None:
    backup = v1_then_v2(dumping, WITH_DATABASE)
    dumping.backups.fail_on["restore_database"] = 1
    mark = len(dumping.target.calls)
    d, view = restore(dumping.engine(), plan=WITH_DATABASE, backup=backup, version="v1", with_database=True)
    assert view.state is State.FAILED
    assert view.failure is not None and view.failure.step == "restore_database"
    assert [s.step for s in view.steps][-2:] == ["restore_database", "cleanup"]
    assert not [c for c in dumping.target.calls[mark:] if c.startswith("switch")]
    state = dumping.target.inspect(environment="staging")
    assert (state.live_color, state.live_version) == (Color.GREEN, "v2")
    assert not [e for e in dumping.store.events(deployment_id=d.id) if e.type == "switched"]


def test_only_a_restore_may_ask_for_the_database_and_only_with_backup_database(dumping: World) -> None:
    backup = v1_then_v2(dumping, WITH_DATABASE)
    engine = dumping.engine()
    count = len(dumping.store.history(service=PLAN.service, limit=50))
    with pytest.raises(UsageError, match="never restores the database"):
        engine.submit(plan=WITH_DATABASE, request=Request("staging", Kind.ROLLBACK, with_database=True))
    with pytest.raises(UsageError, match=r"backup\.database is not in the config"):
        restore(engine, plan=PLAN, backup=backup, version="v1", with_database=True)
    assert len(dumping.store.history(service=PLAN.service, limit=50)) == count  # nothing recorded


def test_a_rollback_leaves_the_database_unless_the_environment_asks(dumping: World) -> None:
    v1_then_v2(dumping, WITH_DATABASE)
    d, view = rollback(dumping.engine(), plan=WITH_DATABASE)
    assert view.state is State.SUCCEEDED and d.version == "v1"
    assert dumping.backups.restored == [] and "restoring_database" not in states(dumping, d.id)
    assert view.steps[0].detail.endswith(
        "; the database is left as it is (environments.staging.restore_database_on_rollback is off)"
    )


def test_a_rollback_where_the_environment_asks_restores_the_newest_dump_taken_while_its_version_was_live(
    dumping: World,
) -> None:
    engine = dumping.engine()
    deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v1")
    older, _ = deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v2-unhealthy")  # cleaned up: v1 stays live
    newer, _ = deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v2")
    assert [dumping.backups.saved[i][0].live_version for i in (older.id, newer.id)] == ["v1", "v1"]
    d, view = rollback(engine, plan=RESTORED_ON_ROLLBACK)
    assert view.state is State.SUCCEEDED, view.failure
    assert dumping.backups.restored == [(newer.id, d.id)]
    assert states(dumping, d.id)[4:7] == ["verifying", "restoring_database", "switching"]


def test_an_automatic_rollback_restores_the_database_from_its_own_backup_only_where_asked(dumping: World) -> None:
    engine = dumping.engine()
    deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v1")
    d, view = deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v2-fails-after-10s")
    assert view.state is State.ROLLED_BACK
    assert dumping.backups.restored == [(d.id, d.id)]  # the dump taken just before v2 changed anything
    assert view.database_restored_from == d.id
    rolled = view.steps[-1]
    assert rolled.step == "rollback" and rolled.detail.endswith(f"; database restored from backup {d.id}")

    _, view = deploy(engine, plan=WITH_DATABASE, version="v3-fails-after-10s")  # the environment does not ask
    assert view.state is State.ROLLED_BACK
    assert dumping.backups.restored == [(d.id, d.id)] and view.database_restored_from is None
    assert view.steps[-1].detail.endswith(
        "; the database is left as it is (environments.staging.restore_database_on_rollback is off)"
    )


def test_a_database_that_cannot_be_restored_does_not_hold_the_rollback_back(dumping: World) -> None:
    engine = dumping.engine()
    deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v1")
    dumping.backups.fail_on["restore_database"] = 1  # say, the runner lacks the backups' key
    d, view = deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v2-fails-after-10s")
    assert view.state is State.ROLLED_BACK
    assert dumping.target.inspect(environment="staging").live_version == "v1"
    (warning,) = view.warnings
    assert warning.startswith("the database was NOT restored: injected failure in restore_database")
    assert f"`arxdeploy backup restore {d.id} --with-database`" in warning
    assert view.steps[-1].detail.endswith(warning) and view.database_restored_from is None


def test_a_rollback_run_again_after_a_crash_does_not_restore_the_database_twice(dumping: World) -> None:
    engine = dumping.engine(pid=100)
    deploy(engine, plan=RESTORED_ON_ROLLBACK, version="v1")

    def die_once_restored(d: Deployment, event: Event) -> None:
        if event.type == "database_restored" and 100 in dumping.alive:
            dumping.alive.discard(100)
            raise Killed("after the database was restored")

    dumping.hooks.append(die_once_restored)
    with pytest.raises(Killed):
        deploy(dumping.engine(pid=100), plan=RESTORED_ON_ROLLBACK, version="v2-fails-after-10s")
    (d,) = [s.deployment for s in dumping.store.unfinished(service=PLAN.service, environment="staging")]
    assert dumping.backups.restored == [(d.id, d.id)]

    assert dumping.engine(pid=101).recover(plan=RESTORED_ON_ROLLBACK) == [d.id]
    view = dumping.store.get(deployment_id=d.id)
    assert view.state is State.ROLLED_BACK
    assert dumping.backups.restored == [(d.id, d.id)]  # once
    assert dumping.target.inspect(environment="staging").live_version == "v1"


def test_a_restore_read_back_from_the_record_keeps_its_database_route(dumping: World) -> None:
    """The record has no column for it: the first event carries it, and the engine reads it back
    (a deployment driven from the record, as a recovery does, follows the route it was given)."""
    backup = v1_then_v2(dumping, WITH_DATABASE)
    d, _ = restore(dumping.engine(), plan=WITH_DATABASE, backup=backup, version="v1", with_database=True)
    logged = dumping.store.events(deployment_id=d.id)
    assert logged[0].data == {"state": "requested", "restore_database": True}
    as_stored = dataclasses.replace(d, route=dataclasses.replace(d.route, restore_database=False))
    assert as_recorded(as_stored, fold(logged)).route.restore_database
    plain = v1_then_v2(dumping, WITH_DATABASE)
    assert dumping.store.events(deployment_id=plain)[0].data == {"state": "requested"}
