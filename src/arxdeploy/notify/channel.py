"""The port every notification channel implements: one method, keyword-only transport."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

    from arxdeploy.notify.notice import Notice


class Channel(Protocol):
    """Delivers one notice to one destination.

    ``send`` makes one attempt, bounded by the channel's own timeout, and raises
    :class:`~arxdeploy.notify.errors.NotifyError` (``TransientNotifyError`` when worth retrying)
    with a secret-free message. Retrying is the dispatcher's job, not the channel's.
    """

    @property
    def name(self) -> str: ...

    def send(self, notice: Notice, *, client: httpx.Client) -> None: ...
