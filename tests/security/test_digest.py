"""Gate image_digest against Debian's docker-registry on loopback, authentication on (htpasswd, and
the token flow with a token server of the tests), images pushed by skopeo from OCI layouts."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from arxdeploy.config.loader import load
from arxdeploy.domain import security_events
from arxdeploy.domain.security import Status
from arxdeploy.domain.security_events import bind_image
from arxdeploy.domain.states import Color
from arxdeploy.security import registry
from arxdeploy.security.digest import (
    DigestSettings,
    bound_content,
    check_image_digest,
    credentials_from_pull_secret,
    images_of,
    load_credentials,
)
from arxdeploy.targets.kubernetes import manifests
from arxdeploy.targets.kubernetes.spec import pin, spec_from_config
from arxdeploy.testing.registry import RegistryServer, oci_registry
from tests.fixtures.kube import SEED_K8S

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "arxos" / "arx-infra" / "deploy" / "deployment_config.yaml"
# the example's backups are sealed for a repository variable's public key
RECIPIENT = {"ARXDEPLOY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}


@pytest.fixture(scope="session")
def basic() -> Iterator[RegistryServer]:
    with oci_registry() as server:
        yield server


@pytest.fixture(scope="session")
def token() -> Iterator[RegistryServer]:
    with oci_registry(token=True) as server:
        yield server


def settings(server: RegistryServer) -> DigestSettings:
    return DigestSettings(insecure_registries=(server.host,))


def pull_secret(server: RegistryServer, *, password: str | None = None) -> dict[str, Any]:
    """A Secret as the API server returns it (``kubectl create secret docker-registry``)."""
    encoded = base64.b64encode(json.dumps(server.docker_config(password=password)).encode()).decode()
    meta = {"name": "registry-login", "namespace": "arxos-staging"}
    return {
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": meta,
        "data": {".dockerconfigjson": encoded},
    }


def test_a_tag_resolves_with_a_docker_config_file_on_basic_auth(basic: RegistryServer, tmp_path: Path) -> None:
    pushed = basic.push("acme/basic", "1.0", content=b"first")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(basic.docker_config()))
    image = basic.image("acme/basic", "1.0")
    logins = load_credentials([image], docker_config=config)
    result = check_image_digest(images=[image], settings=settings(basic), credentials=logins)
    assert result.status is Status.PASSED, result
    assert result.facts["digest"] == pushed
    assert result.facts["pinned"] == {image: f"{basic.host}/acme/basic@{pushed}"}
    assert pushed in result.summary


def test_a_tag_resolves_with_a_pull_secret_through_the_token_flow(token: RegistryServer) -> None:
    pushed = token.push("acme/token", "2.0", content=b"tokened")
    image = token.image("acme/token", "2.0")
    logins = load_credentials([image], pull_secret=pull_secret(token))
    result = check_image_digest(images=[image], settings=settings(token), credentials=logins)
    assert result.status is Status.PASSED, result
    assert result.facts["digest"] == pushed


def test_a_tag_moved_between_two_checks_changes_the_digest_and_voids_the_approved_content(
    token: RegistryServer,
) -> None:
    image = token.image("acme/moving", "3.1")
    logins = load_credentials([image], pull_secret=pull_secret(token))
    first = token.push("acme/moving", "3.1", content=b"before")
    asked = check_image_digest(images=[image], settings=settings(token), credentials=logins)
    moved = token.push("acme/moving", "3.1", content=b"after")
    now = check_image_digest(images=[image], settings=settings(token), credentials=logins)
    assert (asked.facts["digest"], now.facts["digest"]) == (first, moved)
    assert first != moved
    config_digest = "ab" * 32
    # what the approvals were asked for is not what the tag is now: the gate voids them
    assert bind_image(config_digest, asked.facts["digest"]) != bind_image(config_digest, now.facts["digest"])
    assert bind_image(config_digest, None) == config_digest


@pytest.mark.parametrize("server_name", ["basic", "token"])
def test_a_wrong_password_fails_clearly_and_never_shows_it(server_name: str, request: pytest.FixtureRequest) -> None:
    server: RegistryServer = request.getfixturevalue(server_name)
    server.push("acme/locked", "1.0", content=b"locked")
    image = server.image("acme/locked", "1.0")
    wrong = "not-the-password-0451"
    logins = load_credentials([image], pull_secret=pull_secret(server, password=wrong))
    result = check_image_digest(images=[image], settings=settings(server), credentials=logins)
    assert result.status is Status.FAILED
    assert [f.rule for f in result.findings] == ["image.unauthorized"]
    assert "refused the credentials of 'ci'" in result.summary
    shown = json.dumps([result.summary, [f.message for f in result.findings], result.facts])
    assert wrong not in shown
    assert server.password not in shown


def test_no_credentials_for_the_registry_fails_saying_how_to_log_in(basic: RegistryServer, tmp_path: Path) -> None:
    basic.push("acme/basic", "1.0", content=b"first")
    image = basic.image("acme/basic", "1.0")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"other.example:5000": {"auth": base64.b64encode(b"a:b").decode()}}}))
    result = check_image_digest(
        images=[image], settings=settings(basic), credentials=load_credentials([image], docker_config=config)
    )
    assert result.status is Status.FAILED
    assert "none were found" in result.summary
    assert "docker login" in result.facts["hints"][0]


def test_a_missing_tag_fails_before_anything_is_rendered_with_it(basic: RegistryServer, tmp_path: Path) -> None:
    basic.push("acme/basic", "1.0", content=b"first")
    image = basic.image("acme/basic", "9.9-missing")
    result = check_image_digest(
        images=[image], settings=settings(basic), credentials={basic.host: registry.Credentials("ci", basic.password)}
    )
    assert result.status is Status.FAILED
    assert result.blocks
    assert [f.rule for f in result.findings] == ["image.not_found"]
    assert result.summary == f"{basic.host}/acme/basic:9.9-missing does not exist in registry {basic.host}"
    assert "pinned" not in result.facts or not result.facts["pinned"]


def test_the_deployment_runs_the_pinned_digest_from_the_config_and_from_templates(
    basic: RegistryServer, tmp_path: Path
) -> None:
    pushed = basic.push("arxos/backend", "1.4.2", content=b"app")
    config_file = tmp_path / "deployment_config.yaml"
    config_file.write_text(SEED_K8S.replace("ghcr.io/arxos/arxos-backend", f"{basic.host}/arxos/backend"))
    loaded = load(config_file, {})
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    rendered = manifests.objects(spec, "staging", version="1.4.2")
    images = images_of(rendered)
    assert images == [f"{basic.host}/arxos/backend:1.4.2"]
    result = check_image_digest(
        images=images, settings=settings(basic), credentials={basic.host: registry.Credentials("ci", basic.password)}
    )
    pinned = pin(spec, images[0], result.facts["pinned"][images[0]])
    (deployment,) = [o for o in manifests.objects(pinned, "staging", version="1.4.2") if o["kind"] == "Deployment"]
    (container,) = manifests.pod_spec_of(deployment)["containers"]
    assert container["image"] == f"{basic.host}/arxos/backend@{pushed}"
    assert images_of([deployment]) == []  # nothing left to resolve
    # the example's templates: the template's image gives way to the digest too
    example = load(EXAMPLE, RECIPIENT)
    spec = spec_from_config(example.config, base_dir=example.base_dir)
    (image,) = images_of(manifests.color_objects(spec, "staging", Color.GREEN, "1.4.2"))
    assert image == "ghcr.io/arxos/arxos-backend:1.4.2"
    digest = "sha256:" + "0" * 64
    spec = pin(spec, image, f"ghcr.io/arxos/arxos-backend@{digest}")
    objects = manifests.color_objects(spec, "staging", Color.GREEN, "1.4.2")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert manifests.pod_spec_of(deployment)["containers"][0]["image"] == f"ghcr.io/arxos/arxos-backend@{digest}"
    assert "@sha256:" in yaml.safe_dump(deployment)


class _NoDigestHeader(BaseHTTPRequestHandler):
    """A registry that leaves Docker-Content-Digest out (allowed: the client then hashes the body)."""

    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}).encode()

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def _answer(self, *, with_body: bool) -> None:
        if not self.path.endswith("/manifests/1.0"):
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_without_the_digest_header_the_digest_is_the_sha256_of_the_manifest() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoDigestHeader)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        resolved = registry.resolve(f"{host}/acme/plain:1.0", insecure=True)
    finally:
        server.shutdown()
        server.server_close()
    assert resolved.digest == "sha256:" + hashlib.sha256(_NoDigestHeader.body).hexdigest()


@pytest.mark.parametrize(
    ("image", "registry_host", "repository", "tag"),
    [
        ("nginx:1.27", "docker.io", "library/nginx", "1.27"),
        ("acme/app", "docker.io", "acme/app", None),
        ("ghcr.io/arxos/arxos-backend:1.4.2", "ghcr.io", "arxos/arxos-backend", "1.4.2"),
        ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1"),
        ("localhost/app:2", "localhost", "app", "2"),
    ],
)
def test_image_names_are_read_as_docker_reads_them(
    image: str, registry_host: str, repository: str, tag: str | None
) -> None:
    ref = registry.parse_image(image)
    assert (ref.registry, ref.repository, ref.tag) == (registry_host, repository, tag)


def test_docker_hub_logins_are_found_under_the_names_docker_writes() -> None:
    auth = base64.b64encode(b"me:pw").decode()
    found = registry.credentials_for(
        "docker.io", {"auths": {"https://index.docker.io/v1/": {"auth": auth}}}, source="x"
    )
    assert found == registry.Credentials("me", "pw")
    assert "pw" not in repr(found)


def test_a_pull_secret_of_another_type_is_refused_by_name() -> None:
    secret = {"type": "Opaque", "metadata": {"name": "login", "namespace": "ns"}, "data": {}}
    with pytest.raises(registry.RegistryError, match="Secret login in namespace ns is of type 'Opaque'"):
        credentials_from_pull_secret("ghcr.io/a/b:1", secret)


def test_each_gate_reads_its_settings_from_the_config_section(tmp_path: Path) -> None:
    from arxdeploy.security import compliance, digest, network, secrets

    text = SEED_K8S + (
        "security:\n"
        "  image_digest: {insecure_registries: ['127.0.0.1:5000']}\n"
        "  secrets: {read_values: true, scan: false}\n"
        "  network_policy: {require_default_deny: false, require_egress: true}\n"
        "  compliance:\n"
        "    skip: [{id: CKV_K8S_40, reason: the image runs as the user it was built with}]\n"
    )
    path = tmp_path / "deployment_config.yaml"
    path.write_text(text)
    security = load(path, {}).config.security
    assert digest.settings_from(security.image_digest) == DigestSettings(insecure_registries=("127.0.0.1:5000",))
    assert secrets.settings_from(security.secrets) == secrets.SecretsSettings(read_values=True, scan=False)
    assert network.settings_from(security.network_policy) == network.NetworkSettings(False, True)
    skips = compliance.settings_from(security.compliance).skip
    assert skips == {"CKV_K8S_40": "the image runs as the user it was built with"}


def test_a_skip_without_a_reason_is_a_config_error_naming_the_line(tmp_path: Path) -> None:
    from arxdeploy.errors import ConfigError

    path = tmp_path / "deployment_config.yaml"
    path.write_text(SEED_K8S + "security:\n  compliance:\n    skip: [{id: CKV_K8S_40}]\n")
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    assert "security.compliance.skip[0].reason" in str(caught.value)


def test_approvals_given_for_a_digest_are_void_once_the_tag_moves(token: RegistryServer) -> None:
    """The engine's own gate: the request carries the content digest bound to the image's digest."""
    import dataclasses
    from datetime import timedelta

    from arxdeploy.domain.approvals import ApprovalPolicy, Verdict
    from arxdeploy.domain.states import State
    from arxdeploy.engine.gate import Approvals
    from arxdeploy.testing.backups import MemoryBackups
    from arxdeploy.testing.clock import ManualClock
    from arxdeploy.testing.store import MemoryStore
    from arxdeploy.testing.target import FakeHealth, FakeTarget
    from tests.drive import deploy
    from tests.engine.conftest import PLAN, World

    image = token.image("acme/approved", "5.0")
    logins = load_credentials([image], pull_secret=pull_secret(token))

    def digest_now() -> str:
        result = check_image_digest(images=[image], settings=settings(token), credentials=logins)
        assert result.status is Status.PASSED, result
        return str(result.facts["digest"])

    token.push("acme/approved", "5.0", content=b"scanned and approved")
    content = "c0ffee" * 10
    policy = ApprovalPolicy(required=True, approvers=("bo@example.com", "cy@example.com"), min_approvals=2,
                            timeout=timedelta(minutes=30))  # fmt: skip
    asked = dataclasses.replace(PLAN, approval=policy, config_digest=bind_image(content, digest_now()))
    clock = ManualClock()
    target = FakeTarget(clock=clock)
    world = World(clock, target, FakeHealth(target), MemoryStore(), MemoryBackups(clock))
    engine = world.engine()
    d, _ = deploy(engine, plan=asked, version="5.0", wait=False)
    for who in ("bo@example.com", "cy@example.com"):
        Approvals(store=world.store, clock=clock).decide(
            deployment_id=d.id, who=who, verdict=Verdict.APPROVE, via="server"
        )
    token.push("acme/approved", "5.0", content=b"something else under the same tag")
    # the plan is the one asked with; when the approvals are counted the tag is asked again
    engine.content_now = bound_content(lambda: content, digest_now)
    view = engine.resume(plan=asked, deployment_id=d.id)
    assert view.state is State.REJECTED
    assert view.failure is not None and "changed since approval was asked" in view.failure.reason
    assert [c for c in target.calls if not c.startswith("inspect")] == []  # nothing changed


def test_as_the_step_runs_it_the_cluster_runs_the_recorded_digest_and_a_missing_tag_changes_nothing(
    basic: RegistryServer, cluster: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from arxdeploy.security import digest
    from arxdeploy.security.digest import pin_recorded
    from arxdeploy.targets.kubernetes.rest import SECRETS, Objects
    from arxdeploy.targets.kubernetes.target import KubernetesTarget
    from tests.fixtures.kube import make_namespace, on_cluster

    pushed = basic.push("arxos/backend", "2.0", content=b"the app")
    text = SEED_K8S.replace("ghcr.io/arxos/arxos-backend", f"{basic.host}/arxos/backend") + (
        f"security:\n  image_digest: {{pull_secret: registry-login, insecure_registries: ['{basic.host}']}}\n"
    )
    loaded, spec = on_cluster(tmp_path, cluster, request.node.nodeid, text)
    namespace = spec.namespace_for("staging")
    make_namespace(cluster.kubeconfig, namespace)
    with KubernetesTarget(spec=spec) as target:

        def run(version: str) -> Any:
            return digest.check(
                config=loaded.config, environment="staging", version=version,
                image=manifests.image_for(target.spec, version), target=target, base_dir=tmp_path, environ={},
            )  # fmt: skip

        absent = run("2.0")  # the pull secret is not there yet: the gate says how to make it
        assert absent.status is Status.FAILED
        assert security_events.line(absent) == (
            f"image_digest FAILED: pull secret registry-login does not exist in {namespace} (make it with "
            f"`kubectl create secret docker-registry registry-login -n {namespace}`, "
            "or fix security.image_digest.pull_secret)"
        )
        objects = Objects.from_kubeconfig(kubeconfig=cluster.kubeconfig, context=None, environ={})
        body = pull_secret(basic)
        body["metadata"] = {"name": "registry-login"}
        objects.create(SECRETS, namespace, body)
        objects.close()

        missing = run("2.1")
        assert missing.status is Status.FAILED
        assert missing.summary == f"{basic.host}/arxos/backend:2.1 does not exist in registry {basic.host}"
        assert "push the image first" in security_events.line(missing)  # the registry's next step, shown
        result = run("2.0")
        assert result.status is Status.PASSED, result
        assert result.facts["digest"] == pushed
        assert result.facts["image"] == f"{basic.host}/arxos/backend:2.0"
        assert target.spec.pinned == {}  # the gate changes nothing; the deploy step pins from the record
        pin_recorded(target, [result])
        target.start_color(environment="staging", color=Color.GREEN, version="2.0", replicas=2)
        client = target.connection.client
        from lightkube.resources.apps_v1 import Deployment

        running = client.get(Deployment, "arxos-green", namespace=namespace)
        assert running.spec is not None and running.spec.template.spec is not None
        assert running.spec.template.spec.containers[0].image == f"{basic.host}/arxos/backend@{pushed}"


def test_on_the_local_target_there_is_no_image_to_pin(tmp_path: Path) -> None:
    from arxdeploy.security import digest

    path = tmp_path / "deployment_config.yaml"
    path.write_text("service: app\ntarget:\n  type: local\n  local: {command: [app, '{port}']}\nenvironments:\n"
                    "  staging: {replicas: 1}\n")  # fmt: skip
    config = load(path, {}).config
    result = digest.check(config=config, environment="staging", version="1", image=None, target=None,
                          base_dir=tmp_path, environ={})  # fmt: skip
    assert result.status is Status.NOT_APPLICABLE
    assert result.summary == "the local target runs commands, not images"


def test_a_resumed_deployment_runs_the_digest_its_record_holds(basic: RegistryServer, tmp_path: Path) -> None:
    """Another process resumes after the approvals: the digest comes from the log, not the registry."""
    from datetime import UTC, datetime

    from arxdeploy.domain import security_events
    from arxdeploy.security.digest import pin_recorded

    pushed = basic.push("arxos/backend", "4.0", content=b"approved bytes")
    image = f"{basic.host}/arxos/backend:4.0"
    result = check_image_digest(
        images=[image], settings=settings(basic), credentials={basic.host: registry.Credentials("ci", basic.password)}
    )
    log = [security_events.recorded(result, datetime.now(UTC))]
    basic.push("arxos/backend", "4.0", content=b"pushed after the approval")  # the tag moves meanwhile
    config_file = tmp_path / "deployment_config.yaml"
    config_file.write_text(SEED_K8S.replace("ghcr.io/arxos/arxos-backend", f"{basic.host}/arxos/backend"))
    loaded = load(config_file, {})

    class Resumed:  # a fresh process's target: the spec from the config alone
        spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)

    target = Resumed()
    pin_recorded(target, security_events.results(log))
    (deployment,) = [o for o in manifests.objects(target.spec, "staging", version="4.0") if o["kind"] == "Deployment"]
    assert manifests.pod_spec_of(deployment)["containers"][0]["image"] == f"{basic.host}/arxos/backend@{pushed}"


def test_a_login_kept_in_a_credential_helper_is_named_with_what_to_do_instead() -> None:
    with pytest.raises(registry.RegistryError) as caught:
        registry.credentials_for("ghcr.io", {"auths": {}, "credsStore": "desktop"}, source="~/.docker/config.json")
    assert caught.value.message == (
        "~/.docker/config.json keeps the login of ghcr.io in a credential helper (docker-credential-desktop), "
        "which arxdeploy does not run"
    )
    assert "pull_secret" in (caught.value.hint or "")
