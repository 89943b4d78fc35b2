"""The API server's service proxy, forwarding to a real local server a test registers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from arxdeploy.testing.kube import BEHAVIOUR_ANNOTATION, KubeEmulator, NodeSpec
from tests.kube_emulator.conftest import DEPLOYMENTS, PODS, SERVICES, deployment, rollout_done, wait_for
from tests.support import wait_until

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
}


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.path} auth={self.headers.get('Authorization')}".encode()
        if self.path.startswith("/headers"):
            body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200 if not self.path.startswith("/fail") else 500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def backend() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_proxy_forwards_to_the_registered_backend(kube: KubeEmulator, api: httpx.Client, backend: str) -> None:
    api.post(SERVICES, json=SERVICE)
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    kube.register_service_backend("default", "web", backend)
    for name in ("web", "web:80", "web:http", "http:web:80"):
        response = api.get(f"{SERVICES}/{name}/proxy/healthz", params={"deep": "1"})
        assert response.status_code == 200, name
        assert response.text == "/healthz?deep=1 auth=None"  # the cluster token is not passed on
    assert api.get(f"{SERVICES}/web/proxy/fail").status_code == 500


def test_the_proxy_needs_a_ready_pod_behind_the_service(kube: KubeEmulator, api: httpx.Client, backend: str) -> None:
    api.post(SERVICES, json=SERVICE)
    kube.register_service_backend("default", "web", backend)
    response = api.get(f"{SERVICES}/web/proxy/healthz")
    assert response.status_code == 503
    assert response.json()["message"] == 'no endpoints available for service "web"'
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "never-ready"}))
    wait_until_running = wait_for(api, f"{DEPLOYMENTS}/web", lambda d: d["status"].get("replicas") == 1)
    assert wait_until_running
    assert api.get(f"{SERVICES}/web/proxy/healthz").status_code == 503


def test_the_proxy_of_a_missing_service_is_not_found(api: httpx.Client) -> None:
    response = api.get(f"{SERVICES}/ghost/proxy/")
    assert response.status_code == 404
    assert response.json()["reason"] == "NotFound"


def test_endpoints_follow_the_pods_a_service_selects(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(SERVICES, json=SERVICE)
    endpoints = "/api/v1/namespaces/default/endpoints"
    assert api.get(f"{endpoints}/web").json()["subsets"] == []
    api.post(DEPLOYMENTS, json=deployment(replicas=2))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    [subset] = api.get(f"{endpoints}/web").json()["subsets"]
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
    assert {a["targetRef"]["name"] for a in subset["addresses"]} == {
        p["metadata"]["name"] for p in kube.objects("pods")
    }
    assert "notReadyAddresses" not in subset
    assert [e["metadata"]["name"] for e in api.get(endpoints).json()["items"]] == ["web"]
    assert api.get(f"{endpoints}/ghost").status_code == 404
    assert api.delete(f"{endpoints}/web").status_code == 405


def test_endpoints_list_unready_pods_apart(kube: KubeEmulator, api: httpx.Client) -> None:
    named = {**SERVICE, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "api"}]}}
    api.post(SERVICES, json=named)
    body = deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "never-ready"})
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "api", "containerPort": 9000}]
    api.post(DEPLOYMENTS, json=body)
    ep = wait_for(api, "/api/v1/namespaces/default/endpoints/web", lambda e: bool(e["subsets"]))
    assert ep["subsets"][0]["ports"] == [{"port": 9000, "protocol": "TCP"}]
    assert len(ep["subsets"][0]["notReadyAddresses"]) == 1
    assert "addresses" not in ep["subsets"][0]


def the_pod(kube: KubeEmulator, selector: str = "app=web") -> str:
    pods = wait_until(lambda: kube.objects("pods", "default", selector), what="a pod")
    return str(pods[0]["metadata"]["name"])


def test_the_pod_proxy_reaches_a_pod_before_it_is_ready(kube: KubeEmulator, api: httpx.Client, backend: str) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "never-ready"}))
    wait_for(api, f"{DEPLOYMENTS}/web", lambda d: d["status"].get("replicas") == 1)
    pod = the_pod(kube)
    wait_until(
        lambda: "running" in kube.objects("pods", "default")[0]["status"]["containerStatuses"][0]["state"],
        what="the container to run",
    )
    kube.register_pod_backend("default", backend, pod=pod)
    for target in (pod, f"{pod}:8080", f"http:{pod}:8080"):
        response = api.get(f"{PODS}/{target}/proxy/healthz", params={"deep": "1"})
        assert response.status_code == 200, target
        assert response.text == "/healthz?deep=1 auth=None"
    forwarded = api.get(f"{PODS}/{pod}:8080/proxy/headers").json()
    assert forwarded["X-Forwarded-Uri"] == f"/api/v1/namespaces/default/pods/{pod}:8080/proxy/headers"
    assert forwarded["X-Forwarded-Proto"] == "https"
    refused = api.get(f"{PODS}/{pod}:9999/proxy/")  # no container declares it: nothing listens there
    assert refused.status_code == 503
    assert refused.json()["message"].startswith("error trying to reach service: dial tcp 10.244.")
    assert refused.json()["message"].endswith(":9999: connect: connection refused")
    api.post(SERVICES, json=SERVICE)
    assert api.get(f"{SERVICES}/web/proxy/").status_code == 503  # the Service wants a ready pod


def test_pod_proxy_answers_for_pods_that_cannot_answer(kube: KubeEmulator, api: httpx.Client, backend: str) -> None:
    assert api.get(f"{PODS}/ghost/proxy/").status_code == 404
    assert api.get(f"{PODS}/a:b:c:d/proxy/").json()["message"] == 'invalid pod request "a:b:c:d"'
    body = deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "crashloop"})
    api.post(DEPLOYMENTS, json=body)
    pod = the_pod(kube)
    kube.register_pod_backend("default", backend, selector="app=web")
    wait_until(lambda: api.get(f"{PODS}/{pod}/proxy/").status_code == 503, what="a refused connection")


def test_a_pod_without_a_node_has_no_address() -> None:
    with (
        KubeEmulator(ready_delay=0.05, nodes=(NodeSpec("tiny", pods=0),)) as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context()) as api,
    ):
        api.post(DEPLOYMENTS, json=deployment(replicas=1))
        pod = the_pod(kube)
        response = api.get(f"{PODS}/{pod}/proxy/")
        assert response.status_code == 400
        assert response.json()["message"] == "address not allowed"


def test_a_service_backend_answers_for_the_pods_it_selects(kube: KubeEmulator, api: httpx.Client, backend: str) -> None:
    api.post(SERVICES, json=SERVICE)
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    kube.register_service_backend("default", "web", backend)
    assert api.get(f"{PODS}/{the_pod(kube)}/proxy/ok").text == "/ok auth=None"
    missing_port = api.get(f"{SERVICES}/web:9999/proxy/")
    assert missing_port.status_code == 503
    assert missing_port.json()["message"] == 'no service port "9999" found for service "web"'


def test_the_built_in_app_answers_when_nothing_else_does() -> None:
    with (
        KubeEmulator(ready_delay=0.05, serve_app=True) as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context()) as api,
    ):
        assert kube.app_url is not None
        api.post(SERVICES, json=SERVICE)
        api.post(DEPLOYMENTS, json=deployment(replicas=1, image="registry.example/web:1.4.2"))
        wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
        pod = the_pod(kube)
        for path in ("/health", "/api/health", "/healthz", "/readyz"):
            assert api.get(f"{SERVICES}/web:http/proxy{path}").text == "ok\n", path
            assert api.get(f"{PODS}/{pod}/proxy{path}").status_code == 200, path
        version = api.get(f"{PODS}/{pod}/proxy/api/version").json()
        assert version == {"version": "1.4.2", "image": "registry.example/web:1.4.2", "pod": f"default/{pod}"}
        assert api.get(f"{SERVICES}/web/proxy/nothing-here").status_code == 404
