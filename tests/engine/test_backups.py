"""The engine and the backups port: the backup step comes before any change, a restore uses the
backup it names and no other, a damaged backup is never used."""

from __future__ import annotations

import pytest

from arxdeploy.domain.states import Color, State
from arxdeploy.errors import UsageError
from tests.drive import deploy, restore, rollback

from .conftest import PLAN, World

CHANGES = ("start_color", "switch", "stop_color")


def live(world: World) -> tuple[Color | None, str | None]:
    state = world.target.inspect(environment="staging")
    return state.live_color, state.live_version


def test_a_backup_that_cannot_be_stored_fails_the_deployment_before_anything_changes(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    before = (dict(world.target.colors["staging"]), live(world))
    mark = len(world.target.calls)
    world.backups.fail_on["save"] = 1  # the storage is down
    d, view = deploy(engine, plan=PLAN, version="v2")
    assert view.state is State.FAILED
    assert view.failure is not None and view.failure.step == "backup"
    assert "injected failure in save" in view.failure.reason
    assert [s.step for s in view.steps] == ["validate", "backup", "cleanup"]
    assert not [c for c in world.target.calls[mark:] if c.startswith(("start_color", "switch"))]
    assert (dict(world.target.colors["staging"]), live(world)) == before
    assert d.id not in world.backups.saved


def test_each_backup_keeps_what_the_target_exported_and_what_was_live(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    d, view = deploy(engine, plan=PLAN, version="v2")
    info, export = world.backups.saved[d.id]
    assert (info.live_version, info.live_color, info.versions) == ("v1", Color.BLUE, ("v1",))
    assert export.files and "backup" in [s.step for s in view.steps]
    assert view.steps[1].detail.startswith("saved 1 file (") and f"memory://staging/{d.id}" in view.steps[1].detail


def two_backups_that_ran_v1(world: World) -> tuple[str, str]:
    """Deploy v1, v2, roll back to v1, deploy v2 again: two backups (older, newer) ran v1."""
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    older, _ = deploy(engine, plan=PLAN, version="v2")
    rollback(engine, plan=PLAN)
    newer, _ = deploy(engine, plan=PLAN, version="v2")
    assert "v1" in world.backups.saved[older.id][0].versions and "v1" in world.backups.saved[newer.id][0].versions
    return older.id, newer.id


def test_a_restore_uses_exactly_the_backup_it_names(world: World) -> None:
    older, _newer = two_backups_that_ran_v1(world)
    world.backups.calls.clear()
    d, view = restore(world.engine(), plan=PLAN, backup=older, version="v1")
    assert view.state is State.SUCCEEDED, view.failure
    assert d.from_backup == older
    assert [c for c in world.backups.calls if c.startswith("target_part")] == [f"target_part {older}"]
    assert live(world)[1] == "v1"
    assert any(s.step == "deploy" and s.detail.endswith(f"from backup {older}") for s in view.steps)
    assert world.store.get(deployment_id=d.id).deployment.from_backup == older


def test_a_damaged_backup_is_never_restored(world: World) -> None:
    older, _ = two_backups_that_ran_v1(world)
    world.backups.damage(older)
    before = live(world)
    mark = len(world.target.calls)
    _, view = restore(world.engine(), plan=PLAN, backup=older, version="v1")
    assert view.state is State.FAILED
    assert view.failure is not None and view.failure.step == "deploy" and "damaged" in view.failure.reason
    assert not [c for c in world.target.calls[mark:] if c.startswith(("start_color", "switch"))]
    assert live(world) == before


def test_a_rollback_from_backups_passes_over_a_damaged_one_to_an_older_that_ran_the_version(world: World) -> None:
    older, newer = two_backups_that_ran_v1(world)
    world.backups.damage(newer)
    world.backups.calls.clear()
    mark = len(world.target.calls)
    _, view = rollback(world.engine(), plan=PLAN, to_version="v1")
    assert view.state is State.SUCCEEDED, view.failure
    opened = [c for c in world.backups.calls if c.startswith("target_part")]
    assert opened[:2] == [f"target_part {newer}", f"target_part {older}"]
    assert [c for c in world.target.calls[mark:] if c.startswith("start_color")] == [
        "start_color staging blue v1 from-backup"
    ]


def test_a_restore_names_its_backup(world: World) -> None:
    from arxdeploy.domain.request import Request
    from arxdeploy.domain.states import Kind

    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    with pytest.raises(UsageError, match="needs the backup"):
        engine.submit(plan=PLAN, request=Request("staging", Kind.RESTORE, version="v1"))
