"""Gate secrets on the emulator: the Secrets the pods reference, read as metadata only (or whole,
for their keys, when allowed), and detect-secrets over the config, the templates and the rendered
objects; what a finding shows never holds a secret."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.config.loader import load
from arxdeploy.config.snapshot import take
from arxdeploy.domain.security import GateResult, Status
from arxdeploy.domain.states import Color
from arxdeploy.security.secrets import SecretsSettings, check_secrets, references, scanned_files
from arxdeploy.targets.kubernetes import manifests
from arxdeploy.targets.kubernetes.rest import SECRETS, Kind, Objects
from arxdeploy.targets.kubernetes.spec import spec_from_config
from tests.fixtures.kube import Cluster, make_namespace, short_digest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "arxos" / "arx-infra"
RECIPIENT = {"ARXDEPLOY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
VALUE = "s3cr3t-Value-that-must-never-show-9f2c"


def deployment() -> dict[str, Any]:
    """A Deployment that uses Secrets every way a pod can."""
    container = {
        "name": "app",
        "image": "ghcr.io/acme/app:1",
        "env": [
            {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
            {"name": "FEATURE", "valueFrom": {"secretKeyRef": {"name": "flags", "key": "on", "optional": True}}},
        ],
        "envFrom": [{"secretRef": {"name": "app-env"}}],
    }
    volumes = [
        {"name": "tls", "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "crt"}]}},
        {"name": "both", "projected": {"sources": [{"secret": {"name": "projected"}}]}},
    ]
    pod = {"containers": [container], "volumes": volumes, "imagePullSecrets": [{"name": "registry-login"}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app-green"},
        "spec": {"template": {"metadata": {"labels": {"app": "app"}}, "spec": pod}},
    }


class Recording:
    """The cluster's objects, with what each read answered kept for the test to look at."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.answers: list[dict[str, Any]] = []

    def find(self, kind: Kind, namespace: str, name: str, *, metadata_only: bool = False) -> dict[str, Any] | None:
        found = self.objects.find(kind, namespace, name, metadata_only=metadata_only)
        if found is not None:
            self.answers.append(copy.deepcopy(found))
        return found


@pytest.fixture
def objects(cluster: Cluster) -> Iterator[Objects]:
    made = Objects.from_kubeconfig(kubeconfig=cluster.kubeconfig, context=None, environ={})
    yield made
    made.close()


@pytest.fixture
def namespace(cluster: Cluster, objects: Objects, request: pytest.FixtureRequest) -> str:
    name = f"secrets-{short_digest(request.node.nodeid)}"
    make_namespace(cluster.kubeconfig, name)
    for secret, keys in {"db": ["url"], "app-env": ["A"], "tls": ["tls.key"], "registry-login": []}.items():
        data = {key: base64.b64encode(VALUE.encode()).decode() for key in keys}
        objects.create(SECRETS, name, {"metadata": {"name": secret}, "data": data})
    return name


def shown(result: GateResult) -> str:
    return json.dumps([result.summary, [f.__dict__ for f in result.findings], result.facts], default=str)


def test_every_way_a_pod_uses_a_secret_is_found() -> None:
    refs = references([deployment()])
    assert sorted(refs) == ["app-env", "db", "flags", "projected", "registry-login", "tls"]
    assert refs["db"].keys == {"url": False}
    assert refs["flags"].optional
    assert refs["tls"].keys == {"tls.crt": False}
    assert refs["registry-login"].used_by == ["Deployment app-green imagePullSecrets"]


def test_missing_secrets_are_named_with_their_users_from_metadata_alone(objects: Objects, namespace: str) -> None:
    reader = Recording(objects)
    settings = SecretsSettings(scan=False)
    result = check_secrets(namespace=namespace, objects=[deployment()], reader=reader, settings=settings)
    assert result.status is Status.FAILED
    # flags is optional: the pod starts without it
    assert [f.message for f in result.findings] == [
        f"Secret projected does not exist in namespace {namespace}; used by Deployment app-green volume both"
    ]
    # what the cluster answered was metadata: no value ever reached the gate
    assert reader.answers
    assert {a["kind"] for a in reader.answers} == {"PartialObjectMetadata"}
    assert not any("data" in a for a in reader.answers)
    objects.create(SECRETS, namespace, {"metadata": {"name": "projected"}, "data": {}})
    result = check_secrets(namespace=namespace, objects=[deployment()], reader=reader, settings=settings)
    assert result.status is Status.PASSED, result.findings
    assert result.summary == "6 referenced Secrets exist"


def test_with_read_values_a_missing_key_is_named_and_no_value_is_shown(objects: Objects, namespace: str) -> None:
    objects.create(SECRETS, namespace, {"metadata": {"name": "projected"}, "data": {}})
    result = check_secrets(
        namespace=namespace,
        objects=[deployment()],
        reader=objects,
        settings=SecretsSettings(read_values=True, scan=False),
    )
    assert result.status is Status.FAILED
    assert [f.rule for f in result.findings] == ["secret.missing-key"]
    assert result.findings[0].message == (
        f"Secret tls in namespace {namespace} has no key tls.crt; used by Deployment app-green volume tls"
    )
    assert VALUE not in shown(result)
    assert base64.b64encode(VALUE.encode()).decode() not in shown(result)


def test_plaintext_secrets_are_found_by_file_and_line_never_shown(tmp_path: Path) -> None:
    slack = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    aws = "AKIAIOSFODNN7EXAMPLE"
    password = "Zx9-unguessable-Pw"
    config = (
        f"service: app\nnotifications:\n  slack:\n    webhook_url: {slack}\n"
        f"  email:\n    password: {password}\n"
        "# Secrets: `list`, because each backup records their names\n"  # prose, not an assignment
    )
    template = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  AWS_ACCESS_KEY_ID: {aws}\n"
    leaked = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "inline"}, "stringData": {"token": VALUE}}
    files = {"deployment_config.yaml": config, "k8s/staging/configmap.yaml": template}
    result = check_secrets(namespace="ns", objects=[deployment(), leaked], reader=None, files=files)
    assert result.status is Status.FAILED
    where = {(f.rule, f.file, f.line) for f in result.findings}
    assert ("secret.SlackToken", "deployment_config.yaml", 4) in where
    assert ("secret.AWSAccessKey", "k8s/staging/configmap.yaml", 6) in where
    assert ("secret.SecretKeyword", "deployment_config.yaml", 6) in where
    assert not any(f.line == 7 and f.file == "deployment_config.yaml" for f in result.findings)
    assert ("secret.in-manifest", "inline", None) in where
    assert "deployment_config.yaml:4: looks like a Slack Token" in [f.message for f in result.findings]
    text = shown(result)
    for secret in (slack, aws, VALUE, password, "XXXXXXXXXXXXXXXXXXXXXXXX"):
        assert secret not in text


def test_the_example_has_no_plaintext_secret_in_its_config_templates_or_rendered_objects() -> None:
    loaded = load(EXAMPLE / "deploy" / "deployment_config.yaml", RECIPIENT)
    files = scanned_files(EXAMPLE / "deploy" / "deployment_config.yaml", take(loaded).files)
    assert "deployment_config.yaml" in files
    assert "scripts/backup_database.sh" in files
    assert "../k8s/staging/deployment.yaml" in files
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    rendered = [
        *manifests.color_objects(spec, "staging", Color.GREEN, "1.4.2"),
        *manifests.shared_objects(spec, "staging", live=Color.BLUE, candidate=Color.GREEN, version="1.4.2"),
    ]
    result = check_secrets(namespace="arxos-staging", objects=rendered, reader=None, files=files)
    assert result.status is Status.PASSED, [f.message for f in result.findings]
    assert result.summary == "no cluster to check references in; no plaintext secret found"


def test_as_the_step_runs_it_on_the_local_target_the_config_is_still_scanned(tmp_path: Path) -> None:
    from arxdeploy.security import secrets

    slack = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    path = tmp_path / "deployment_config.yaml"
    path.write_text(
        "service: app\ntarget:\n  type: local\n  local: {command: [app, '{port}']}\nenvironments:\n"
        f"  staging: {{replicas: 1}}\nnotifications:\n  slack: {{webhook_url: '{slack}'}}\n"
    )
    loaded = load(path, {})
    result = secrets.check(
        config=loaded.config, environment="staging", version="1", target=None, loaded=loaded, snapshot=take(loaded)
    )
    assert result.status is Status.FAILED
    assert [(f.file, f.line, f.rule) for f in result.findings] == [("deployment_config.yaml", 8, "secret.SlackToken")]
    assert slack not in shown(result)


def test_as_the_step_runs_it_on_kubernetes_the_rendered_objects_and_the_cluster_are_read(
    cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from arxdeploy.security import secrets
    from arxdeploy.targets.kubernetes.target import KubernetesTarget
    from tests.fixtures.kube import on_cluster

    loaded, spec = on_cluster(tmp_path, cluster, request.node.nodeid)
    with KubernetesTarget(spec=spec) as target:
        result = secrets.check(
            config=loaded.config, environment="staging", version="1.0", target=target, loaded=loaded,
            snapshot=take(loaded),
        )  # fmt: skip
    assert result.status is Status.PASSED, result.findings
    assert result.summary == "0 referenced Secrets exist; no plaintext secret found"
    assert "deployment_config.yaml" in result.facts["scanned"]


def test_the_name_of_a_secret_the_pods_use_is_not_taken_for_a_secret() -> None:
    template = "spec:\n  volumes:\n    - name: tls\n      secret:\n        secretName: app-tls-material\n"
    files = {"k8s/staging/deployment.yaml": template}
    alone = check_secrets(namespace="ns", objects=[], reader=None, files=files)
    # detect-secrets' keyword heuristic alone reads the name as a value
    assert [(f.rule, f.line) for f in alone.findings] == [("secret.SecretKeyword", 5)]
    used = deployment()
    used["spec"]["template"]["spec"]["volumes"] = [{"name": "tls", "secret": {"secretName": "app-tls-material"}}]
    result = check_secrets(namespace="ns", objects=[used], reader=None, files=files)
    assert result.status is Status.PASSED, result.findings
    named = check_secrets(namespace="ns", objects=[], reader=None, files=files, secret_names=["app-tls-material"])
    assert named.status is Status.PASSED
