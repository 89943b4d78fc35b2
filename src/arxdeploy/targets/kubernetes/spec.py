"""What the Kubernetes target needs from the config, as plain frozen data.

Targets may not import ``arxdeploy.config`` (layers contract), so ``spec_from_config`` reads a
``Config`` by its attributes; the wiring calls it and hands the result over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from arxdeploy.errors import NotFoundError, UsageError


@dataclass(frozen=True)
class EnvSpec:
    replicas: int
    requests: dict[str, str] = field(default_factory=dict)  # {"cpu": "50m", "memory": "64Mi"}
    limits: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KubeSpec:
    service: str
    environments: dict[str, EnvSpec]
    namespace: str = "{service}-{environment}"
    image: str | None = None  # "{version}" filled in; defaults to "<service>:<version>"
    container_port: int = 8080
    manifests: Path | None = None  # absolute, or relative to the working folder
    kubeconfig: Path | None = None
    context: str | None = None
    health_endpoints: tuple[str, ...] = ("/health",)
    interval: timedelta = timedelta(seconds=2)
    timeout: timedelta = timedelta(seconds=2)
    success_threshold: int = 2
    failure_threshold: int = 3
    progress_deadline: timedelta = timedelta(minutes=5)

    def env(self, environment: str) -> EnvSpec:
        try:
            return self.environments[environment]
        except KeyError:
            known = ", ".join(self.environments)
            raise NotFoundError(f"no environment {environment!r} in the config; known: {known}") from None

    def namespace_for(self, environment: str) -> str:
        return self.namespace.format(service=self.service, environment=environment)


def _amounts(amounts: Any) -> dict[str, str]:
    if amounts is None:
        return {}
    return {k: str(v) for k, v in (("cpu", amounts.cpu), ("memory", amounts.memory)) if v is not None}


def spec_from_config(config: Any, *, base_dir: Path | None = None) -> KubeSpec:
    """Build the spec from an ``arxdeploy.config.Config`` whose target is kubernetes."""
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
        )
        for name, env in config.environments.items()
    }
    return KubeSpec(
        service=config.service,
        environments=environments,
        namespace=k8s.namespace,
        image=k8s.image,
        container_port=k8s.container_port,
        manifests=base / k8s.manifests if k8s.manifests else None,
        kubeconfig=base / k8s.kubeconfig if k8s.kubeconfig else None,
        context=k8s.context,
        health_endpoints=tuple(checks.endpoints),
        interval=checks.interval,
        timeout=checks.timeout,
        success_threshold=checks.success_threshold,
        failure_threshold=checks.failure_threshold,
        progress_deadline=checks.progress_deadline,
    )
