"""Connecting to the cluster with lightkube, and what a health probe needs to reach it."""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx2
from lightkube import Client, ConfigError, KubeConfig

from arxdeploy.targets.kubernetes.errors import calling

FIELD_MANAGER = "arxdeploy"


@dataclass(frozen=True)
class Connection:
    client: Client
    server: str  # the API server's base URL, for service-proxy URLs
    token: str | None  # bearer token of the kubeconfig's user, if it has a static one
    verify: ssl.SSLContext | bool = True  # how to trust the API server, for probes through its proxy


def connect(*, kubeconfig: Path | None, context: str | None, timeout: float = 10.0) -> Connection:
    """Open a client on ``context`` of ``kubeconfig`` (default: $KUBECONFIG, ~/.kube/config, in-cluster)."""
    with calling("read", f"kubeconfig {kubeconfig or '(default)'}"):
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        single = config.get(context_name=context)
        if single is None:
            raise ConfigError(f"no context {context!r}" if context else "no current context")
        client = Client(config=single, field_manager=FIELD_MANAGER, timeout=httpx2.Timeout(timeout))
    return Connection(
        client=client,
        server=single.cluster.server.rstrip("/"),
        token=_token(single.user, single.fname),
        verify=_verify(single.cluster, single.fname),
    )


def _verify(cluster: object, fname: Path | None) -> ssl.SSLContext | bool:
    """The kubeconfig's trust settings as httpx's ``verify``: its CA, or no checks if it says so."""
    if getattr(cluster, "insecure", False):
        return False
    data = getattr(cluster, "certificate_auth_data", None)
    if data:
        return ssl.create_default_context(cadata=base64.b64decode(data).decode("ascii"))
    path = getattr(cluster, "certificate_auth", None)
    if path:
        ca = Path(path) if Path(path).is_absolute() or fname is None else fname.parent / path
        return ssl.create_default_context(cafile=str(ca))
    return True


def _token(user: object, fname: Path | None) -> str | None:
    token = getattr(user, "token", None)
    if token:
        return str(token)
    token_file = getattr(user, "token_file", None)
    if token_file:
        path = Path(token_file)
        if not path.is_absolute() and fname is not None:
            path = fname.parent / path
        return path.read_text(encoding="utf-8").strip()
    return None  # client certificates or exec plugins: the probe cannot reuse them as a header
