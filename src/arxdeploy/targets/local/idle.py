"""When the runtime is needed no more: no environment and no control request for a while.

The runtime asks ``due`` every so often; the first time it answers True the runtime is
``closing``: from then on the control API drops every request unanswered (nothing of it is
done), so a client looks for the runtime again and starts a new one. The check and the switch
to ``closing`` happen in one step of the event loop, so no request can slip in between.
"""

from __future__ import annotations


class Idleness:
    """Tracks what keeps the runtime needed. Times are the event loop's clock, in seconds."""

    def __init__(self, *, after: float, now: float) -> None:
        self.after = after  # 0: never idle
        self.in_flight = 0  # control requests being handled
        self.closing = False
        self._needed_at = now  # the last moment something needed the runtime

    def request_started(self) -> None:
        self.in_flight += 1

    def request_ended(self, now: float) -> None:
        self.in_flight -= 1
        self._needed_at = now

    def due(self, *, now: float, serving: bool) -> bool:
        """True, and ``closing`` from now on, once nothing needed the runtime for ``after`` seconds.

        ``serving``: an environment exists (a router or a replica, even one being started or stopped).
        """
        if self.closing:
            return True
        if serving or self.in_flight:
            self._needed_at = now
            return False
        if self.after > 0 and now - self._needed_at >= self.after:
            self.closing = True
        return self.closing
