"""`arxdeploy init`: the files a repository needs to deploy with arxdeploy from GitHub Actions.

``scaffold`` writes ``deployment_config.yaml``, ``.github/workflows/deploy_pipeline.yml`` and,
for the kubernetes target, template folders ``k8s/staging/`` and ``k8s/production/`` plus
``k8s/rbac/`` (the namespaces and what arxdeploy may do in them) and ``k8s/server/`` (the approval
server in the cluster, on the same record, with what it may do). The texts live under
``templates/`` with two small conventions, so each file reads as what it produces:

- ``__NAME__`` markers are replaced (``__SERVICE__``, ``__IMAGE__``, ...). arxdeploy's own
  ``{service}``-style placeholders in the Kubernetes templates are left for ``k8s render``.
- Lines between ``#@ if local`` (or ``#@ if kubernetes``) and ``#@ end`` are kept for that
  target only; the marker lines themselves are dropped.

Nothing is written when any file exists, unless ``force``: the error lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from arxdeploy.errors import UsageError

TARGETS = ("local", "kubernetes")
DEFAULT_SERVICE = "my-service"
# Where the workflow installs arxdeploy from: the composite action at the root of arxdeploy's
# repository. actionlint accepts a remote `owner/repo@ref` offline (it does not fetch it).
ACTION = "arxdeploy/arxdeploy@v0"
# Kubernetes target: jobs on GitHub's machines. Local target: the app runs where arxdeploy
# runs, so the jobs that deploy run on one long-lived self-hosted runner.
RUNNERS = {"kubernetes": "ubuntu-latest", "local": "[self-hosted, linux]"}

CONFIG = Path("deployment_config.yaml")
WORKFLOW = Path(".github/workflows/deploy_pipeline.yml")
MANIFESTS = Path("k8s")
RBAC = MANIFESTS / "rbac"
SERVER = MANIFESTS / "server"
# The approval server's image: arxdeploy publishes none (the Dockerfile at the root of its
# repository builds it), so the default names the registry path to replace and this version.
DEFAULT_SERVER_IMAGE = "ghcr.io/your-org/arxdeploy:{version}"
SERVER_CONFIG = "arxdeploy-server-config"  # the ConfigMap of the server's deployment_config.yaml and templates
SERVER_HOME = "/srv/arxdeploy"  # where the server's pod has them (and its state dir, writable)
MANIFEST_FILES = ("deployment.yaml", "service.yaml", "configmap.yaml", "hpa.yaml", "pdb.yaml", "networkpolicy.yaml")

_SERVICE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_IMAGE = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_MARKER = re.compile(r"__[A-Z_]+__")
_BLOCK = re.compile(r"#@ (?:if (\w+)|end)\s*")


@dataclass(frozen=True)
class EnvironmentSizing:
    """The seed's numbers for one environment, for the Kubernetes templates."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str
    max_replicas: int  # 2 x replicas, as arxdeploy's own HPA
    log_level: str


ENVIRONMENTS = {
    "staging": EnvironmentSizing("50m", "64Mi", "200m", "256Mi", 4, "debug"),
    "production": EnvironmentSizing("100m", "128Mi", "500m", "512Mi", 6, "info"),
}


def scaffold(
    *,
    directory: Path,
    target: str = "local",
    service: str = DEFAULT_SERVICE,
    image: str | None = None,
    server_image: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Write the files for ``target`` under ``directory``; return their paths, in writing order.

    ``image`` is the registry path without a tag (default ``ghcr.io/your-org/<service>``).
    ``server_image`` is the approval server's image with its tag (kubernetes; default
    ``DEFAULT_SERVER_IMAGE`` with this arxdeploy's version).
    Raises ``UsageError`` for a bad target, service or image, and, unless ``force``, when any
    of the files exists already (naming every one; nothing is written then).
    """
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r}", hint=f"use one of: {', '.join(TARGETS)}")
    if len(service) > 53 or not _SERVICE.fullmatch(service):
        raise UsageError(
            f"{service!r} is not a valid service name",
            hint="use at most 53 lowercase letters, digits and '-', starting and ending with a letter or digit",
        )
    image = image or f"ghcr.io/your-org/{service}"
    if not _IMAGE.fullmatch(image):
        raise UsageError(
            f"{image!r} is not an image name like ghcr.io/your-org/{service}",
            hint="give the registry path in lowercase without a tag: arxdeploy appends :{version}",
        )
    server_image = server_image or DEFAULT_SERVER_IMAGE.format(version=_own_version())
    name, _, tag = server_image.rpartition(":")
    if not (_IMAGE.fullmatch(name) and _TAG.fullmatch(tag)):
        raise UsageError(
            f"{server_image!r} is not an image with a tag like ghcr.io/your-org/arxdeploy:{_own_version()}",
            hint="give the registry path in lowercase and the tag you pushed arxdeploy's image with",
        )
    files = _files(target=target, service=service, image=image, server_image=server_image)
    existing = [directory / path for path in files if (directory / path).exists()]
    if existing and not force:
        listed = "\n".join(f"  {path}" for path in existing)
        many = len(existing) != 1
        raise UsageError(
            f"{len(existing)} file{'s' if many else ''} {'exist' if many else 'exists'} already:\n{listed}",
            hint="move them away, or run again with --force to overwrite them",
        )
    written = []
    for path, text in files.items():
        out = directory / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        written.append(out)
    return written


def _files(*, target: str, service: str, image: str, server_image: str) -> dict[Path, str]:
    """Every file for ``target``, by path relative to the repository, filled in."""
    common = {"SERVICE": service, "IMAGE": image, "ACTION": ACTION, "RUNNER": RUNNERS[target]}
    files = {
        CONFIG: _fill("deployment_config.yaml", target, common),
        WORKFLOW: _fill("deploy_pipeline.yml", target, common),
    }
    if target == "kubernetes":
        for environment, sizing in ENVIRONMENTS.items():
            values = {
                **common,
                "ENVIRONMENT": environment,
                "NAMESPACE": f"{service}-{environment}",
                "CPU_REQUEST": sizing.cpu_request,
                "MEMORY_REQUEST": sizing.memory_request,
                "CPU_LIMIT": sizing.cpu_limit,
                "MEMORY_LIMIT": sizing.memory_limit,
                "MAX_REPLICAS": str(sizing.max_replicas),
                "LOG_LEVEL": sizing.log_level,
            }
            for name in MANIFEST_FILES:
                files[MANIFESTS / environment / name] = _fill(f"k8s/env/{name}", target, values)
            files[RBAC / f"{environment}.yaml"] = _fill("k8s/rbac/rbac.yaml", target, values)
        files.update(_server_files(target, common, service=service, server_image=server_image))
    return files


def _server_files(target: str, common: dict[str, str], *, service: str, server_image: str) -> dict[Path, str]:
    """k8s/server/: the server in the last environment's namespace (where the tokens live, as
    ``store.cluster.Placement.tokens`` puts them), and its access to each environment's record."""
    home = f"{service}-{list(ENVIRONMENTS)[-1]}"
    templates = {f"{env}.{name}": MANIFESTS / env / name for env in ENVIRONMENTS for name in MANIFEST_FILES}
    keys = {CONFIG.name: CONFIG} | templates
    command = [f"kubectl create configmap {SERVER_CONFIG} -n {home} --dry-run=client -o yaml \\"]
    command += [f"  --from-file={key}={path} \\" for key, path in keys.items()]
    command.append("  | kubectl apply --server-side --field-manager=arxdeploy -f -")
    mounts = [
        f"            - {{name: config, mountPath: {SERVER_HOME}/{path.as_posix()}, subPath: {key}, readOnly: true}}"
        for key, path in keys.items()
    ]
    values = {
        **common,
        "SERVER_NAMESPACE": home,
        "SERVER_IMAGE": server_image,
        "CONFIG_COMMAND": "\n".join(f"#   {line}" for line in command),
        "CONFIG_MOUNTS": "\n".join(mounts),
    }
    files = {SERVER / "server.yaml": _fill("k8s/server/server.yaml", target, values)}
    for environment in ENVIRONMENTS:
        scoped = {**values, "ENVIRONMENT": environment, "NAMESPACE": f"{service}-{environment}"}
        files[SERVER / f"records-{environment}.yaml"] = _fill("k8s/server/records.yaml", target, scoped)
    return files


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("arxdeploy")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "latest"


def _fill(template: str, target: str, values: dict[str, str]) -> str:
    text = resources.files(__package__).joinpath("templates", template).read_text(encoding="utf-8")
    text = _select(text, target)
    text = _MARKER.sub(lambda m: values.get(m.group(0)[2:-2], m.group(0)), text)
    left = sorted(set(_MARKER.findall(text)))
    if left:  # a template names a value nobody gives: a bug here, not the user's
        raise AssertionError(f"template {template} has unfilled markers: {', '.join(left)}")
    return text


def _select(text: str, target: str) -> str:
    """Keep the lines of ``#@ if <target>`` blocks for ``target`` only; drop the marker lines."""
    out: list[str] = []
    keep = True
    for line in text.splitlines(keepends=True):
        block = _BLOCK.fullmatch(line.strip())
        if block is None:
            if keep:
                out.append(line)
        else:
            keep = block.group(1) in (None, target)
    return "".join(out)
