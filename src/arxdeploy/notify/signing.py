"""HMAC-SHA256 signatures for webhook bodies, for senders and receivers alike.

The signed message is ``<timestamp>.<body>``: binding the timestamp lets a receiver reject
replays of an old delivery, binding the body rejects tampering. Stdlib only, so a receiver can
copy this module as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Arxdeploy-Signature-256"
TIMESTAMP_HEADER = "X-Arxdeploy-Timestamp"
EVENT_HEADER = "X-Arxdeploy-Event"
TOLERANCE = 300.0  # seconds a signature stays acceptable, either side of the receiver's clock


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Arxdeploy-Signature-256`` value: ``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    header: str,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> bool:
    """True if ``header`` signs ``timestamp`` and ``body`` with ``secret`` and the timestamp is fresh.

    ``body`` must be the raw request body, byte for byte, not re-serialised JSON. The comparison
    is constant-time. ``now`` (unix seconds) defaults to the current time.
    """
    try:
        sent = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, sent, raw), header.strip())
