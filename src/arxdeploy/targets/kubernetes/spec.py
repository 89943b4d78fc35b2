"""What the Kubernetes target needs from the config, as plain frozen data.

Targets may not import ``arxdeploy.config`` (layers contract), so ``spec_from_config`` reads a
``Config`` by its attributes; the wiring calls it and hands the result over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from arxdeploy.errors import UsageError, unknown_environment


@dataclass(frozen=True)
class EgressSpec:
    """One place a color's pods may connect to: a network, or pods (in a namespace, or their own)."""

    cidr: str | None = None
    namespace: str | None = None
    pods: tuple[tuple[str, str], ...] = ()  # label key, value
    ports: tuple[int, ...] = ()  # empty: every port
    protocol: str = "TCP"


@dataclass(frozen=True)
class EnvSpec:
    replicas: int
    requests: dict[str, str] = field(default_factory=dict)  # {"cpu": "50m", "memory": "64Mi"}
    limits: dict[str, str] = field(default_factory=dict)
    max_replicas: int | None = None  # the autoscaler's bound; None: twice replicas
    cpu_utilization: int = 70  # percent of the CPU request
    egress: tuple[EgressSpec, ...] | None = None  # None: egress is not restricted


@dataclass(frozen=True)
class GatewaySpec:
    """The Gateway an environment's HTTPRoute attaches to, and what the route answers for."""

    name: str
    namespace: str | None = None  # None: the environment's namespace
    section_name: str | None = None
    hostnames: tuple[str, ...] = ()
    path: str = "/"


SERVICE_ROUTER, GATEWAY_ROUTER = "service", "gateway"


@dataclass(frozen=True)
class KubeSpec:
    service: str
    environments: dict[str, EnvSpec]
    namespace: str = "{service}-{environment}"
    image: str | None = None  # "{version}" filled in; defaults to "<service>:<version>"
    container_port: int = 8080
    manifests: Path | None = None  # absolute, or relative to the working folder
    # environment -> {file name: text} of <manifests>/<environment>/*.yaml, read once (the
    # content approvals bind to): rendering never reads the folder again.
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    kubeconfig: Path | None = None
    context: str | None = None
    health_endpoints: tuple[str, ...] = ("/health",)
    interval: timedelta = timedelta(seconds=2)
    timeout: timedelta = timedelta(seconds=2)
    success_threshold: int = 2
    failure_threshold: int = 3
    progress_deadline: timedelta = timedelta(minutes=5)
    traffic_router: str = SERVICE_ROUTER  # or GATEWAY_ROUTER (then ``gateway`` is set)
    gateway: GatewaySpec | None = None
    # image as rendered (tag) -> the same image by digest, ``<name>@sha256:...``: resolved by the
    # image_digest gate before the approval, so what runs is what was checked and approved.
    pinned: Mapping[str, str] = field(default_factory=dict)

    @property
    def routes_by_gateway(self) -> bool:
        return self.traffic_router == GATEWAY_ROUTER and self.gateway is not None

    def env(self, environment: str) -> EnvSpec:
        try:
            return self.environments[environment]
        except KeyError:
            raise unknown_environment(environment, self.environments) from None

    def namespace_for(self, environment: str) -> str:
        return self.namespace.format(service=self.service, environment=environment)


def _amounts(amounts: Any) -> dict[str, str]:
    if amounts is None:
        return {}
    return {k: str(v) for k, v in (("cpu", amounts.cpu), ("memory", amounts.memory)) if v is not None}


def _egress(rule: Any) -> EgressSpec:
    return EgressSpec(
        cidr=rule.cidr,
        namespace=rule.namespace,
        pods=tuple(sorted(rule.pods.items())),
        ports=tuple(rule.ports),
        protocol=rule.protocol,
    )


def spec_from_config(
    config: Any, *, base_dir: Path | None = None, read_folder: Callable[[Path], Mapping[str, str]] | None = None
) -> KubeSpec:
    """Build the spec from an ``arxdeploy.config.Config`` whose target is kubernetes.

    ``read_folder`` gives a folder's ``*.yaml`` files as text (the wiring passes the
    snapshot's); by default they are read from disk, now, once.
    """
    k8s = config.target.kubernetes
    if k8s is None:
        raise UsageError("the config has no target.kubernetes section", hint="add target.kubernetes")
    base = base_dir or Path()
    checks = config.health_checks
    environments = {
        name: EnvSpec(
            replicas=env.replicas,
            requests=_amounts(env.resources.requests if env.resources else None),
            limits=_amounts(env.resources.limits if env.resources else None),
            max_replicas=env.autoscaling.max_replicas,
            cpu_utilization=env.autoscaling.cpu_utilization,
            egress=None if env.egress is None else tuple(_egress(rule) for rule in env.egress),
        )
        for name, env in config.environments.items()
    }
    manifests = base / k8s.manifests if k8s.manifests else None
    read = read_folder or _read_folder
    return KubeSpec(
        service=config.service,
        environments=environments,
        namespace=k8s.namespace,
        image=k8s.image,
        container_port=k8s.container_port,
        manifests=manifests,
        templates={name: read(manifests / name) for name in environments} if manifests else {},
        kubeconfig=base / k8s.kubeconfig if k8s.kubeconfig else None,
        context=k8s.context,
        health_endpoints=tuple(checks.endpoints),
        interval=checks.interval,
        timeout=checks.timeout,
        success_threshold=checks.success_threshold,
        failure_threshold=checks.failure_threshold,
        progress_deadline=checks.progress_deadline,
        traffic_router=k8s.traffic_router,
        gateway=_gateway(k8s.gateway),
    )


def _gateway(section: Any) -> GatewaySpec | None:
    if section is None:
        return None
    return GatewaySpec(
        name=section.name,
        namespace=section.namespace,
        section_name=section.section_name,
        hostnames=tuple(section.hostnames),
        path=section.path,
    )


def pin(spec: KubeSpec, image: str, pinned: str) -> KubeSpec:
    """``spec`` whose pods run ``pinned`` (``<name>@sha256:...``) wherever they would run ``image``."""
    return replace(spec, pinned={**spec.pinned, image: pinned})


def with_templates(spec: KubeSpec, manifests: Path) -> KubeSpec:
    """``spec`` rendering from the template folder ``manifests``, read now (tests, tools)."""
    return replace(
        spec, manifests=manifests, templates={name: _read_folder(manifests / name) for name in spec.environments}
    )


def _read_folder(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.yaml"))}
