"""The kubeconfig that points unmodified clients (kubectl, kubernetes, lightkube) at the emulator."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

NAME = "arxdeploy-emulator"


def render(url: str, token: str, ca_pem: bytes, namespace: str = "default") -> str:
    cluster = {"server": url, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": {"token": token}}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}],
        "current-context": NAME,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write(path: Path, url: str, token: str, ca_pem: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(url, token, ca_pem), encoding="utf-8")
    path.chmod(0o600)  # it holds a token; kubectl also warns about group-readable kubeconfigs
    return path
