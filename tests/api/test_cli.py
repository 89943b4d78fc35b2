"""The command line against a live server and its store: an id stays one path segment."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from arxdeploy.cli import remote
from arxdeploy.cli.main import cli
from arxdeploy.errors import NotFoundError
from tests.api.conftest import SECRET, World


def run(world: World, *args: str, **env: str | None) -> Result:
    """``arxdeploy -c <the world's config> ARGS`` in this process, with only the variables given."""
    clean: dict[str, str | None] = {"ARXDEPLOY_CONFIG": None, "ARXDEPLOY_TOKEN": None, "CI": None}
    clean |= {"GITHUB_ACTIONS": None, "DEMO_TOKEN": SECRET, "ARXDEPLOY_EMAIL": "bo@example.com"}
    return CliRunner().invoke(cli, ["-c", str(world.app.loaded.path), *args], env=clean | env)


def recorded(world: World, deployment_id: str) -> list[str]:
    return [e.type for e in world.app.store.events(deployment_id=deployment_id)]


@pytest.mark.parametrize(
    "smuggled", ["{id}/approve#", "{id}/approve?", "{id}/../{id}/approve#", "{id}\n", "{id}%2Fapprove#", "{id}#"]
)
@pytest.mark.parametrize("through", ["server", "store"])
def test_an_id_that_is_not_one_is_refused_before_anything_is_recorded(
    world: World, smuggled: str, through: str
) -> None:
    d = world.request_production()
    before = recorded(world, d.id)
    server = ["--server", world.url] if through == "server" else []

    token = world.token("cy@example.com")

    done = run(world, "reject", smuggled.format(id=d.id), "--reason", "x", *server, ARXDEPLOY_TOKEN=token)

    assert done.exit_code == 2, done.output
    assert "is not a deployment id" in done.stderr and "arxdeploy approvals" in done.stderr
    assert recorded(world, d.id) == before
    _, gate = world.app.approvals.gate(deployment_id=d.id)
    assert gate.approvals == () and gate.rejection is None and gate.refusals == ()


def test_each_path_segment_is_quoted_whole(world: World) -> None:
    # Even past the CLI's check, a "/", "?" or "#" in an id cannot reach another endpoint.
    d = world.request_production()
    before = recorded(world, d.id)
    environ = {"ARXDEPLOY_TOKEN": world.token("cy@example.com")}
    for smuggled in (f"{d.id}/approve#", f"{d.id}/approve?", f"{d.id}?"):
        with pytest.raises(NotFoundError):
            remote.call(world.url, "POST", ("approvals", smuggled, "approve"), environ, doing="approving", body={})
    assert recorded(world, d.id) == before
