"""Endpoints, computed on read from what each Service selects, as the endpoints controller would
keep them: ready pods under ``addresses``, the rest under ``notReadyAddresses``."""

from __future__ import annotations

from typing import Any

from arxdeploy.testing.kube.controller import pod_ready
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.store import Obj, Store

SERVICES, PODS = by_name("services"), by_name("pods")


def selected_pods(store: Store, service: Obj) -> list[Obj]:
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:  # a Service without a selector has manually managed endpoints: none here
        return []
    namespace = service["metadata"]["namespace"]
    return [
        pod
        for pod in store.select(PODS, namespace)
        if all((pod["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
    ]


def _port(service_port: dict[str, Any], pods: list[Obj]) -> int | None:
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    for pod in pods:  # a named targetPort resolves against the containers' port names
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == target:
                    return int(port["containerPort"])
    return None


def endpoints(store: Store, service: Obj) -> Obj:
    pods = [p for p in selected_pods(store, service) if (p.get("status") or {}).get("podIP")]
    meta = service["metadata"]

    def address(pod: Obj) -> dict[str, Any]:
        ref = {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": meta["namespace"]}
        return {"ip": pod["status"]["podIP"], "targetRef": {**ref, "uid": pod["metadata"]["uid"]}}

    ports = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        number = _port(service_port, pods)
        if number is not None:
            entry = {"port": number, "protocol": service_port.get("protocol", "TCP")}
            if service_port.get("name"):
                entry["name"] = service_port["name"]
            ports.append(entry)
    subset: dict[str, Any] = {"ports": ports}
    ready = [address(p) for p in pods if pod_ready(p)]
    not_ready = [address(p) for p in pods if not pod_ready(p)]
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "creationTimestamp": meta.get("creationTimestamp"),
            "resourceVersion": str(store.resource_version),
        },
        "subsets": [subset] if pods and ports else [],
    }
