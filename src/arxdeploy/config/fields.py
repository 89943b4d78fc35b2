"""Constrained string types used by the config models: names, addresses, quantities, templates.

Each check raises ``PydanticCustomError`` whose message puts the offending value in double
quotes (``"{value}" ...``); the loader relies on that to hide values that came from secrets.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import string
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# The patterns below are compiled on first use (re.fullmatch keeps them): most configs never need
# most of them, and compiling all at import costs every command, `status` included.
_HOSTNAME = r"(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
_DOTTED_NUMBERS = r"[0-9.]+"
_LABEL_VALUE = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
HTTP_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP header or cookie name: a token (RFC 9110 5.6.2)
_EMAIL = r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+"
_CPU = r"([0-9]+m|[0-9]+(\.[0-9]+)?|\.[0-9]+)"
_MEMORY = r"([0-9]+(\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|e[0-9]{1,2})?"
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}

_LARGEST_QUANTITY = 10**30

COMMAND_PLACEHOLDERS = ("port", "version", "color", "replica", "environment")
NAMESPACE_PLACEHOLDERS = ("service", "environment")
IMAGE_PLACEHOLDERS = ("version",)


def _fail(kind: str, template: str, value: object) -> PydanticCustomError:
    return PydanticCustomError(kind, '"{value}" ' + template, {"value": str(value)})


def dns_label(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > max_length or not DNS_LABEL.fullmatch(value):
            raise _fail(
                "dns_label",
                f"is not a valid name; use at most {max_length} lowercase letters, digits and '-',"
                " starting and ending with a letter or digit",
                value,
            )
        return value

    return check


def dns_label_schema(max_length: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{DNS_LABEL.pattern}$", "maxLength": max_length})


def check_listen(value: str) -> str:
    """``host:port`` with an IPv4 address, a hostname or a bracketed IPv6 address."""
    host, sep, port = value.rpartition(":")
    if not sep or not _valid_host(host):
        raise _fail("listen", "is not a host:port address like 127.0.0.1:8080 or [::1]:8080", value)
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _fail("listen", "has no valid port; the port must be a number from 1 to 65535", value)
    return value


def check_http_name(value: str) -> str:
    """A header or cookie name: letters, digits and ``!#$%&'*+.^_`|~-``, no spaces."""
    if not re.fullmatch(HTTP_NAME, value):
        raise _fail("http_name", "is not a header or cookie name; use letters, digits and '-' (like X-User-Id)", value)
    return value


KUBERNETES_STORE = r"kubernetes://([a-z0-9]([-a-z0-9]*[a-z0-9])?)?/?"


def check_store_url(value: str) -> str:
    # The URL may carry a password: never echo it.
    if value.startswith("kubernetes:"):
        if not re.fullmatch(KUBERNETES_STORE, value) or len(value) > len("kubernetes://") + 63:
            raise PydanticCustomError(
                "store_url",
                "is not kubernetes:// (each environment's namespace) or kubernetes://NAMESPACE (one namespace,"
                " a DNS label)",
            )
        return value
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise PydanticCustomError(
            "store_url",
            "is not a sqlite://, postgresql:// or kubernetes:// URL (like postgresql://user:${PGPASSWORD}@host/db)",
        )
    return value


def _valid_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if re.fullmatch(_DOTTED_NUMBERS, host):  # looks like IPv4, so it must be valid IPv4
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return host.isascii() and re.fullmatch(_HOSTNAME, host) is not None


def check_cidr(value: str) -> str:
    """An IPv4 or IPv6 network like 10.20.0.0/16 (no host bits set), as a NetworkPolicy ipBlock takes it."""
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise _fail("cidr", "is not a network like 10.20.0.0/16 or fd00::/64 (with no host bits set)", value) from None
    if "/" not in value:
        raise _fail("cidr", "needs its prefix length, like 10.20.0.5/32 for one address", value)
    return value


def check_label_value(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value):
        raise _fail(
            "label_value",
            "is not a Kubernetes label value; use at most 63 letters, digits, '-', '_' and '.',"
            " starting and ending with a letter or digit",
            value,
        )
    return value


def check_label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    valid_prefix = not prefix or (
        len(prefix) <= 253 and re.fullmatch(_HOSTNAME, prefix) is not None and prefix.islower()
    )
    if not valid_prefix or len(name) > 63 or not re.fullmatch(_LABEL_VALUE, name):
        raise _fail("label_key", "is not a Kubernetes label key like app or app.kubernetes.io/name", value)
    return value


def check_email(value: str) -> str:
    if not re.fullmatch(_EMAIL, value):
        raise _fail("email", "is not an email address like ops@example.com", value)
    return value


def check_http_url(value: str) -> str:
    # The message never repeats the value: webhook URLs are secrets.
    scheme, _, rest = value.partition("://")
    if scheme not in ("http", "https") or not rest or any(c.isspace() for c in value):
        raise PydanticCustomError("http_url", "is not an http:// or https:// URL")
    return value


def check_endpoint(value: str) -> str:
    if not value.startswith("/"):
        raise _fail("endpoint", "must be a path starting with '/', like /health", value)
    return value


def check_path(value: str) -> str:
    if not value or "\x00" in value:
        raise _fail("path", "is not a usable path", value)
    return value


def one_of(choices: Collection[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            close = difflib.get_close_matches(value, list(choices), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(choices)}"
            raise PydanticCustomError("one_of", '"{value}" is not one of the choices', {"value": value, "hint": hint})
        return value

    return check


def template(allowed: Collection[str]) -> Callable[[str], str]:
    """A check that ``{name}`` fields in the value are all in ``allowed`` (``{{`` is a literal brace)."""
    names = ", ".join(f"{{{name}}}" for name in allowed)

    def check(value: str) -> str:
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
        except ValueError:
            raise _fail("template", "has an unmatched brace; write {{ or }} for a literal brace", value) from None
        if any(field not in allowed for field in fields):
            # The bad name is not repeated: it is part of the value, which may be a secret.
            raise _fail("template", f"has a placeholder that is not allowed here; the allowed ones are {names}", value)
        return value

    return check


def _number_to_text(value: Any) -> Any:
    # YAML reads ``cpu: 2`` and ``cpu: 0.5`` as numbers; Kubernetes quantities are strings.
    # Huge ints (YAML reads 0x and thousands of digits as one) stay numbers and fail as such.
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < _LARGEST_QUANTITY:
        return str(value)
    return value


def cpu_millis(value: str) -> Decimal:
    """CPU quantity in millicores: ``500m`` -> 500, ``0.5`` -> 500, ``2`` -> 2000."""
    if value.endswith("m"):
        return Decimal(value[:-1])
    return Decimal(value) * 1000


def memory_bytes(value: str) -> Decimal:
    """Memory quantity in bytes: ``64Mi`` -> 67108864, ``128M`` -> 128000000, ``1e3`` -> 1000."""
    match = re.fullmatch(_MEMORY, value)
    if match is None:
        raise ValueError(value)
    number, suffix = Decimal(match.group(1)), match.group(3) or ""
    if suffix.startswith("e"):
        return number.scaleb(int(suffix[1:]))
    return number * _BINARY.get(suffix, _DECIMAL.get(suffix, 1))


def check_cpu(value: str) -> str:
    if not re.fullmatch(_CPU, value) or cpu_millis(value) <= 0:
        raise _fail("cpu_quantity", "is not a CPU amount; use cores like 0.5 or 2, or millicores like 250m", value)
    return value


def check_memory(value: str) -> str:
    try:
        valid = re.fullmatch(_MEMORY, value) is not None and memory_bytes(value) > 0
    except (ArithmeticError, ValueError):  # decimal's errors are ArithmeticErrors
        valid = False
    if not valid:
        raise _fail(
            "memory_quantity",
            "is not a memory amount; use a number with Ki, Mi, Gi (1024-based) or k, M, G (1000-based), like 256Mi",
            value,
        )
    return value


def _quantity_schema(pattern: str, description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": f"^{pattern}$"}],
            "format": "quantity",  # an annotation (JSON Schema 2020-12): the reference says "quantity"
            "description": description,
        }
    )


CpuQuantity = Annotated[
    str,
    BeforeValidator(_number_to_text),
    AfterValidator(check_cpu),
    _quantity_schema(_CPU, "A Kubernetes CPU quantity: cores (0.5, 2) or millicores (250m)."),
]
MemoryQuantity = Annotated[
    str,
    BeforeValidator(_number_to_text),
    AfterValidator(check_memory),
    _quantity_schema(_MEMORY, "A Kubernetes memory quantity like 64Mi, 1Gi or 128M."),
]


# An age X25519 recipient is "age1" and 58 bech32 characters; an SSH one is an OpenSSH public key.
_AGE_RECIPIENT = r"age1[02-9ac-hj-np-z]{58}"
_SSH_RECIPIENT = r"(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/]+={0,2}( .*)?"
# S3 bucket names (general purpose buckets) and Azure container names, as the providers define them.
_BUCKET = r"(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]"
_CONTAINER = r"(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]"


def check_recipient(value: str) -> str:
    if re.fullmatch(_AGE_RECIPIENT, value) or re.fullmatch(_SSH_RECIPIENT, value):
        return value
    if value.startswith("AGE-SECRET-KEY-"):
        # Never repeated: it is a private key, and it must not be in the config at all.
        raise PydanticCustomError(
            "recipient",
            "is a private key (AGE-SECRET-KEY-...), which never belongs in the config",
            {
                "hint": "give its public key (age-keygen -y FILE prints it); the private key goes in "
                "ARXDEPLOY_BACKUP_IDENTITY where backups are restored"
            },
        )
    raise _fail("recipient", "is not an age public key (age1...) or an ssh-ed25519 / ssh-rsa public key", value)


def check_bucket(value: str) -> str:
    if not re.fullmatch(_BUCKET, value) or ".." in value:
        raise _fail("bucket", "is not an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-'", value)
    return value


def check_container(value: str) -> str:
    if not re.fullmatch(_CONTAINER, value):
        raise _fail(
            "container", "is not an Azure container name: 3 to 63 lowercase letters, digits and single '-'", value
        )
    return value


def check_key_prefix(value: str) -> str:
    parts = value.split("/")
    if value.startswith("/") or any(part in (".", "..") for part in parts) or any(c < " " for c in value):
        raise _fail("key_prefix", "is not a usable key prefix: no leading '/', no '.' or '..' parts", value)
    return value
