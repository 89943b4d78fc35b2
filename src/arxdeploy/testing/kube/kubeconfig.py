"""The kubeconfig that points unmodified clients (kubectl, kubernetes, lightkube) at the emulator.

Its user is one of three, as the emulator's auth mode says (see auth.py): a static ``token``, a
client certificate (``client-certificate-data`` / ``client-key-data``, as kind writes), or an
``exec`` credential plugin (as ``aws eks update-kubeconfig`` and ``kubelogin`` write).
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NAME = "arxdeploy-emulator"
CREDENTIAL_MODULE = "arxdeploy.testing.kube.credential"


@dataclass(frozen=True)
class ExecPlugin:
    """The ``exec`` section: the credential helper shipped with the emulator, run by this Python."""

    api_version: str
    issuer: str  # the emulator's URL: the helper asks it for a token
    ca_file: Path
    key: str = ""  # the issuer's key: whoever holds the kubeconfig may get tokens, as with AWS keys
    interactive_mode: str = "Never"
    provide_cluster_info: bool = True

    def section(self) -> dict[str, Any]:
        args = ["-m", CREDENTIAL_MODULE, "--issuer", self.issuer, "--ca-file", str(self.ca_file)]
        args += ["--api-version", self.api_version]
        # where arxdeploy is, so the helper runs whatever the caller's PYTHONPATH
        source = str(Path(__file__).resolve().parents[3])
        return {
            "apiVersion": self.api_version,
            "command": sys.executable,
            "args": args,
            "env": [
                {"name": "PYTHONPATH", "value": source},
                {"name": "ARXDEPLOY_EMULATOR_ISSUER_KEY", "value": self.key},
            ],
            "interactiveMode": self.interactive_mode,
            "provideClusterInfo": self.provide_cluster_info,
            "installHint": "the credential helper ships with arxdeploy: pip install 'arxdeploy[testing]'",
        }


def render(
    url: str,
    ca_pem: bytes,
    *,
    token: str | None = None,
    client_certificate: tuple[bytes, bytes] | None = None,
    exec_plugin: ExecPlugin | None = None,
    namespace: str = "default",
) -> str:
    cluster = {"server": url, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    user: dict[str, Any]
    if exec_plugin is not None:
        user = {"exec": exec_plugin.section()}
    elif client_certificate is not None:
        cert, key = client_certificate
        user = {
            "client-certificate-data": base64.b64encode(cert).decode(),
            "client-key-data": base64.b64encode(key).decode(),
        }
    elif token is not None:
        user = {"token": token}
    else:
        raise ValueError("a kubeconfig user needs a token, a client certificate or an exec plugin")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": user}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}],
        "current-context": NAME,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)  # it holds a credential; kubectl also warns about group-readable kubeconfigs
    return path
