"""Calling the hooks that subscribe to recorded events (logs, notifications, retention)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.ports import Hook

log = logging.getLogger(__name__)


def emit(hooks: Sequence[Hook], d: Deployment, events: Iterable[Event]) -> None:
    """Give each event to every hook; a failing hook is logged and never stops a deployment."""
    for event in events:
        for hook in hooks:
            try:
                hook(d, event)
            except Exception:
                log.exception("hook %r failed on %s", hook, event.type)
