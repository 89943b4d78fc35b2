"""An image tag resolved to its digest, over the OCI distribution API, as a cluster would pull it.

``HEAD /v2/<name>/manifests/<tag>`` with the Accept headers a container runtime sends (OCI index
and manifest, Docker manifest list and v2 manifest); the digest is the ``Docker-Content-Digest``
header, or the sha256 of the manifest's bytes (``GET``) when a registry leaves the header out:
https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests

Credentials are what the kubelet would use: a docker config file's ``auths`` or a pull secret of
type ``kubernetes.io/dockerconfigjson`` (same JSON). Both auth schemes of the registry token spec
are answered (https://distribution.github.io/distribution/spec/auth/token/): ``Basic`` with the
credentials on the request, ``Bearer realm=...,service=...,scope=...`` with a token fetched from
the realm (the credentials, if any, sent there). The flow is an ``httpx.Auth``: it yields the
requests, httpx sends them. Credentials never appear in an error or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from arxdeploy.errors import ArxdeployError

MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
# How docker and the kubelet name Docker Hub in a config file's auths.
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
MAX_MANIFEST = 4 * 1024 * 1024  # the distribution spec lets registries refuse bigger ones


class RegistryError(ArxdeployError):
    """The registry could not say which digest a tag has; ``reason`` says why, for people and tests:
    ``not_found`` (no such tag or repository), ``unauthorized`` (credentials missing or refused),
    ``unreachable`` (no answer), ``bad_answer`` (an answer that is not a manifest), ``credentials``
    (a docker config or pull secret that cannot be read)."""

    exit_code = 1

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]; docker.io for Docker Hub
    repository: str  # library/nginx, acme/arxos
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What the manifest is asked for by: the digest when the image names one, else the tag."""
        return self.digest or self.tag or "latest"

    def name(self) -> str:
        """The image without tag or digest, as a Deployment names it (Docker Hub's short form kept)."""
        return f"{self.registry}/{self.repository}"

    def pinned(self, digest: str) -> str:
        """``<registry>/<repository>@sha256:...``: what runs whatever the tag points at later."""
        return f"{self.name()}@{digest}"


def parse_image(image: str) -> ImageRef:
    """``[registry/]repository[:tag][@digest]`` as docker reads it: the first part is a registry
    when it has a '.' or ':' or is ``localhost``; otherwise the image is on Docker Hub, where a
    one-part name lives under ``library/``."""
    rest, _, digest = image.partition("@")
    if digest and not DIGEST.fullmatch(digest):
        raise RegistryError(f"image {image}: {digest!r} is not a sha256 digest", reason="bad_answer")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or path != path.lower():
        raise RegistryError(
            f"image {image}: {path!r} is not a repository name", reason="bad_answer", hint="lowercase, like acme/app"
        )
    return ImageRef(registry=registry, repository=path, tag=tag, digest=digest or None)


@dataclass(frozen=True, repr=False)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never the password, wherever an object is shown
        return f"Credentials(username={self.username!r}, password=***)"


def credentials_for(registry: str, docker_config: Mapping[str, Any], *, source: str) -> Credentials | None:
    """The ``auths`` entry of a docker config (or a pull secret's ``.dockerconfigjson``) for
    ``registry``: its ``auth`` (base64 of ``user:password``) or ``username`` and ``password``.
    None when the file has no entry for it. ``source`` names the file or Secret in errors."""
    auths = docker_config.get("auths")
    if auths is None:
        auths = {}
    if not isinstance(auths, Mapping):
        raise RegistryError(f"{source}: auths is not a mapping", reason="credentials")
    keys = DOCKER_HUB_KEYS if registry == DOCKER_HUB else (registry, f"https://{registry}", f"http://{registry}")
    entry = next((auths[k] for k in keys if k in auths), None)
    if entry is None:
        # "https://host/v1/" and the like: compare host[:port] only.
        entry = next((v for k, v in auths.items() if _host_of(str(k)) == registry), None)
    if entry is None:
        helpers = docker_config.get("credHelpers")
        helper = helpers.get(registry) if isinstance(helpers, Mapping) else None
        helper = helper or docker_config.get("credsStore")
        if helper:
            raise RegistryError(
                f"{source} keeps the login of {registry} in a credential helper (docker-credential-{helper}), "
                "which arxdeploy does not run",
                reason="credentials",
                hint="use a pull secret (security.image_digest.pull_secret), or a docker config written with "
                "its auths, like the one `docker login` writes in CI",
            )
        return None
    if not isinstance(entry, Mapping):
        raise RegistryError(f"{source}: the entry for {registry} is not a mapping", reason="credentials")
    if entry.get("auth"):
        try:
            user, colon, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, colon, password = "", "", ""
        if not colon:
            raise RegistryError(
                f"{source}: the auth of {registry} is not base64 of user:password",
                reason="credentials",
                hint="write it with `docker login` or `kubectl create secret docker-registry`",
            )
        return Credentials(user, password)
    if entry.get("username") is not None and entry.get("password") is not None:
        return Credentials(str(entry["username"]), str(entry["password"]))
    return None


def _host_of(key: str) -> str:
    return re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]


def read_docker_config(text: str | bytes, *, source: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise RegistryError(f"{source} is not JSON", reason="credentials") from None
    if not isinstance(data, Mapping):
        raise RegistryError(f"{source} is not a JSON object", reason="credentials")
    return data


class RegistryAuth(httpx.Auth):
    """The token spec's flow: send; on 401 answer the challenge (Basic or Bearer) once."""

    requires_response_body = True

    def __init__(self, credentials: Credentials | None, repository: str) -> None:
        self._credentials = credentials
        self._scope = f"repository:{repository}:pull"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        scheme, params = _challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if self._credentials is None:
                return
            request.headers["Authorization"] = self._basic()
            yield request
            return
        if scheme != "bearer" or "realm" not in params:
            return
        query = {"scope": self._scope, **({"service": params["service"]} if "service" in params else {})}
        token_request = httpx.Request("GET", params["realm"], params=query)
        if self._credentials is not None:
            token_request.headers["Authorization"] = self._basic()
        token_response = yield token_request
        if token_response.status_code != httpx.codes.OK:
            return
        try:
            body = token_response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            return
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _basic(self) -> str:
        assert self._credentials is not None
        pair = f"{self._credentials.username}:{self._credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


@dataclass(frozen=True)
class Resolved:
    image: ImageRef
    digest: str  # sha256:...
    media_type: str

    @property
    def pinned(self) -> str:
        return self.image.pinned(self.digest)


def resolve(
    image: str,
    *,
    credentials: Credentials | None = None,
    insecure: bool = False,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> Resolved:
    """The digest ``image``'s tag points at now. ``RegistryError`` when it cannot be known:
    no such tag (``not_found``), credentials refused (``unauthorized``), no answer (``unreachable``).
    ``insecure``: plain HTTP (a registry on loopback); TLS is verified otherwise."""
    ref = parse_image(image)
    scheme = "http" if insecure else "https"
    url = f"{scheme}://{ref.api_host}/v2/{ref.repository}/manifests/{ref.reference}"
    headers = {"Accept": ", ".join(sorted(MANIFEST_TYPES))}
    auth = RegistryAuth(credentials, ref.repository)
    shown = f"{ref.name()}:{ref.reference}" if ref.digest is None else f"{ref.name()}@{ref.digest}"
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=True) as client:
            response = client.head(url, headers=headers, auth=auth)
            digest = response.headers.get("Docker-Content-Digest", "")
            if response.status_code == httpx.codes.OK and DIGEST.fullmatch(digest):
                media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                return Resolved(ref, digest, media_type)
            if response.status_code in (httpx.codes.OK, httpx.codes.METHOD_NOT_ALLOWED):
                response = client.get(url, headers=headers, auth=auth)
    except httpx.HTTPError as exc:
        raise RegistryError(
            f"registry {ref.registry} did not answer for {shown}: {type(exc).__name__}",
            reason="unreachable",
            hint="check the image's registry host, the network, and insecure_registries for plain HTTP",
        ) from None
    return _from_body(ref, shown, response, credentials)


def _from_body(ref: ImageRef, shown: str, response: httpx.Response, credentials: Credentials | None) -> Resolved:
    status = response.status_code
    if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        if credentials is None:
            raise RegistryError(
                f"registry {ref.registry} wants credentials for {shown}, and none were found for it",
                reason="unauthorized",
                hint="log in (docker login writes ~/.docker/config.json), or set security.image_digest.docker_config "
                "or pull_secret",
            )
        raise RegistryError(
            f"registry {ref.registry} refused the credentials of {credentials.username!r} for {shown} (HTTP {status})",
            reason="unauthorized",
            hint="check the password or token in the docker config or pull secret, and its pull right on the image",
        )
    if status == httpx.codes.NOT_FOUND:
        raise RegistryError(
            f"{shown} does not exist in registry {ref.registry}",
            reason="not_found",
            hint="push the image first (the build job), or check the version and target.kubernetes.image",
        )
    if status != httpx.codes.OK:
        raise RegistryError(f"registry {ref.registry} answered HTTP {status} for {shown}", reason="bad_answer")
    body = response.content
    if len(body) > MAX_MANIFEST:
        raise RegistryError(f"the manifest of {shown} is larger than 4 MiB", reason="bad_answer")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or MANIFEST_TYPES.isdisjoint({media_type, parsed.get("mediaType")}):
        message = f"registry {ref.registry} answered for {shown} with something not a manifest"
        raise RegistryError(message, reason="bad_answer")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if ref.digest is not None and ref.digest != digest:
        raise RegistryError(f"the manifest served for {shown} has digest {digest}", reason="bad_answer")
    return Resolved(ref, digest, media_type or str(parsed.get("mediaType")))
