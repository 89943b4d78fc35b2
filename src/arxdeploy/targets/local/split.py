"""Which color takes a request: the live one, or the candidate for its share of the traffic.

The split is one immutable value (``Split``) that the router replaces in one assignment, so a
request sees the weights before a change or after it, never half of one.

Without a sticky key, requests take turns: request ``n`` gets the slot ``n * 37 mod 100`` (37 is
prime to 100, so every 100 consecutive requests visit each slot once, spread out) and goes to
the candidate if its slot is below the candidate's weight: a 90/10 split is exactly 10 in every
100 requests. With a sticky key (a header's or a cookie's value), the slot is a hash of the
value instead, so one client keeps its color while the weights stand. Raising the candidate's
weight only moves clients from the live color to the candidate (slots below the old weight stay
below the new one); lowering it only moves them back; a switch sends everyone to the new live
color. Deterministic and stateless: nothing is remembered per client.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P")

STRIDE = 37  # prime to 100: consecutive turns visit every slot once per hundred, spread out
# An HTTP header or cookie name (RFC 9110 5.1 token).
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True, slots=True)
class Split(Generic[P]):
    """The live pool, and a candidate taking ``weight`` percent of new requests (0 to 100)."""

    live: P | None = None
    candidate: P | None = None
    weight: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= 100:
            raise ValueError(f"a weight is a percentage from 0 to 100, not {self.weight}")

    def choose(self, turn: int, key: bytes | None) -> P | None:
        """The pool for a request: ``turn`` counts the router's requests, ``key`` is a sticky value."""
        if not self.weight or self.candidate is None:
            return self.live
        slot = sticky_slot(key) if key is not None else turn * STRIDE % 100
        return self.candidate if slot < self.weight else self.live


def sticky_slot(key: bytes) -> int:
    """A stable slot from 0 to 99 for a client's key (CRC-32: the same in every process and run)."""
    return zlib.crc32(key) % 100


@dataclass(frozen=True)
class Sticky:
    """Where a client's key is read from: a request header, or a cookie (its name)."""

    header: str | None = None
    cookie: str | None = None

    def __post_init__(self) -> None:
        if (self.header is None) == (self.cookie is None):
            raise ValueError("sticky routing reads either a header or a cookie")
        name = self.header or self.cookie or ""
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid {'header' if self.header else 'cookie'} name")

    def as_dict(self) -> dict[str, str]:
        return {"header": self.header} if self.header else {"cookie": self.cookie or ""}


def cookie_value(header: bytes, name: bytes) -> bytes | None:
    """The value of cookie ``name`` in a ``Cookie`` header (``a=1; b=2``), or None."""
    for part in header.split(b";"):
        key, sep, value = part.partition(b"=")
        if sep and key.strip() == name:
            return value.strip().strip(b'"')
    return None
