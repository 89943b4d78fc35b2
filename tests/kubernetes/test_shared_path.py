"""The whole path of the generated workflow on the emulator, each part in a process of its own:
runner A asks for a production deployment and stops waiting; the approval server runs as
k8s/server/ runs it in the cluster (its pod's service account, its config from the ConfigMap laid
out as the Deployment mounts it) against the same record; two approvers decide over HTTP with their
own tokens; runner B, another machine, resumes and deploys, its backup sealed in S3; a third
runner reads the whole story. What the server asked the API server for is within the Roles that
``init`` wrote for it.

The pod's service account lives at a fixed path (/var/run/secrets/kubernetes.io/serviceaccount,
as client-go's in-cluster config reads it): the server runs in a mount namespace of its own
(``unshare``) with a tmpfs there, so it needs root and ``unshare`` (CI runs as root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pyrage import x25519

from arxdeploy.scaffold import scaffold
from arxdeploy.testing.kube import KubeEmulator
from arxdeploy.testing.objectstores import S3Server
from tests.support import Children, answers, free_port, marked, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("ARXDEPLOY_TEST_KUBECONFIG")), reason="needs the emulator's service proxy backends"
    ),
]

SERVER_HOME = "/srv/arxdeploy"
ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
KEY = x25519.Identity.generate()
APPROVERS = ("admin@example.com", "devops@example.com")  # the generated config's
# A namespaced API request, as the emulator counts it: "METHOD /api/v1/namespaces/NS/RESOURCE[/NAME]".
REQUEST = re.compile(r"(\w+) /apis?/(?:([^/]+)/)?v1/namespaces/([^/]+)/([^/?]+)(?:/([^/?]+))?(?:/([^/?]+))?$")
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False, timeout=30)
    return probe.returncode == 0


@pytest.fixture
def repo(tmp_path: Path, s3_server: S3Server) -> Path:
    """``arxdeploy init --target kubernetes`` as written, made quick, its bucket on SeaweedFS."""
    folder = tmp_path / "repo"
    scaffold(directory=folder, target="kubernetes", service="arxos", image="ghcr.io/acme/arxos")
    config = folder / "deployment_config.yaml"
    text = config.read_text()
    for old, new in [
        ("monitoring_duration: 10m", "monitoring_duration: 1s"),
        ("traffic_switch_delay: 30 ", "traffic_switch_delay: 0 "),
        ("scale_down_delay: 60 ", "scale_down_delay: 0 "),
        ("endpoints: [/health, /api/health, /api/version, /api/metrics]", "endpoints: [/health]"),
        ("interval: 2s", "interval: 100ms"),
        ("min_approvals: 1", "min_approvals: 2"),  # two people decide
        ("bucket: arxos-backups", f"bucket: {s3_server.new_place()}"),
        ("# endpoint_url: https://minio.example.com:9000", f"endpoint_url: {s3_server.endpoint}"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)
    return folder


def base_env(home: Path) -> dict[str, str]:
    """A clean machine: no kubeconfig, no AWS settings, no arxdeploy variables of this one's."""
    kept = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TMPDIR")
    home.mkdir(parents=True, exist_ok=True)
    return marked({**{k: os.environ[k] for k in kept if k in os.environ}, "HOME": str(home)})


class Runner:
    """One CI machine: its own checkout (so its own state dir), the kubeconfig, the secrets."""

    def __init__(self, repo: Path, folder: Path, env: dict[str, str]) -> None:
        shutil.copytree(repo, folder)
        self.folder = folder
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        config = self.folder / "deployment_config.yaml"
        return subprocess.run(
            [sys.executable, "-m", "arxdeploy.cli.main", "-c", str(config), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
            check=False,
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def admin_applies(kube: KubeEmulator, repo: Path) -> None:
    """What the cluster admin does once: the namespaces of k8s/rbac/, and the server's config
    ConfigMap made from the repository's files, as k8s/server/server.yaml's header says."""
    with httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=30) as api:
        for path in sorted((repo / "k8s" / "rbac").glob("*.yaml")):
            (namespace,) = [d for d in documents(path) if d["kind"] == "Namespace"]
            api.post("/api/v1/namespaces", json=namespace).raise_for_status()
        header = (repo / "k8s" / "server" / "server.yaml").read_text()
        files = dict(re.findall(r"--from-file=([\w.-]+)=(\S+)", header))
        data = {key: (repo / path).read_text() for key, path in files.items()}
        configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "arxdeploy-server-config"}}
        api.post("/api/v1/namespaces/arxos-production/configmaps", json={**configmap, "data": data}).raise_for_status()


def pod_files(kube: KubeEmulator, repo: Path, root: Path) -> list[str]:
    """The server container's files as the kubelet lays them out: each subPath mount of the config
    ConfigMap at its mountPath (under ``root`` for /). Returns the container's args."""
    (deployment,) = [d for d in documents(repo / "k8s" / "server" / "server.yaml") if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    configmap = kube.get("configmaps", "arxos-production", "arxdeploy-server-config")
    assert configmap is not None
    for mount in container["volumeMounts"]:
        if mount["name"] == "config":
            out = root / mount["mountPath"].lstrip("/")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(configmap["data"][mount["subPath"]])
    (root / SERVER_HOME.lstrip("/")).mkdir(parents=True, exist_ok=True)  # the emptyDir
    args: list[str] = container["args"]
    return args


def allowed(repo: Path) -> set[tuple[str, str, str, str]]:
    """(namespace, api group, resource, verb) that the server's Roles grant."""
    grants = set()
    for path in sorted((repo / "k8s" / "server").glob("*.yaml")):
        for doc in documents(path):
            if doc["kind"] == "Role":
                for rule in doc["rules"]:
                    for group in rule["apiGroups"]:
                        for resource in rule["resources"]:
                            grants |= {(doc["metadata"]["namespace"], group, resource, v) for v in rule["verbs"]}
    return grants


def asked_for(calls: Counter[str]) -> set[tuple[str, str, str, str]]:
    """(namespace, api group, resource, verb) of each API request, as RBAC names it."""
    asked = set()
    for call in calls:
        path = call.split("?")[0]
        found = REQUEST.fullmatch(path)
        assert found, f"the server made a request outside any namespace: {call}"
        method, group, namespace, resource, name, sub = found.groups()
        verb = VERBS.get(method) or ("get" if name else "list")
        asked.add((namespace, group or "", f"{resource}/{sub}" if sub else resource, verb))
    return asked


@pytest.fixture
def kube(app_url: str) -> Iterator[KubeEmulator]:
    with KubeEmulator(ready_delay=0.1) as made:
        for service in ("arxos", "arxos-preview"):
            made.register_service_backend("arxos-production", service, app_url)
        yield made


def test_asked_on_one_runner_approved_on_the_server_in_the_cluster_deployed_from_another(
    repo: Path, kube: KubeEmulator, s3_server: S3Server, tmp_path: Path, children: Children
) -> None:
    if not can_unshare():
        pytest.skip("the server's service account path needs root and unshare (a mount namespace)")
    recipient = str(KEY.to_public())
    admin_applies(kube, repo)

    def ci(name: str) -> Runner:
        env = {
            **base_env(tmp_path / f"home-{name}"),
            **s3_server.env(),
            "KUBECONFIG": str(kube.kubeconfig),  # the KUBECONFIG secret
            "ARXDEPLOY_BACKUP_RECIPIENT": recipient,  # a repository variable
            "ARXDEPLOY_EMAIL": "pusher@example.com",
            "CI": "true",
        }
        return Runner(repo, tmp_path / f"runner-{name}", env)

    # Runner A: the request-production job. It records the request and ends.
    a = ci("a")
    asked = a.json("deploy", "--env", "production", "--version", "1.0", "--no-wait", "--reason", "release 1.0")
    assert asked["state"] == "awaiting_approval", asked
    deployment_id = asked["id"]
    admin = Runner(repo, tmp_path / "admin", {**a.env, "CI": ""})
    root = admin.json("token", "bootstrap", "--for", "root@example.com")["token"]

    # The server, as its pod runs it: no kubeconfig, the service account's token and CA.
    pod = tmp_path / "pod"
    args = pod_files(kube, repo, pod)
    account = tmp_path / "account"
    account.mkdir()
    (account / "token").write_text(kube.token)
    (account / "ca.crt").write_bytes(kube.certificates.ca_pem)
    (account / "namespace").write_text("arxos-production")
    port = free_port()
    assert args[:2] == ["--config", f"{SERVER_HOME}/deployment_config.yaml"]
    config = pod / args[1].lstrip("/")
    served = [a if a != args[1] else str(config) for a in args]
    served[served.index("--host") + 1] = "127.0.0.1"
    served[served.index("--port") + 1] = str(port)
    mount = f"mount -t tmpfs tmpfs /var/run && mkdir -p {ACCOUNT} && cp {account}/* {ACCOUNT}/"
    command = f'{mount} && exec "$0" -m arxdeploy.cli.main "$@"'
    server_env = {
        **base_env(pod / "tmp"),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": kube.url.rsplit(":", 1)[1],
        "ARXDEPLOY_BACKUP_RECIPIENT": recipient,  # from the arxdeploy-server-env ConfigMap
    }
    kube.reset_calls()
    with (tmp_path / "server.log").open("wb") as log:
        server = children.popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", command, sys.executable, *served],
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=pod / SERVER_HOME.lstrip("/"),
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        return answers(f"{url}/healthz")

    wait_until(up, timeout=120, interval=0.2, what="the approval server")
    with httpx.Client(base_url=url, timeout=30) as http:

        def as_(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        tokens = {}
        for who in APPROVERS:
            made = http.post("/api/v1/tokens", json={"email": who}, headers=as_(root))
            assert made.status_code == 201, made.text
            tokens[who] = made.json()["token"]
        waiting = http.get("/api/v1/approvals", headers=as_(tokens[APPROVERS[0]])).json()
        assert [(w["id"], w["min_approvals"]) for w in waiting] == [(deployment_id, 2)]
        first = http.post(f"/api/v1/approvals/{deployment_id}/approve", headers=as_(tokens[APPROVERS[0]]))
        assert first.status_code == 200 and first.json()["status"] == "pending", first.text
        second = http.post(f"/api/v1/approvals/{deployment_id}/approve", headers=as_(tokens[APPROVERS[1]]))
        assert second.status_code == 200 and second.json()["status"] == "approved", second.text
    calls = kube.calls
    server.terminate()
    server.wait(timeout=30)

    # Everything the server asked for is within the Roles init wrote for it.
    assert calls, "the server made no request"
    beyond = asked_for(calls) - allowed(repo)
    assert not beyond, f"the server's Roles do not allow: {sorted(beyond)}"

    # Runner B: the deploy-production job on another machine; it resumes what A asked for.
    b = ci("b")
    assert not (b.folder / ".arxdeploy").exists()
    done = b.json("resume", deployment_id)
    assert (done["state"], done["version"]) == ("succeeded", "1.0"), done
    live = kube.get("services", "arxos-production", "arxos")
    assert live is not None and live["spec"]["selector"]["color"] == done["new_color"]

    # A third machine sees the whole story: the request, both approvals made on the server, the
    # backup in S3 (sealed for the recipient), the deployment.
    c = ci("c")
    (row,) = [r for r in c.json("history", "--env", "production") if r["id"] == deployment_id]
    assert (row["state"], row["requested_by"]) == ("succeeded", "pusher@example.com")
    shown = c.json("show", deployment_id)
    approvals = [e for e in shown["events"] if e["type"] == "approval"]
    assert sorted((e["who"], e["via"]) for e in approvals) == [(who, "server") for who in APPROVERS], approvals
    steps = [s["step"] for s in shown["steps"]]
    assert steps.index("backup") < steps.index("deploy") < steps.index("switch"), steps
    (backup,) = [b for b in c.json("backup", "list", "--env", "production") if b["deployment_id"] == deployment_id]
    assert backup["encrypted"] is True, backup
    bucket = repo.joinpath("deployment_config.yaml").read_text().split("bucket: ")[1].split()[0]
    stored = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert any(deployment_id in o["Key"] for o in stored), (backup, [o["Key"] for o in stored])
