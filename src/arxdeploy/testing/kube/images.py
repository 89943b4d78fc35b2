"""Image references as the kubelet parses them before pulling (``InvalidImageName`` when it cannot).

The kubelet calls ``reference.ParseNormalizedNamed`` (github.com/distribution/reference:
regexp.go for the grammar, normalize.go for ``docker.io`` and ``library/``) in
k8s.io/kubernetes/pkg/kubelet/images/image_manager.go ``applyDefaultImageTag``; an error there is
the container's ``InvalidImageName`` with ``Failed to apply default image tag ...``.
"""

from __future__ import annotations

import re

_ALNUM = "[a-z0-9]+"
_SEPARATOR = "(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = f"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(f"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_IDENTIFIER = re.compile("^[a-f0-9]{64}$")
_NAME_TOTAL_LENGTH = 255


def _split_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain``: the registry part, and the rest (``library/`` added for Docker Hub)."""
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = "docker.io", name
    else:
        domain, remainder = first, rest
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    return domain, remainder


def parse_error(image: str) -> str | None:
    """Why the kubelet cannot use ``image`` (None: it can)."""
    if _IDENTIFIER.match(image):
        return f"invalid repository name ({image}), cannot specify 64-byte hexadecimal strings"
    domain, remainder = _split_domain(image)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        return f"invalid reference format: repository name ({remote}) must be lowercase"
    match = _REFERENCE.match(f"{domain}/{remainder}")
    if not match:
        return "invalid reference format"
    if len(match.group(1)) > _NAME_TOTAL_LENGTH:
        return f"repository name must not be more than {_NAME_TOTAL_LENGTH} characters"
    return None


def invalid_name_message(image: str) -> str | None:
    """The container's waiting message for an image the kubelet rejects."""
    error = parse_error(image)
    if error is None:
        return None
    return f'Failed to apply default image tag "{image}": couldn\'t parse image reference "{image}": {error}'
