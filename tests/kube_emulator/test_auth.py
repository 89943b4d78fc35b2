"""Authentication as kube-apiserver does it: a static token, client certificates, exec credential plugins.

Each mode is checked with the clients users run: kubectl, the official ``kubernetes`` client and
lightkube; what each client does when its exec token expires or is refused is recorded here as fact.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from arxdeploy.testing.kube import KubeEmulator
from arxdeploy.testing.kube.tls import generate
from tests.kube_emulator.conftest import kubectl, needs_kubectl
from tests.support import wait_until

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"


def user_of(kube: KubeEmulator) -> dict[str, Any]:
    return dict(yaml.safe_load(kube.kubeconfig.read_text())["users"][0]["user"])


def whoami(api: httpx.Client) -> dict[str, Any]:
    review = api.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={})
    assert review.status_code == 201, review.text
    info: dict[str, Any] = review.json()["status"]["userInfo"]
    return info


def with_certificate(kube: KubeEmulator, tmp_path: Path, cert: bytes, key: bytes) -> ssl.SSLContext:
    (tmp_path / "client.crt").write_bytes(cert)
    (tmp_path / "client.key").write_bytes(key)
    context = kube.ssl_context()
    context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    return context


# the static token


def test_the_static_token_is_the_default(kube: KubeEmulator, api: httpx.Client) -> None:
    assert user_of(kube) == {"token": kube.token}
    assert whoami(api) == {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}


def test_a_request_without_valid_credentials_is_a_401_status(kube: KubeEmulator) -> None:
    kube.reset_calls()
    with httpx.Client(base_url=kube.url, verify=kube.ssl_context()) as anonymous:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {kube.token}"}):
            response = anonymous.get("/api/v1/namespaces", headers=headers)
            assert response.status_code == 401
            assert response.json() == {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "Unauthorized",
                "reason": "Unauthorized",
                "code": 401,
            }
        assert anonymous.get("/api/v1/namespaces", headers=kube.headers).status_code == 200
    # what was refused is counted apart, and in the calls too
    assert kube.unauthorized == {"GET /api/v1/namespaces": 3}
    assert kube.calls["GET /api/v1/namespaces"] == 4
    kube.reset_calls()
    assert kube.unauthorized == {}


# client certificates


@pytest.fixture
def cert_kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(auth="cert", user="jane", groups=("dev", "ops"), ready_delay=0.05) as kube:
        yield kube


def test_the_kubeconfig_holds_a_client_certificate_naming_the_user_and_groups(cert_kube: KubeEmulator) -> None:
    user = user_of(cert_kube)
    assert set(user) == {"client-certificate-data", "client-key-data"}  # as kind writes it: no token
    certificate = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "jane"
    assert [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev", "ops"]
    assert certificate.issuer == x509.load_pem_x509_certificate(cert_kube.certificates.ca_pem).subject
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@needs_kubectl
def test_kubectl_is_the_certificates_user(cert_kube: KubeEmulator) -> None:
    review = json.loads(kubectl(cert_kube.kubeconfig, "auth", "whoami", "-o", "json"))
    info = review["status"]["userInfo"]
    assert info["username"] == "jane"
    assert info["groups"] == ["dev", "ops", "system:authenticated"]
    [credential] = info["extra"]["authentication.kubernetes.io/credential-id"]
    assert credential.startswith("X509SHA256=")
    assert "default" in kubectl(cert_kube.kubeconfig, "get", "namespaces", "-o", "name")


def test_the_official_client_and_lightkube_present_the_certificate(cert_kube: KubeEmulator) -> None:
    from lightkube import Client, KubeConfig
    from lightkube.resources.core_v1 import Namespace

    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(cert_kube.kubeconfig))
    try:
        review = client.AuthenticationV1Api(api_client).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == "jane"
    finally:
        api_client.close()
    light = Client(KubeConfig.from_file(str(cert_kube.kubeconfig)))
    try:
        assert light.get(Namespace, "default").metadata.name == "default"
    finally:
        light.close()


def test_certificates_and_tokens_both_authenticate_and_nothing_else_does(
    cert_kube: KubeEmulator, tmp_path: Path
) -> None:
    with httpx.Client(base_url=cert_kube.url, verify=cert_kube.ssl_context()) as bare:
        assert bare.get("/api/v1/namespaces").status_code == 401
        assert bare.get("/api/v1/namespaces", headers=cert_kube.headers).status_code == 200  # a token still works
    context = with_certificate(cert_kube, tmp_path, *cert_kube.client_certificate("bob", ["qa"]))
    with httpx.Client(base_url=cert_kube.url, verify=context) as bob:
        assert whoami(bob)["username"] == "bob"
        assert whoami(bob)["groups"] == ["qa", "system:authenticated"]


def test_a_certificate_from_another_ca_fails_the_tls_handshake(cert_kube: KubeEmulator, tmp_path: Path) -> None:
    # kube-apiserver would answer 401; Python's ssl verifies client certificates in the handshake
    stranger = generate().client_certificate("mallory", ("system:masters",))
    context = with_certificate(cert_kube, tmp_path, *stranger)
    with httpx.Client(base_url=cert_kube.url, verify=context) as mallory, pytest.raises(httpx.HTTPError):
        mallory.get("/api/v1/namespaces")


# exec credential plugins


def exec_section(kube: KubeEmulator) -> dict[str, Any]:
    section: dict[str, Any] = user_of(kube)["exec"]
    return section


def run_plugin(kube: KubeEmulator, info: dict[str, Any] | None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the kubeconfig's plugin as a client does: its command, args and env, KUBERNETES_EXEC_INFO."""
    section = exec_section(kube)
    environment = {**os.environ, **{item["name"]: item["value"] for item in section["env"]}, **env}
    environment.pop("KUBERNETES_EXEC_INFO", None)
    if info is not None:
        environment["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    return subprocess.run(
        [section["command"], *section["args"]], env=environment, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("version", [V1, V1BETA1])
def test_the_kubeconfig_runs_the_shipped_plugin(version: str) -> None:
    with KubeEmulator(auth="exec", exec_api_version=version) as kube:
        section = exec_section(kube)
        assert section["apiVersion"] == version
        assert section["args"][:2] == ["-m", "arxdeploy.testing.kube.credential"]
        assert section["interactiveMode"] == "Never"  # required by v1
        assert section["provideClusterInfo"] is True
        assert "token" not in user_of(kube)


def test_the_plugin_prints_an_exec_credential_and_only_unexpired_minted_tokens_pass() -> None:
    with KubeEmulator(auth="exec", exec_api_version=V1BETA1, exec_token_ttl=1) as kube:
        info = {"apiVersion": V1BETA1, "kind": "ExecCredential", "spec": {"interactive": False}}
        result = run_plugin(kube, info)
        assert result.returncode == 0, result.stderr
        credential = json.loads(result.stdout)
        assert (credential["apiVersion"], credential["kind"]) == (V1BETA1, "ExecCredential")
        status = credential["status"]
        assert status["expirationTimestamp"].endswith("Z")
        [minted] = kube.minted
        assert minted.exec_info == info
        assert status["expirationTimestamp"] == minted.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        bearer = {"Authorization": f"Bearer {status['token']}"}
        with httpx.Client(base_url=kube.url, verify=kube.ssl_context()) as api:
            assert api.get("/api/v1/namespaces/default", headers=bearer).status_code == 200
            forged = {"Authorization": f"Bearer {status['token'][:-2]}xx"}
            assert api.get("/api/v1/namespaces/default", headers=forged).status_code == 401
            wait_until(minted.expired, what="the token to expire")
            expired = api.get("/api/v1/namespaces/default", headers=bearer)
            assert expired.status_code == 401
            assert expired.json()["reason"] == "Unauthorized"


def test_the_plugin_fails_without_the_issuer_key_or_with_another_version() -> None:
    with KubeEmulator(auth="exec") as kube:
        refused = run_plugin(kube, None, ARXDEPLOY_EMULATOR_ISSUER_KEY="wrong")
        assert refused.returncode == 1
        assert "refused to issue a token: 401" in refused.stderr
        mismatched = run_plugin(kube, {"apiVersion": V1BETA1, "kind": "ExecCredential", "spec": {}})
        assert mismatched.returncode == 1
        assert "is not an ExecCredential of client.authentication.k8s.io/v1" in mismatched.stderr
        assert kube.exec_runs == 0


@needs_kubectl
@pytest.mark.parametrize("version", [V1, V1BETA1])
def test_kubectl_runs_the_plugin_once_per_invocation_with_its_exec_info(version: str) -> None:
    with KubeEmulator(auth="exec", exec_api_version=version, user="arn:aws:iam::1:role/ci") as kube:
        review = json.loads(kubectl(kube.kubeconfig, "auth", "whoami", "-o", "json"))
        assert review["status"]["userInfo"]["username"] == "arn:aws:iam::1:role/ci"
        assert kube.exec_runs == 1
        kubectl(kube.kubeconfig, "get", "namespace", "default")
        assert kube.exec_runs == 2  # a new process has no token cached
        info = kube.minted[0].exec_info
        assert info is not None
        assert (info["apiVersion"], info["kind"]) == (version, "ExecCredential")
        assert info["spec"]["interactive"] is False  # interactiveMode Never, and no terminal
        assert info["spec"]["cluster"]["server"] == kube.url  # provideClusterInfo
        ca = base64.b64decode(info["spec"]["cluster"]["certificate-authority-data"])
        assert ca == kube.certificates.ca_pem


def test_the_official_client_reruns_the_plugin_before_each_request_near_expiry() -> None:
    # kubernetes.config treats a token expiring within 5 minutes (EXPIRY_SKEW_PREVENTION_DELAY) as
    # expired: with EKS's 15-minute tokens, the last 5 minutes run the plugin on every request
    from kubernetes import client, config

    with KubeEmulator(auth="exec", exec_token_ttl=60) as kube:
        api_client = config.new_client_from_config(config_file=str(kube.kubeconfig))
        try:
            assert kube.exec_runs == 1  # run once when the configuration loads
            info = kube.minted[0].exec_info
            assert info is not None
            assert info["spec"]["cluster"]["server"] == kube.url  # provideClusterInfo
            core = client.CoreV1Api(api_client)
            core.read_namespace("default")
            core.read_namespace("default")
            assert kube.exec_runs == 3
        finally:
            api_client.close()


def test_the_official_client_keeps_a_long_token_and_does_not_rerun_on_a_401() -> None:
    from kubernetes import client, config

    with KubeEmulator(auth="exec", exec_token_ttl=3600) as kube:
        api_client = config.new_client_from_config(config_file=str(kube.kubeconfig))
        try:
            core = client.CoreV1Api(api_client)
            core.read_namespace("default")
            core.read_namespace("default")
            assert kube.exec_runs == 1
            kube.revoke_tokens()
            with pytest.raises(client.ApiException) as refused:
                core.read_namespace("default")
            assert refused.value.status == 401
            assert kube.exec_runs == 1  # it kept the refused token: every later call fails too
        finally:
            api_client.close()


def test_lightkube_reruns_a_v1beta1_plugin_on_a_401_and_retries() -> None:
    # lightkube ignores expirationTimestamp and passes no KUBERNETES_EXEC_INFO; a 401 makes it run
    # the plugin again and repeat the request
    from lightkube import Client, KubeConfig
    from lightkube.resources.core_v1 import Namespace

    with KubeEmulator(auth="exec", exec_api_version=V1BETA1, exec_token_ttl=1) as kube:
        light = Client(KubeConfig.from_file(str(kube.kubeconfig)))
        try:
            assert light.get(Namespace, "default").metadata.name == "default"
            assert kube.exec_runs == 1
            assert kube.minted[0].exec_info is None
            wait_until(kube.minted[0].expired, what="the token to expire")
            kube.reset_calls()
            assert light.get(Namespace, "default").metadata.name == "default"
            assert kube.exec_runs == 2
            assert kube.calls["GET /api/v1/namespaces/default"] == 2  # refused once, then repeated
        finally:
            light.close()


def test_lightkube_refuses_a_v1_plugin() -> None:
    from lightkube import Client, ConfigError, KubeConfig
    from lightkube.resources.core_v1 import Namespace

    with KubeEmulator(auth="exec", exec_api_version=V1) as kube:
        light = Client(KubeConfig.from_file(str(kube.kubeconfig)))
        try:
            with pytest.raises(ConfigError, match=f"auth exec api version {V1} not implemented"):
                light.get(Namespace, "default")
        finally:
            light.close()
        assert kube.exec_runs == 0
