"""Every credential a kubeconfig can hold, through real deployments on the emulator.

The API calls (lightkube) and the health checks (httpx, through the API server's proxies) must
authenticate the same way: a static token, a client certificate (as kind writes), an exec plugin
of ``client.authentication.k8s.io/v1`` or ``v1beta1`` whose tokens expire, and a pod's service
account whose token file rotates. Each mode deploys through the CLI's wiring with checks that
pass; ``kube.exec_runs`` and ``kube.unauthorized`` say how the plugin was run and what was refused.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import socket
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from lightkube.resources.core_v1 import Namespace

from arxdeploy.cli.main import cli
from arxdeploy.domain.states import Color, State
from arxdeploy.errors import TargetError, TransientTargetError
from arxdeploy.health import Access, HttpHealthProbe
from arxdeploy.ports import Probe
from arxdeploy.targets.kubernetes.client import connect
from arxdeploy.targets.kubernetes.spec import KubeSpec
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.kube import KubeEmulator
from arxdeploy.testing.kube import tls as emulator_tls
from tests.drive import deploy
from tests.fixtures.kube import SEED_K8S, Cluster
from tests.kubernetes.engines import engine_on, quick_plan
from tests.support import wait_until

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
ENV = "staging"
NS = "arxos-staging"

CHECKS = """\
deployment_strategy:
  blue_green: {traffic_switch_delay: 0, scale_down_delay: 0}
health_checks:
  endpoints: [/health]
  interval: 100ms
  success_threshold: 2
  failure_threshold: 3
  progress_deadline: 20s
"""


# --- helpers ------------------------------------------------------------------------------


def write_config(folder: Path, kubeconfig: Path, *, monitoring: str = "300ms", scripts: str = "") -> Path:
    """The seed config on ``kubeconfig``, with fast checks (and ``scripts`` as custom checks)."""
    text = SEED_K8S.replace("    container_port: 8080", f"    container_port: 8080\n    kubeconfig: {kubeconfig}")
    text = text.replace("monitoring_duration: 5m", f"monitoring_duration: {monitoring}")
    text = text.split("health_checks:")[0] + CHECKS
    if scripts:
        text += f"  custom_checks:\n{scripts}"
    path = folder / "deployment_config.yaml"
    path.write_text(text)
    return path


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["-c", str(config), *args], env=env)


def deployed(config: Path, version: str, *options: str) -> dict[str, Any]:
    result = run(config, *options, "deploy", "--env", ENV, "--version", version, "--json")
    assert result.stdout.startswith("{"), result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    assert answer.get("state") == "succeeded", answer
    return answer


def serve(kube: KubeEmulator, app_url: str, namespace: str = NS) -> None:
    for service in ("arxos", "arxos-preview"):
        kube.register_service_backend(namespace, service, app_url)


def kubeconfig_of(kube: KubeEmulator) -> dict[str, Any]:
    return dict(yaml.safe_load(kube.kubeconfig.read_text()))


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def with_user(kube: KubeEmulator, path: Path, user: dict[str, Any]) -> Path:
    """The emulator's kubeconfig with another ``users[0].user``."""
    config = kubeconfig_of(kube)
    config["users"][0]["user"] = user
    return write_kubeconfig(path, config)


def plugin(folder: Path, body: str, name: str = "plugin") -> Path:
    """An exec credential plugin: a Python script, run as a real process."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n{body}\n")
    path.chmod(0o755)
    return path


def proxied_calls(calls: dict[str, int]) -> int:
    return sum(n for call, n in calls.items() if "/proxy" in call)


def spec_for(kubeconfig: KubeEmulator | Path | None, spec: KubeSpec) -> KubeSpec:
    """``spec`` on ``kubeconfig`` (an emulator's, a file, or none: in a pod), in namespace arxos-staging."""
    path = kubeconfig.kubeconfig if isinstance(kubeconfig, KubeEmulator) else kubeconfig
    return replace(spec, kubeconfig=path, namespace=NS)


# --- each mode, through a real deployment with passing checks --------------------------------


MODES = {
    "token": {"auth": "token"},
    "cert": {"auth": "cert"},
    "exec-v1": {"auth": "exec", "exec_api_version": V1},
    "exec-v1beta1": {"auth": "exec", "exec_api_version": V1BETA1},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_deploys_and_their_checks_use_the_kubeconfigs_own_credentials(mode: str, tmp_path: Path, app_url: str) -> None:
    with KubeEmulator(ready_delay=0.05, **MODES[mode]) as kube:  # type: ignore[arg-type]
        serve(kube, app_url)
        config = write_config(tmp_path, kube.kubeconfig)

        first = deployed(config, "1.0")
        second = deployed(config, "1.1")

        assert (first["new_color"], second["new_color"]) == ("blue", "green")
        assert proxied_calls(kube.calls) >= 2 * 2  # the checks went through the API server's proxy
        assert kube.unauthorized == {}  # not one request, API call or check, was refused
        user = kubeconfig_of(kube)["users"][0]["user"]
        if mode.startswith("exec"):
            assert set(user) == {"exec"}
            assert kube.exec_runs == 2  # one run per command, serving its API calls and its checks
            assert {minted.api_version for minted in kube.minted} == {MODES[mode]["exec_api_version"]}
        elif mode == "cert":
            assert set(user) == {"client-certificate-data", "client-key-data"}  # as kind writes it
            assert kube.exec_runs == 0


def test_the_plugin_gets_kubernetes_exec_info_with_the_cluster_and_no_terminal(tmp_path: Path) -> None:
    with KubeEmulator(auth="exec") as kube:
        config = write_config(tmp_path, kube.kubeconfig)
        assert run(config, "k8s", "diff", "--env", ENV, "--version", "1.0").exit_code == 1  # 1: all of it is new
        [minted] = kube.minted
    ca = base64.b64encode(kube.certificates.ca_pem).decode()
    assert minted.exec_info == {
        "apiVersion": V1,
        "kind": "ExecCredential",
        "spec": {"interactive": False, "cluster": {"server": kube.url, "certificate-authority-data": ca}},
    }


def test_a_deployment_outlives_several_exec_tokens(tmp_path: Path, app_url: str) -> None:
    """Tokens living 2 to 3 s (renewed at three quarters), a deployment of more than 6 s: the plugin
    runs again as each nears its expiry, at least twice after its first run."""
    with KubeEmulator(auth="exec", exec_token_ttl=2, ready_delay=0.05) as kube:
        serve(kube, app_url)
        config = write_config(tmp_path, kube.kubeconfig, monitoring="6s")

        deployed(config, "1.0")

        runs = kube.exec_runs
        minted = kube.minted
    assert runs >= 3, runs
    # one run at a time, each after the one before (the renewals of one command never overlap)
    assert all(later.issued > earlier.issued for earlier, later in itertools.pairwise(minted))


def all_running(target: KubernetesTarget) -> bool:
    replicas = target.inspect(environment=ENV).colors[Color.BLUE].replicas
    return bool(replicas) and all(r.running for r in replicas)


def test_a_revoked_token_makes_the_next_call_run_the_plugin_again(tmp_path: Path, spec: KubeSpec, app_url: str) -> None:
    with KubeEmulator(auth="exec", ready_delay=0.05) as kube:
        serve(kube, app_url)
        with KubernetesTarget(spec=spec_for(kube, spec), state_dir=tmp_path) as target:
            target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=1)
            assert kube.exec_runs == 1
            # A pod not ready yet costs one more read (its Events): count reads once it is ready.
            wait_until(lambda: all_running(target))

            kube.reset_calls()
            target.inspect(environment=ENV)
            reads = sum(kube.calls.values())
            kube.revoke_tokens()
            kube.reset_calls()
            state = target.inspect(environment=ENV)  # refused once, the plugin runs, sent again

            assert state.preview_url is not None
            assert kube.exec_runs == 2
            assert sum(kube.unauthorized.values()) == 1
            assert sum(kube.calls.values()) == reads + 1  # the refused read, sent again

            # The checks share the source: the token the API calls renewed serves them as is.
            answer = httpx.get(state.preview_url + "/health", auth=target.probe_auth(), verify=target.probe_verify())
            assert answer.status_code == 200
            assert kube.exec_runs == 2

            # And a check that meets a revoked token renews it for the API calls too.
            kube.revoke_tokens()
            answer = httpx.get(state.preview_url + "/health", auth=target.probe_auth(), verify=target.probe_verify())
            assert answer.status_code == 200
            target.inspect(environment=ENV)
            assert kube.exec_runs == 3
            assert sum(kube.unauthorized.values()) == 2


def test_one_plugin_run_serves_every_thread_that_needed_a_token(tmp_path: Path, spec: KubeSpec) -> None:
    with (
        KubeEmulator(auth="exec") as kube,
        KubernetesTarget(spec=spec_for(kube, spec), state_dir=tmp_path) as target,
    ):
        auth, verify = target.probe_auth(), target.probe_verify()
        start = threading.Barrier(8)
        answers: list[int] = []

        def call() -> None:
            start.wait()
            with httpx.Client(verify=verify, auth=auth) as client:
                answers.append(client.get(kube.url + "/api/v1/namespaces/default").status_code)

        def all_at_once() -> None:
            threads = [threading.Thread(target=call) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        all_at_once()  # none has a token yet
        assert (answers, kube.exec_runs) == ([200] * 8, 1)
        kube.revoke_tokens()
        answers.clear()
        all_at_once()  # every one is refused with the same token
        assert (answers, kube.exec_runs) == ([200] * 8, 2)


# --- what a plugin that fails looks like ------------------------------------------------------


def test_a_missing_plugin_says_how_to_install_it(tmp_path: Path) -> None:
    with KubeEmulator(auth="exec") as kube:
        user = kubeconfig_of(kube)["users"][0]["user"]
        user["exec"]["command"] = "arxdeploy-test-no-such-plugin"
        user["exec"]["installHint"] = "Install it with: brew install no-such-plugin"
        config = write_config(tmp_path, with_user(kube, tmp_path / "kubeconfig", user))

        result = run(config, "k8s", "diff", "--env", ENV, "--version", "1.0")

    assert result.exit_code == 5, result.output
    assert "exec credential plugin arxdeploy-test-no-such-plugin was not found" in result.stderr
    assert "hint: Install it with: brew install no-such-plugin" in result.stderr


def test_a_failing_plugin_shows_its_stderr_and_exit_status(tmp_path: Path, spec: KubeSpec) -> None:
    failing = plugin(
        tmp_path, 'print("Error: the SSO session has expired or is invalid", file=sys.stderr)\nsys.exit(3)'
    )
    with KubeEmulator() as kube:
        exec_user = {"exec": {"apiVersion": V1, "command": str(failing), "interactiveMode": "Never"}}
        kubeconfig = with_user(kube, tmp_path / "kubeconfig", exec_user)
        with (
            KubernetesTarget(spec=spec_for(kubeconfig, spec), state_dir=tmp_path) as target,
            pytest.raises(TransientTargetError) as caught,
        ):
            target.inspect(environment=ENV)
    message = caught.value.message
    assert "exec credential plugin plugin failed with exit status 3" in message
    assert "Error: the SSO session has expired" in message


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("print('not json')", "did not print an ExecCredential (its output is not JSON)"),
        (
            "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',"
            " 'status': {'token': 'abc'}}))",
            "is configured to use API version client.authentication.k8s.io/v1, plugin returned version",
        ),
        (
            "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
            " 'status': {}}))",
            "didn't return a token or cert/key pair",
        ),
    ],
)
def test_what_a_plugin_prints_is_checked_as_client_go_checks_it(
    output: str, problem: str, tmp_path: Path, spec: KubeSpec
) -> None:
    answering = plugin(tmp_path, output)
    with KubeEmulator() as kube:
        exec_user = {"exec": {"apiVersion": V1, "command": str(answering), "interactiveMode": "Never"}}
        kubeconfig = with_user(kube, tmp_path / "kubeconfig", exec_user)
        with (
            KubernetesTarget(spec=spec_for(kubeconfig, spec), state_dir=tmp_path) as target,
            pytest.raises(TargetError) as caught,
        ):
            target.inspect(environment=ENV)
    assert problem in caught.value.message
    assert "abc" not in caught.value.message  # what it printed (a token, maybe) is never repeated


def test_a_plugin_that_needs_a_terminal_is_refused_with_what_to_do(tmp_path: Path, spec: KubeSpec) -> None:
    with KubeEmulator(auth="exec") as kube:
        user = kubeconfig_of(kube)["users"][0]["user"]
        user["exec"]["interactiveMode"] = "Always"
        kubeconfig = with_user(kube, tmp_path / "kubeconfig", user)
        with (
            KubernetesTarget(spec=spec_for(kubeconfig, spec), state_dir=tmp_path) as target,
            pytest.raises(TargetError, match="needs a terminal") as caught,
        ):
            target.inspect(environment=ENV)
        assert kube.exec_runs == 0
    assert caught.value.hint is not None and "log in with the plugin first" in caught.value.hint


def test_a_plugin_can_answer_with_a_client_certificate(tmp_path: Path, spec: KubeSpec, app_url: str) -> None:
    """As Pinniped's and Teleport's plugins do: no token, a certificate for the TLS handshake."""
    with KubeEmulator(auth="cert", ready_delay=0.05) as kube:
        serve(kube, app_url)
        cert, key = kube.client_certificate("bob", ["qa"])
        status = {"clientCertificateData": cert.decode(), "clientKeyData": key.decode()}
        credential = {"apiVersion": V1, "kind": "ExecCredential", "status": status}
        answering = plugin(tmp_path, f"print(json.dumps({credential!r}))")
        exec_user = {"exec": {"apiVersion": V1, "command": str(answering), "interactiveMode": "Never"}}
        kubeconfig = with_user(kube, tmp_path / "kubeconfig", exec_user)
        with KubernetesTarget(spec=spec_for(kubeconfig, spec), state_dir=tmp_path) as target:
            target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=1)

            def ready() -> str | None:
                state = target.inspect(environment=ENV)
                blue = state.colors.get(Color.BLUE)
                return state.preview_url if blue and any(r.running for r in blue.replicas) else None

            url = wait_until(ready, what="a ready blue pod behind the preview Service")
            answer = httpx.get(url + "/health", auth=target.probe_auth(), verify=target.probe_verify())
        assert answer.status_code == 200
        assert kube.unauthorized == {}


# --- client certificates ----------------------------------------------------------------------


def test_an_expired_client_certificate_says_so(tmp_path: Path, spec: KubeSpec) -> None:
    with KubeEmulator(auth="cert") as kube:
        cert, key = kube.certificates.client_certificate("kubernetes-admin", lifetime=timedelta(minutes=-1))
        user = {
            "client-certificate-data": base64.b64encode(cert).decode(),
            "client-key-data": base64.b64encode(key).decode(),
        }
        kubeconfig = with_user(kube, tmp_path / "kubeconfig", user)
        with (
            KubernetesTarget(spec=spec_for(kubeconfig, spec), state_dir=tmp_path) as target,
            pytest.raises(TargetError, match=r"the client certificate of context .* expired at 20") as caught,
        ):
            target.inspect(environment=ENV)
        assert kube.calls == {}  # said before anything was sent
    assert not isinstance(caught.value, TransientTargetError)
    assert caught.value.hint is not None and "kind export kubeconfig" in caught.value.hint


def test_the_api_calls_trust_the_kubeconfigs_ca_and_nothing_else(tmp_path: Path, spec: KubeSpec) -> None:
    with KubeEmulator() as kube:
        config = kubeconfig_of(kube)
        other = emulator_tls.generate().ca_pem
        config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(other).decode()
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", config)
        with (
            KubernetesTarget(spec=spec_for(kubeconfig, spec), state_dir=tmp_path) as target,
            pytest.raises(TransientTargetError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            target.inspect(environment=ENV)
        assert kube.calls == {}


# --- in a pod: the service account, its token rotated by the kubelet --------------------------


def test_in_a_pod_the_service_account_token_is_read_again_as_it_rotates(
    tmp_path: Path, spec: KubeSpec, app_url: str
) -> None:
    with KubeEmulator(ready_delay=0.05) as kube:
        serve(kube, app_url)
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "ca.crt").write_bytes(kube.certificates.ca_pem)
        (account / "namespace").write_text(NS)
        (account / "token").write_text(kube.authenticator.mint(V1, None)["status"]["token"])
        port = kube.url.rsplit(":", 1)[1]
        env = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
        connection = connect(kubeconfig=None, context=None, environ=env, service_account=account)
        assert connection.server == kube.url
        with KubernetesTarget(spec=spec_for(None, spec), state_dir=tmp_path / "state", connection=connection) as target:
            engine, health = engine_on(target, tmp_path)
            try:
                _, first = deploy(engine, plan=PLAN, version="1.0")
                assert first.state is State.SUCCEEDED, first.failure

                # The kubelet writes a new token; the old one stops working.
                kube.revoke_tokens()
                (account / "token").write_text(kube.authenticator.mint(V1, None)["status"]["token"])
                kube.reset_calls()
                _, second = deploy(engine, plan=PLAN, version="1.1")
            finally:
                health.close()
        assert second.state is State.SUCCEEDED, second.failure
        assert sum(kube.unauthorized.values()) == 1  # once refused, then read again


PLAN = quick_plan(replicas=1, monitoring=0.3)


# --- check scripts through the loopback door --------------------------------------------------

CURL_CHECK = """\
#!/bin/sh
echo "$ARXDEPLOY_CHECK_URL" >> "$ARXDEPLOY_TEST_SEEN"
curl -fsS "$ARXDEPLOY_CHECK_URL/health"
"""


def test_a_check_script_reaches_the_color_with_curl_and_the_door_closes_after_the_command(
    tmp_path: Path, app_url: str
) -> None:
    seen = tmp_path / "seen.txt"
    script = tmp_path / "check_curl.sh"
    script.write_text(CURL_CHECK)
    script.chmod(0o755)
    with KubeEmulator(auth="exec", ready_delay=0.05) as kube:
        serve(kube, app_url)
        config = write_config(tmp_path, kube.kubeconfig, scripts="    - name: curl\n      script: check_curl.sh\n")

        result = run(
            config, "deploy", "--env", ENV, "--version", "1.0", "--json", env={"ARXDEPLOY_TEST_SEEN": str(seen)}
        )

        assert json.loads(result.stdout)["state"] == "succeeded", result.output
    urls = seen.read_text().split()
    assert len(urls) >= 2  # success_threshold rounds, at least
    hosts = {url.split("/")[2] for url in urls}
    assert len(hosts) == 1
    [host] = hosts
    assert host.startswith("127.0.0.1:")
    keys = [url.split("/")[3] for url in urls]
    assert len(set(keys)) >= 2 and all(len(key) >= 32 for key in keys)  # a new key each round
    with pytest.raises(ConnectionRefusedError):  # gone with the command
        socket.create_connection(("127.0.0.1", int(host.split(":")[1])), timeout=5).close()


# --- --context ------------------------------------------------------------------------------


def test_context_chooses_the_kubeconfig_context_over_the_config(tmp_path: Path) -> None:
    with KubeEmulator() as kube:
        config = kubeconfig_of(kube)
        config["clusters"].append({"name": "far", "cluster": {"server": "https://127.0.0.1:1"}})
        config["contexts"].append({"name": "far", "context": {"cluster": "far", "user": "arxdeploy-emulator"}})
        config["current-context"] = "far"
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", config)
        service = write_config(tmp_path, kubeconfig)
        service.write_text(service.read_text().replace("    kubeconfig:", "    context: far\n    kubeconfig:"))

        diff = ("k8s", "diff", "--env", ENV, "--version", "1.0")
        configured = run(service, *diff)
        chosen = run(service, "--context", "arxdeploy-emulator", *diff)
        unknown = run(service, "--context", "nope", *diff)

    assert configured.exit_code != 0 and "cannot reach the API server" in configured.stderr
    assert chosen.exit_code == 1, chosen.output  # k8s diff: something would change
    assert "+ new object" in chosen.stdout
    assert unknown.exit_code == 5
    assert "no context 'nope' in kubeconfig" in unknown.stderr and "known: arxdeploy-emulator, far" in unknown.stderr


def test_context_on_a_local_target_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(
        "service: demo\ntarget:\n  type: local\n  local:\n    command: [app]\n"
        "environments:\n  staging:\n    replicas: 1\n"
    )
    result = run(config, "--context", "kind-dev", "status")
    assert result.exit_code == 2
    assert "--context kind-dev names a kubeconfig context" in result.stderr


def test_context_is_a_global_option_in_the_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "--context NAME" in result.stdout and "target.kubernetes.context" in result.stdout


# --- secrets ----------------------------------------------------------------------------------


def test_no_credential_reaches_the_output_the_log_or_the_record(tmp_path: Path, app_url: str) -> None:
    seen = tmp_path / "seen.txt"
    script = tmp_path / "check_curl.sh"
    script.write_text(CURL_CHECK)
    script.chmod(0o755)
    with KubeEmulator(auth="exec", exec_token_ttl=1, ready_delay=0.05) as kube:
        serve(kube, app_url)
        config = write_config(
            tmp_path, kube.kubeconfig, monitoring="1s", scripts="    - name: curl\n      script: check_curl.sh\n"
        )
        env = {"ARXDEPLOY_TEST_SEEN": str(seen)}
        outputs = [run(config, "deploy", "--env", ENV, "--version", v, "--json", env=env) for v in ("1.0", "1.1")]
        kube.revoke_tokens()
        outputs.append(run(config, "-v", "rollback", "--env", ENV, "--json", env=env))
        identifier = json.loads(outputs[0].stdout)["id"]
        outputs += [run(config, *args) for args in (["status", "--json"], ["history"], ["show", identifier, "--json"])]
        tokens = [minted.token for minted in kube.minted]
        issuer_key = kube.authenticator.issuer_key
        # the record lives in the cluster: every object of it, as a reader of the namespace sees it
        record = kube.objects("configmaps", None, "arxdeploy.io/record")
        record += kube.objects("leases", None, "arxdeploy.io/record")

    assert len(tokens) >= 4
    secrets = [*tokens, issuer_key, *(url.split("/")[3] for url in seen.read_text().split())]
    files = [p for p in (tmp_path / ".arxdeploy").rglob("*") if p.is_file()]
    # the log file of this process (opened by the first command that logged, maybe an earlier test's)
    files += [Path(h.baseFilename) for h in logging.getLogger("arxdeploy").handlers if hasattr(h, "baseFilename")]
    assert "arxdeploy.log" in {p.name for p in files}
    assert len([o for o in record if o["metadata"]["labels"]["arxdeploy.io/record"] == "deployment"]) == 3
    places = {f"command {i}": r.output for i, r in enumerate(outputs)}
    places["the record"] = json.dumps(record)
    places |= {str(p): p.read_bytes().decode("utf-8", "replace") for p in files}
    leaks = [(where, secret[:6]) for where, text in places.items() for secret in secrets if secret in text]
    assert leaks == []


# --- on the session's cluster: the emulator, or a real one (kind, with client certificates) ------


def test_checks_reach_a_color_with_the_kubeconfigs_own_credentials(
    target: KubernetesTarget, cluster: Cluster, app_url: str, tmp_path: Path
) -> None:
    """What kind's kubeconfig (client certificates) needs: the probe presents the same certificate."""
    ns = target.spec.namespace_for(ENV)
    if cluster.kube is not None:
        serve(cluster.kube, app_url, ns)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=1)

    def ready() -> str | None:
        state = target.inspect(environment=ENV)
        blue = state.colors.get(Color.BLUE)
        return state.preview_url if blue and blue.replicas and all(r.running for r in blue.replicas) else None

    url = wait_until(ready, timeout=120, what=f"blue in {ns} to be ready")
    health = HttpHealthProbe(
        endpoints=["/health"],
        cwd=tmp_path,
        environ={},
        access=Access(verify=target.probe_verify(), auth=target.probe_auth(), proxy=target.probe_proxy()),
    )
    try:
        [result] = health.round(probes=[Probe(url, Color.BLUE, "1.0", "blue")], timeout=timedelta(seconds=10)).results
    finally:
        health.close()
    assert result.ok, result.answer
    assert result.answer == "HTTP 200"


def test_deploy_and_rollback_through_the_cli_on_the_sessions_cluster(
    k8s_spec: KubeSpec, cluster: Cluster, app_url: str, tmp_path: Path
) -> None:
    """The CLI's own wiring against the session's cluster; on kind, its kubeconfig as kind wrote it."""
    ns = k8s_spec.namespace_for(ENV)
    if cluster.kube is not None:
        serve(cluster.kube, app_url, ns)
    config = write_config(tmp_path, cluster.kubeconfig, monitoring="2s")
    text = config.read_text()
    text = text.replace("    image: ghcr.io/arxos/arxos-backend:{version}", f"    image: '{k8s_spec.image}'")
    text = text.replace("    container_port: 8080", f"    container_port: {k8s_spec.container_port}")
    text = text.replace("    kubeconfig:", f"    namespace: '{k8s_spec.namespace}'\n    kubeconfig:")
    text = text.replace("progress_deadline: 20s", "progress_deadline: 3m")
    config.write_text(text)
    try:
        first, second = deployed(config, "1.0"), deployed(config, "1.1")
        back = run(config, "rollback", "--env", ENV, "--json")
        assert json.loads(back.stdout)["state"] == "succeeded", back.output
    finally:
        if cluster.kube is None:
            with KubernetesTarget(spec=k8s_spec, state_dir=tmp_path / "cleanup") as cleaner:
                cleaner.connection.client.delete(Namespace, ns)
    assert (first["new_color"], second["new_color"]) == ("blue", "green")
    assert json.loads(back.stdout)["version"] == "1.0"
