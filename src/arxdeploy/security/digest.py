"""Gate ``image_digest``: the version's image tag resolved to the digest that will run.

The tag is asked of the registry with the credentials a cluster would pull with (a docker config
file, or the pull secret's ``.dockerconfigjson``); the result's ``facts["pinned"]`` is
``<image>@sha256:...``, which the Kubernetes target then runs (``pin_recorded`` from the record,
before the deploy step starts the new color), and ``facts["digest"]`` is what approvers see and
approve. A tag that does not exist, or credentials the registry refuses, fail here, before
anything changes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from arxdeploy.domain.security import Finding, GateResult, Severity, Status
from arxdeploy.domain.security_events import bind_image
from arxdeploy.security import registry
from arxdeploy.security.registry import Credentials, RegistryError

GATE = "image_digest"
PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson"
PULL_SECRET_KEY = ".dockerconfigjson"


@dataclass(frozen=True)
class DigestSettings:
    insecure_registries: tuple[str, ...] = ()  # host:port reached over plain HTTP


def settings_from(section: Any) -> DigestSettings:
    """The settings of ``security.image_digest`` (``config.models.ImageDigestGate``), read by attribute."""
    return DigestSettings(insecure_registries=tuple(section.insecure_registries))


def default_docker_config(environ: Mapping[str, str]) -> Path | None:
    """Where docker keeps its config: ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"]) / "config.json"
    home = environ.get("HOME")
    return Path(home) / ".docker" / "config.json" if home else None


def credentials_from_file(image: str, path: Path) -> Credentials | None:
    """The credentials for ``image``'s registry in the docker config file ``path`` (None: no entry,
    or no file). ``RegistryError`` (reason ``credentials``) for a file that cannot be read as one."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"{path} cannot be read: {exc.strerror}", reason="credentials") from None
    found = registry.read_docker_config(text, source=str(path))
    return registry.credentials_for(registry.parse_image(image).registry, found, source=str(path))


def credentials_from_pull_secret(image: str, secret: Mapping[str, Any]) -> Credentials | None:
    """The credentials for ``image``'s registry in a Secret of type ``kubernetes.io/dockerconfigjson``
    (as the API server returns it: ``data`` base64)."""
    meta = secret.get("metadata") or {}
    source = f"Secret {meta.get('name')} in namespace {meta.get('namespace')}"
    if secret.get("type") != PULL_SECRET_TYPE:
        raise RegistryError(
            f"{source} is of type {secret.get('type')!r}, not {PULL_SECRET_TYPE}",
            reason="credentials",
            hint="make it with `kubectl create secret docker-registry`",
        )
    encoded = (secret.get("data") or {}).get(PULL_SECRET_KEY)
    try:
        text = base64.b64decode(str(encoded or ""), validate=True)
    except binascii.Error:
        text = b""
    if not text:
        raise RegistryError(f"{source} has no {PULL_SECRET_KEY}", reason="credentials")
    found = registry.read_docker_config(text, source=source)
    return registry.credentials_for(registry.parse_image(image).registry, found, source=source)


def images_of(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """The images the Deployments among ``objects`` run (init containers too), each once, in order;
    an image already named by digest is left out: there is nothing to resolve."""
    found: dict[str, None] = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for key in ("initContainers", "containers"):
            for container in pod.get(key) or []:
                image = container.get("image")
                if isinstance(image, str) and "@" not in image:
                    found[image] = None
    return list(found)


def load_credentials(
    images: Sequence[str], *, docker_config: Path | None = None, pull_secret: Mapping[str, Any] | None = None
) -> dict[str, Credentials]:
    """Registry host -> credentials for ``images``: the pull secret's first (what the kubelet uses),
    then the docker config file's. ``RegistryError`` for a file or Secret that cannot be read."""
    out: dict[str, Credentials] = {}
    for image in images:
        host = registry.parse_image(image).registry
        if host in out:
            continue
        found = credentials_from_pull_secret(image, pull_secret) if pull_secret is not None else None
        if found is None and docker_config is not None:
            found = credentials_from_file(image, docker_config)
        if found is not None:
            out[host] = found
    return out


def check_image_digest(
    *,
    images: Sequence[str],
    settings: DigestSettings,
    credentials: Mapping[str, Credentials] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> GateResult:
    """Resolve each of ``images`` (``registry/name:tag``) now; FAILED when the registry cannot say a digest.

    ``credentials``: registry host -> login (``load_credentials``). ``facts``: ``pinned`` (image ->
    ``name@sha256:...``, for ``targets.kubernetes.spec.pin``), ``digests`` (image -> digest) and
    ``digest`` (the one image's digest; several joined by ',' in image order), for the approvals.
    """
    if not images:
        return GateResult(GATE, Status.NOT_APPLICABLE, "no image to resolve: every image is named by its digest")
    logins = credentials or {}
    digests: dict[str, str] = {}
    pinned: dict[str, str] = {}
    findings: list[Finding] = []
    hints: list[str] = []
    for image in images:
        try:
            host = registry.parse_image(image).registry
            resolved = registry.resolve(
                image, credentials=logins.get(host), insecure=host in settings.insecure_registries, transport=transport
            )
        except RegistryError as exc:
            findings.append(Finding(rule=f"image.{exc.reason}", message=exc.message, severity=Severity.HIGH))
            hints += [exc.hint] if exc.hint else []
            continue
        digests[image], pinned[image] = resolved.digest, resolved.pinned
    facts: dict[str, Any] = {"images": list(images), "digests": digests, "pinned": pinned}
    if findings:
        summary = findings[0].message if len(findings) == 1 else f"{len(findings)} of {len(images)} images unresolved"
        return GateResult(GATE, Status.FAILED, summary, tuple(findings), {**facts, "hints": hints})
    facts["digest"] = ",".join(digests[image] for image in images)
    summary = "; ".join(f"{image} is {digest}" for image, digest in digests.items())
    return GateResult(GATE, Status.PASSED, summary, facts=facts)


def pin_recorded(target: Any, results: Sequence[GateResult]) -> None:
    """Make ``target`` run what the image_digest gate resolved, from its recorded result
    (``domain.security_events.results`` of the deployment's log): a deployment resumed by another
    process (``arxdeploy resume`` after the approvals) runs the digest that was approved, not
    whatever the tag points at by then. Nothing without a passed image_digest result."""
    from arxdeploy.targets.kubernetes.spec import pin

    for result in results:
        if result.gate == GATE and result.status is Status.PASSED:
            for tagged, pinned in (result.facts.get("pinned") or {}).items():
                target.spec = pin(target.spec, str(tagged), str(pinned))


def bound_content(content_now: Callable[[], str], digest_now: Callable[[], str | None]) -> Callable[[], str]:
    """``content_now`` for the approval gate with the image's digest bound in, resolved again when
    the approvals are counted (``domain.security_events.bind_image``): a tag moved meanwhile voids them.
    ``digest_now``: e.g. ``lambda: check(...).facts.get("digest")``."""
    return lambda: bind_image(content_now(), digest_now())


def check(
    *,
    config: Any,
    environment: str,
    version: str,
    image: str | None,
    target: Any,
    base_dir: Path,
    environ: Mapping[str, str],
) -> GateResult:
    """The gate as the security step runs it: what the version's image tags point at now (the
    config's image, or those the templates name), resolved with the credentials the cluster would
    use. It changes nothing: the engine's deploy step has the target run what it recorded
    (``pin_recorded``, through the runner's ``prepare``), in this process or in one that resumes
    after the approvals; ``bound_content`` may ask again with it."""
    if config.target.type != "kubernetes":
        return GateResult(GATE, Status.NOT_APPLICABLE, f"the {config.target.type} target runs commands, not images")
    from arxdeploy.security import cluster
    from arxdeploy.targets.kubernetes.rest import SECRETS

    section = config.security.image_digest
    objects = cluster.reader(target)
    try:
        if image:
            images = [image]
        else:  # a template names the image: read it from what would be applied
            live, color = cluster.candidate(objects, target.spec, environment)
            images = images_of(cluster.rendered(target.spec, environment, version, live=live, color=color))
        secret = None
        if section.pull_secret:
            secret = objects.find(SECRETS, target.spec.namespace_for(environment), section.pull_secret)
            if secret is None:
                namespace = target.spec.namespace_for(environment)
                message = f"pull secret {section.pull_secret} does not exist in {namespace}"
                hint = (
                    f"make it with `kubectl create secret docker-registry {section.pull_secret} -n {namespace}`, "
                    "or fix security.image_digest.pull_secret"
                )
                finding = Finding(rule="image.credentials", message=message, severity=Severity.HIGH)
                return GateResult(GATE, Status.FAILED, message, (finding,), {"hint": hint})
        docker_config = base_dir / section.docker_config if section.docker_config else default_docker_config(environ)
        try:
            logins = load_credentials(images, docker_config=docker_config, pull_secret=secret)
        except RegistryError as exc:
            finding = Finding(rule=f"image.{exc.reason}", message=exc.message, severity=Severity.HIGH)
            return GateResult(GATE, Status.FAILED, exc.message, (finding,), {"hint": exc.hint} if exc.hint else {})
    finally:
        objects.close()
    result = check_image_digest(images=images, settings=settings_from(section), credentials=logins)
    if len(images) == 1:
        result.facts["image"] = images[0]
    return result
