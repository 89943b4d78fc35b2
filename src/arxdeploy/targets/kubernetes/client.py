"""Connecting to the cluster: a lightkube ``Client`` over the same access the health checks use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx2
from lightkube import Client
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import Cluster, Context, User

from arxdeploy.errors import TargetError
from arxdeploy.targets.kubernetes import kubeconfig as kubeconfigs
from arxdeploy.targets.kubernetes.access import ApiTransport, ClusterAccess

FIELD_MANAGER = "arxdeploy"


@dataclass(frozen=True)
class Connection:
    client: Client
    server: str  # the API server's base URL, for service-proxy URLs
    access: ClusterAccess  # TLS, credentials and proxy: the API calls' and the health checks'


def connect(
    *,
    kubeconfig: Path | None,
    context: str | None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    service_account: Path = kubeconfigs.SERVICE_ACCOUNT,
) -> Connection:
    """A client on ``context`` of the kubeconfig kubectl would use (see ``kubeconfig.find``).

    Reads files only: no request is made and no credential plugin runs until the first call.
    """
    environ = os.environ if environ is None else environ
    access = ClusterAccess.from_kubeconfig(
        kubeconfig=kubeconfig, context=context, environ=environ, service_account=service_account
    )
    # lightkube builds an SSL context from this config that nothing uses: httpx2 ignores its
    # ``verify`` when given a transport, and ours carries the access's context, proxy and
    # credentials. Marked insecure only so that it does not load a CA bundle for nothing;
    # tests/kubernetes/test_credentials.py checks that the API calls verify the server.
    single = SingleConfig(
        context_name="arxdeploy",
        context=Context(cluster="arxdeploy"),
        cluster=Cluster(server=access.server, insecure=True),
        user=User(),  # no credentials of lightkube's own: the transport adds ours
    )
    try:
        transport = ApiTransport(access)
    except ImportError as exc:  # a socks5:// proxy without socksio
        raise TargetError(f"cannot use the proxy {access.proxy}: {exc}", hint="pip install socksio") from exc
    client = Client(
        config=single,
        field_manager=FIELD_MANAGER,
        timeout=httpx2.Timeout(timeout),
        transport=transport,
        trust_env=False,
    )
    return Connection(client=client, server=access.server, access=access)
