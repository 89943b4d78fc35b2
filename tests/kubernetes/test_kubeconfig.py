"""Reading kubeconfigs as client-go does, and the credential sources' timing, with a clock we move.

No cluster here: files, a real plugin process, and ``kubeconfig.find`` / ``credentials`` / ``access``.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from arxdeploy.errors import TargetError
from arxdeploy.targets.kubernetes import kubeconfig, tls
from arxdeploy.targets.kubernetes.access import proxy_for
from arxdeploy.targets.kubernetes.credentials import ExecPlugin, TokenFile
from arxdeploy.targets.kubernetes.kubeconfig import Cluster, ExecConfig
from arxdeploy.testing.kube.tls import generate

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"


def kubeconfig_file(
    path: Path, *, clusters: dict[str, Any], users: dict[str, Any], contexts: dict[str, Any], current: str | None = None
) -> Path:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
    }
    if current:
        body["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body))
    return path


def one(path: Path, user: dict[str, Any], *, cluster: dict[str, Any] | None = None) -> Path:
    return kubeconfig_file(
        path,
        clusters={"c": cluster or {"server": "https://10.0.0.1:6443"}},
        users={"u": user},
        contexts={"ctx": {"cluster": "c", "user": "u"}},
        current="ctx",
    )


def find(path: Path | None = None, context: str | None = None, **environ: str) -> kubeconfig.Found:
    return kubeconfig.find(kubeconfig=path, context=context, environ=environ, service_account=Path("/nonexistent"))


# --- loading rules ------------------------------------------------------------------------------


def test_kubeconfig_files_merge_as_client_go_merges_them(tmp_path: Path) -> None:
    first = kubeconfig_file(
        tmp_path / "a" / "config",
        clusters={"shared": {"server": "https://first:6443"}},
        users={"me": {"token": "first-token"}},
        contexts={"one": {"cluster": "shared", "user": "me"}},
    )
    second = kubeconfig_file(
        tmp_path / "b" / "config",
        clusters={"shared": {"server": "https://second:6443"}, "other": {"server": "https://other:6443"}},
        users={"me": {"token": "second-token"}},
        contexts={"two": {"cluster": "other", "user": "me"}},
        current="two",
    )
    listed = f"{first}:{tmp_path / 'missing'}:{second}"  # a missing file is skipped

    found = find(KUBECONFIG=listed)

    assert found.cluster.server == "https://other:6443"  # the current-context from the second file
    assert found.user.token == "first-token"  # the first file to name a user wins it whole
    assert found.origin == f"context two in {second}"
    assert find(context="one", KUBECONFIG=listed).cluster.server == "https://first:6443"


def test_home_kube_config_is_the_default_and_relative_paths_follow_the_file(tmp_path: Path) -> None:
    pair = generate()
    folder = tmp_path / ".kube"
    folder.mkdir()
    (folder / "certs").mkdir()
    (folder / "certs" / "ca.crt").write_bytes(pair.ca_pem)
    (folder / "certs" / "me.crt").write_bytes(pair.cert_pem)
    (folder / "certs" / "me.key").write_bytes(pair.key_pem)
    (folder / "token").write_text("from-a-file\n")
    one(
        folder / "config",
        {"client-certificate": "certs/me.crt", "client-key": "certs/me.key", "tokenFile": "token"},
        cluster={"server": "https://10.0.0.1:6443/", "certificate-authority": "certs/ca.crt"},
    )

    found = find(HOME=str(tmp_path))

    assert found.cluster.server == "https://10.0.0.1:6443"
    assert found.cluster.ca == pair.ca_pem
    assert (found.user.certificate, found.user.key) == (pair.cert_pem, pair.key_pem)
    assert found.user.token_file == folder / "token"


def test_an_exec_command_with_a_slash_is_relative_to_the_kubeconfig_and_a_bare_one_is_on_path(
    tmp_path: Path,
) -> None:
    relative = one(tmp_path / "k1", {"exec": {"apiVersion": V1, "command": "./bin/helper", "interactiveMode": "Never"}})
    bare = one(tmp_path / "k2", {"exec": {"apiVersion": V1, "command": "aws", "interactiveMode": "Never"}})
    exec_relative, exec_bare = find(relative).user.exec, find(bare).user.exec
    assert exec_relative is not None and exec_relative.command == str(tmp_path / "bin" / "helper")
    assert exec_bare is not None and exec_bare.command == "aws"


def test_what_aws_eks_update_kubeconfig_writes_is_read_whole(tmp_path: Path) -> None:
    user = {
        "exec": {
            "apiVersion": V1BETA1,
            "command": "aws",
            "args": ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod", "--output", "json"],
            "env": [{"name": "AWS_PROFILE", "value": "deploy"}],
        }
    }
    found = find(one(tmp_path / "config", user))
    assert found.user.exec == ExecConfig(
        api_version=V1BETA1,
        command="aws",
        args=("--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod", "--output", "json"),
        env=(("AWS_PROFILE", "deploy"),),
        interactive_mode="IfAvailable",  # v1beta1's default (api/v1/defaults.go)
    )


@pytest.mark.parametrize(
    ("user", "problem", "hint"),
    [
        ({"auth-provider": {"name": "gcp"}}, "auth provider 'gcp'", "gke-gcloud-auth-plugin"),
        ({"auth-provider": {"name": "azure"}}, "auth provider 'azure'", "kubelogin convert-kubeconfig"),
        ({"token": "t", "username": "a", "password": "b"}, "both a token and a username/password", None),
        ({"client-certificate-data": "Zm9v"}, "client-key(-data) is missing", None),
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}}, "v1alpha1", "v1"),
        ({"exec": {"apiVersion": V1, "command": "x"}}, "must say its interactiveMode", "interactiveMode: Never"),
        ({"as": "admin", "token": "t"}, "impersonates another user", None),
    ],
)
def test_a_user_that_cannot_work_is_refused_with_what_to_do(
    tmp_path: Path, user: dict[str, Any], problem: str, hint: str | None
) -> None:
    with pytest.raises(TargetError) as caught:
        find(one(tmp_path / "config", user))
    assert problem in caught.value.message
    if hint:
        assert caught.value.hint is not None and hint in caught.value.hint


def test_without_a_kubeconfig_a_pod_uses_its_service_account(tmp_path: Path) -> None:
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("sa-token")
    (account / "ca.crt").write_bytes(generate().ca_pem)
    pod = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}

    found = kubeconfig.find(kubeconfig=None, context=None, environ=pod, service_account=account)

    assert found.cluster.server == "https://[fd00::1]:443"
    assert found.cluster.ca == (account / "ca.crt").read_bytes()
    assert found.user.token_file == account / "token" and found.user.token is None
    assert found.origin == "the pod's service account"
    with pytest.raises(TargetError, match="only the pod's service account"):
        kubeconfig.find(kubeconfig=None, context="kind", environ=pod, service_account=account)
    with pytest.raises(TargetError, match="no kubeconfig found, and not running in a pod"):
        kubeconfig.find(kubeconfig=None, context=None, environ={"HOME": str(tmp_path)}, service_account=account)


# --- credential sources and their clocks --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def test_a_token_file_is_read_again_every_50_seconds_and_after_a_401(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "token"
    path.write_text("one\n")
    source = TokenFile(path, now=clock)
    first = source.grant()
    assert first.authorization == "Bearer one"

    path.write_text("two\n")  # the kubelet rotates it
    clock.advance(seconds=49)
    assert source.grant() is first  # not due yet
    clock.advance(seconds=1)
    assert source.grant().authorization == "Bearer two"

    path.write_text("three\n")
    refused = source.grant()
    fresh = source.refused(refused)
    assert fresh is not None and fresh.authorization == "Bearer three"
    assert source.refused(refused) is fresh  # another thread refused the old one too: no new read needed
    path.unlink()  # a failed read keeps the token we have (client-go: "Unable to rotate token")
    clock.advance(minutes=5)
    assert source.grant() is fresh


def exec_plugin(tmp_path: Path, clock: Clock, *, lifetime: timedelta | None) -> ExecPlugin:
    """A real plugin process answering a token numbered by its run, expiring ``lifetime`` after ``clock``."""
    runs = tmp_path / "runs"
    script = tmp_path / "plugin"
    script.write_text(
        f"#!{sys.executable}\nimport json, os, pathlib, sys\n"
        f"runs = pathlib.Path({str(runs)!r}); n = len(runs.read_text()) + 1 if runs.exists() else 1\n"
        "runs.write_text('x' * n)\n"
        "status = {'token': f'token-{n}'}\n"
        "if os.environ.get('EXPIRES'): status['expirationTimestamp'] = os.environ['EXPIRES']\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential', 'status': status}))\n"
    )
    script.chmod(0o755)
    env = {"EXPIRES": (clock() + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")} if lifetime else {}
    config = ExecConfig(api_version=V1, command=str(script), interactive_mode="Never", env=tuple(env.items()))
    return ExecPlugin(config, cluster=Cluster(server="https://10.0.0.1:6443"), environ={}, now=clock)


def test_an_exec_token_is_kept_until_shortly_before_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    source = exec_plugin(tmp_path, clock, lifetime=timedelta(minutes=15))  # as EKS's

    first = source.grant()
    clock.advance(minutes=14, seconds=49)
    assert source.grant() is first and source.runs == 1
    clock.advance(seconds=1)  # 10 s before its expirationTimestamp
    assert source.grant().authorization == "Bearer token-2"
    assert source.runs == 2


def test_a_short_lived_exec_token_is_renewed_a_quarter_of_its_life_early(tmp_path: Path) -> None:
    clock = Clock()
    source = exec_plugin(tmp_path, clock, lifetime=timedelta(seconds=8))
    first = source.grant()
    clock.advance(seconds=5.9)
    assert source.grant() is first
    clock.advance(seconds=0.1)  # 2 s (a quarter of 8) before it expires
    assert source.grant() is not first and source.runs == 2


def test_an_exec_token_without_expiry_is_kept_until_refused(tmp_path: Path) -> None:
    clock = Clock()
    source = exec_plugin(tmp_path, clock, lifetime=None)
    first = source.grant()
    clock.advance(days=30)
    assert source.grant() is first
    renewed = source.refused(first)
    assert renewed is not None and renewed.authorization == "Bearer token-2"
    assert source.refused(first) is renewed and source.runs == 2  # the stale grant does not run it again


# --- TLS ---------------------------------------------------------------------------------------


def test_a_certificates_expiry_is_read_from_its_der() -> None:
    from cryptography import x509

    certificates = generate()
    expected = x509.load_pem_x509_certificate(certificates.cert_pem).not_valid_after_utc
    assert tls.not_after(certificates.cert_pem) == expected
    assert tls.not_after(b"not a certificate") is None


def test_a_key_that_does_not_match_the_certificate_is_named(tmp_path: Path) -> None:
    one_pair, other = generate(), generate()
    context = tls.context(ca=one_pair.ca_pem, insecure=False)
    with pytest.raises(TargetError, match="the key does not match the certificate"):
        tls.load_client_certificate(context, certificate=one_pair.cert_pem, key=other.key_pem, what="user u")


def test_a_base64_ca_that_is_not_pem_is_named(tmp_path: Path) -> None:
    cluster = {"server": "https://10.0.0.1:6443", "certificate-authority-data": base64.b64encode(b"junk").decode()}
    found = find(one(tmp_path / "config", {"token": "t"}, cluster=cluster))
    with pytest.raises(TargetError, match="certificate authority cannot be loaded"):
        tls.context(ca=found.cluster.ca, insecure=False)


# --- proxies, as Go's http.ProxyFromEnvironment picks them ------------------------------------


@pytest.mark.parametrize(
    ("url", "environ", "proxy"),
    [
        ("https://api.example.com:6443", {"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://api.example.com:6443", {"https_proxy": "proxy:3128"}, "http://proxy:3128"),
        ("https://api.example.com:6443", {"HTTP_PROXY": "http://proxy:3128"}, None),  # https uses HTTPS_PROXY
        ("https://127.0.0.1:6443", {"HTTPS_PROXY": "http://proxy:3128"}, None),  # never loopback
        ("https://localhost:6443", {"HTTPS_PROXY": "http://proxy:3128"}, None),
        ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
        ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com"}, None),
        ("https://example.org", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "http://p:1"),
        ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.1.2.3:443"}, "http://p:1"),
        ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, None),
    ],
)
def test_the_proxy_is_the_one_client_go_would_use(url: str, environ: dict[str, str], proxy: str | None) -> None:
    assert proxy_for(url, environ) == proxy


def test_the_kubeconfigs_proxy_url_and_tls_server_name_are_kept(tmp_path: Path) -> None:
    cluster = {"server": "https://10.0.0.1:6443", "proxy-url": "socks5://jump:1080", "tls-server-name": "kubernetes"}
    found = find(one(tmp_path / "config", {"token": "t"}, cluster=cluster))
    assert (found.cluster.proxy_url, found.cluster.server_name) == ("socks5://jump:1080", "kubernetes")


def test_a_users_repr_never_shows_its_secrets(tmp_path: Path) -> None:
    found = find(one(tmp_path / "config", {"token": "s3cr3t-token", "exec": None}))
    assert "s3cr3t-token" not in repr(found) and "s3cr3t-token" not in json.dumps(str(found))


def test_a_socks_proxy_without_socksio_says_what_to_install(tmp_path: Path) -> None:
    from importlib.util import find_spec

    from arxdeploy.targets.kubernetes.client import connect

    if find_spec("socksio") is not None:
        pytest.skip("socksio is installed here")
    cluster = {"server": "https://10.0.0.1:6443", "proxy-url": "socks5://127.0.0.1:1080"}
    with pytest.raises(TargetError, match=r"cannot use the proxy socks5://127\.0\.0\.1:1080") as caught:
        connect(kubeconfig=one(tmp_path / "config", {"token": "t"}, cluster=cluster), context=None, environ={})
    assert caught.value.hint == "pip install socksio"
