"""The command line against a live server and its store: an id stays one path segment, tokens are
made by admins through the server, and an identity declared in CI approves nothing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from arxdeploy.cli import remote
from arxdeploy.cli.main import cli
from arxdeploy.domain.roles import Role
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


def test_tokens_are_managed_through_the_server_with_an_admin_token(world: World) -> None:
    server = ("--server", world.url)
    made = run(world, "token", "bootstrap", "--for", "root@example.com", "--json")
    assert made.exit_code == 0, made.output
    admin = json.loads(made.stdout)["token"]

    created = run(
        world, "token", "create", "--for", "dan@example.com", "--expires-in", "90d", *server, ARXDEPLOY_TOKEN=admin
    )

    assert created.exit_code == 0, created.output
    header, token = created.stdout.splitlines()
    assert header.startswith("approver token ") and "for dan@example.com, until " in header
    record = world.app.tokens.identify(token)
    assert record.email == "dan@example.com" and record.created_by == "root@example.com"
    assert admin not in created.output

    listed = run(world, "token", "list", "--json", *server, ARXDEPLOY_TOKEN=admin)
    assert listed.exit_code == 0, listed.output
    assert sorted(t["email"] for t in json.loads(listed.stdout)) == ["dan@example.com", "root@example.com"]
    assert token.removeprefix(f"arx_{record.id}_") not in listed.stdout
    revoked = run(world, "token", "revoke", record.id, *server, ARXDEPLOY_TOKEN=admin)
    assert revoked.exit_code == 0 and f"token {record.id} of dan@example.com revoked" in revoked.stdout
    assert {t.id: t for t in world.app.tokens.list()}[record.id].revoked_at is not None


def test_creating_a_token_without_an_admin_token_is_refused(world: World) -> None:
    server = ("--server", world.url)
    approver = world.token("bo@example.com")
    before = world.app.tokens.list()

    without = run(world, "token", "create", "--for", "eve@example.com", "--role", "admin", *server)
    assert without.exit_code == 2 and "ARXDEPLOY_TOKEN" in without.stderr and "bootstrap" in without.stderr
    forged = run(world, "token", "create", "--for", "eve@example.com", *server, ARXDEPLOY_TOKEN="arx_0000_nope")
    assert forged.exit_code == 3 and "the token is not valid" in forged.stderr
    not_admin = run(world, "token", "create", "--for", "eve@example.com", *server, ARXDEPLOY_TOKEN=approver)
    assert not_admin.exit_code == 3 and "this needs the admin role" in not_admin.stderr
    listing = run(world, "token", "list", *server, ARXDEPLOY_TOKEN=approver)
    assert listing.exit_code == 3 and "this needs the admin role" in listing.stderr
    assert world.app.tokens.list() == before

    bootstrap = run(world, "token", "bootstrap", "--for", "root@example.com")
    assert bootstrap.exit_code == 0, bootstrap.output
    again = run(world, "token", "bootstrap", "--for", "eve@example.com", ARXDEPLOY_TOKEN=approver)
    assert again.exit_code == 2 and "an admin token exists already" in again.stderr
    assert [t.email for t in world.app.tokens.list() if t.role is Role.ADMIN] == ["root@example.com"]


@pytest.mark.parametrize("ci", [{"CI": "true"}, {"GITHUB_ACTIONS": "true"}, {"CI": "1", "GITHUB_ACTIONS": "true"}])
def test_in_ci_a_declared_identity_approves_nothing(world: World, ci: dict[str, str]) -> None:
    d = world.request_production()

    done = run(world, "approve", d.id, ARXDEPLOY_EMAIL="bo@example.com", **ci)

    assert done.exit_code == 3, done.output
    assert "only declared (ARXDEPLOY_EMAIL or git's user.email) in a CI job" in done.stderr
    assert "hint: set server.url" in done.stderr and "ARXDEPLOY_TOKEN" in done.stderr
    _, gate = world.app.approvals.gate(deployment_id=d.id)
    assert gate.approvals == () and [r.who for r in gate.refusals] == ["bo@example.com"]
    assert gate.refusals[0].why.startswith("bo@example.com is only declared")


def test_on_a_persons_terminal_a_declared_identity_still_approves_with_a_warning(world: World) -> None:
    d = world.request_production()

    done = run(world, "approve", d.id, ARXDEPLOY_EMAIL="bo@example.com")

    assert done.exit_code == 0, done.output
    assert "trusts whoever runs this command" in done.stderr
    _, gate = world.app.approvals.gate(deployment_id=d.id)
    assert [(a.who, a.via) for a in gate.approvals] == [("bo@example.com", "cli")]
