"""Ids that people type and URLs carry: one pattern each, checked wherever an id comes in.

A deployment id (``20261127-101500-ab12``) or a unique prefix of one: letters, digits, ``.``,
``_`` and ``-``, starting with a letter or digit, at most 128 characters. Nothing in it can end
a URL path segment or start a query or fragment, nor can it be ``.`` or ``..``.
"""

from __future__ import annotations

import re

DEPLOYMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_deployment_id(text: str) -> bool:
    """Whether ``text`` as a whole is a deployment id (or a prefix of one); ``fullmatch``, so no
    trailing newline slips through as ``$`` would let it."""
    return DEPLOYMENT_ID.fullmatch(text) is not None
