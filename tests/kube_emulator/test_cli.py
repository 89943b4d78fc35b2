"""``python -m arxdeploy.testing.kube``: prints its URL, writes a kubeconfig, serves until stopped."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from arxdeploy.testing.kube.tls import Certificates
from tests.support import Children


def test_the_cli_serves_through_the_kubeconfig_it_writes(tmp_path: Path, children: Children) -> None:
    kubeconfig = tmp_path / "kube" / "config"
    process = children.popen(
        [
            sys.executable,
            "-m",
            "arxdeploy.testing.kube",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
            "--token",
            "t0k",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()  # printed once the server is ready
    assert url.startswith("https://127.0.0.1:")
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == url
    assert config["users"][0]["user"]["token"] == "t0k"
    ca = Certificates(base64.b64decode(cluster["certificate-authority-data"]), b"", b"").client_context()
    with httpx.Client(base_url=url, verify=ca, headers={"Authorization": "Bearer t0k"}) as api:
        assert api.get("/api/v1/namespaces/default").json()["metadata"]["name"] == "default"
        assert api.get("/api/v1/namespaces/default", headers={"Authorization": "Bearer x"}).status_code == 401
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_the_cli_takes_an_auth_mode_nodes_and_stand_in_backends(tmp_path: Path, children: Children) -> None:
    kubeconfig = tmp_path / "config"
    process = children.popen(
        [
            sys.executable,
            "-m",
            "arxdeploy.testing.kube",
            "--kubeconfig",
            str(kubeconfig),
            "--auth",
            "exec",
            "--exec-api-version",
            "v1beta1",
            "--exec-token-ttl",
            "60",
            "--node",
            "small=2,4Gi,20",
            "--backend",
            "default/web=http://127.0.0.1:9",
            "--serve-app",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    app_url = process.stdout.readline().strip()
    assert app_url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{app_url}/health").text == "ok\n"
    config = yaml.safe_load(kubeconfig.read_text())
    plugin = config["users"][0]["user"]["exec"]
    assert plugin["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    environment = {**os.environ, **{item["name"]: item["value"] for item in plugin["env"]}}
    printed = subprocess.run(
        [plugin["command"], *plugin["args"]], env=environment, capture_output=True, text=True, check=True
    )
    token = json.loads(printed.stdout)["status"]["token"]
    ca = Certificates(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]), b"", b"")
    with httpx.Client(base_url=url, verify=ca.client_context(), headers={"Authorization": f"Bearer {token}"}) as api:
        [node] = api.get("/api/v1/nodes").json()["items"]
        assert (node["metadata"]["name"], node["status"]["allocatable"]["cpu"]) == ("small", "2")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
