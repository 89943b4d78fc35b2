"""Send notices in the background, retrying each channel, so that a deployment never waits on one.

``notify`` only enqueues; one daemon thread delivers each notice to every channel, retrying
``TransientNotifyError`` with exponential backoff, and reports each outcome as a ``Delivery``.
A channel that hangs is bounded by its own timeout; ``close`` bounds the rest.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from arxdeploy.notify.channel import Channel
from arxdeploy.notify.errors import NotifyError, TransientNotifyError
from arxdeploy.notify.notice import Notice

log = logging.getLogger(__name__)

MAX_QUEUED = 1000  # notices waiting beyond this are dropped (and logged): memory stays bounded
_JITTER = 0.1  # each delay grows by up to this fraction, so that retries do not march in step


@dataclass(frozen=True)
class Delivery:
    """The result of sending one notice to one channel; ``error`` is secret-free."""

    notice: Notice
    channel: str
    ok: bool
    attempts: int
    error: str = ""


def backoff_delay(attempt: int, *, backoff: float, max_backoff: float, jitter: float = 0.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): backoff, 2*backoff, ... capped.

    ``jitter`` in [0, 1) is the random fraction added; the cap holds with it.
    """
    base = backoff * 2.0 ** (attempt - 1)
    return min(max_backoff, base * (1 + _JITTER * jitter))


class Notifier:
    """Delivers notices to channels on a background thread; never raises into, nor blocks, its caller."""

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        on_result: Callable[[Delivery], None] = lambda d: None,
        attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if backoff < 0 or max_backoff < 0:
            raise ValueError("backoff and max_backoff must not be negative")
        self._channels = tuple(channels)
        self._on_result = on_result
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._queue: queue.SimpleQueue[Notice | None] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._pending = 0  # notices queued or being delivered
        self._closed = False
        self._abandon = threading.Event()  # set by close() once its time is up: give up retries
        self._thread: threading.Thread | None = None

    @classmethod
    def empty(cls) -> Notifier:
        """A notifier for "no channels configured": every call returns at once, no thread is started."""
        return cls(())

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self._channels

    def notify(self, notice: Notice) -> None:
        """Queue ``notice`` for every channel and return at once; never raises."""
        if not self._channels:
            return
        try:
            with self._lock:
                if self._closed:
                    log.warning("notification %s dropped: the notifier is closed", notice.kind)
                    return
                if self._pending >= MAX_QUEUED:
                    log.warning("notification %s dropped: %d notices already waiting", notice.kind, self._pending)
                    return
                self._start()
                self._pending += 1
                self._queue.put(notice)  # a SimpleQueue never blocks
        except Exception:
            # Whatever went wrong (a thread that would not start), the deployment goes on.
            log.exception("notification %s dropped", notice.kind)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued notice was delivered or given up, at most ``timeout`` s; True if drained."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout=max(timeout, 0.0))

    def close(self, timeout: float = 10.0) -> None:
        """Flush, then stop the thread; retries still pending when ``timeout`` is up are given up. Idempotent.

        Returns within ``timeout`` plus one second (the grace for the attempt in flight); a thread
        still busy after that is a daemon and is left to finish on its own.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        if not self.flush(timeout):
            log.warning("notifications still pending after %gs: giving them up", timeout)
        self._abandon.set()
        self._queue.put(None)
        thread.join(max(deadline - time.monotonic(), 0.0) + 1.0)
        if thread.is_alive():
            log.warning("the notification thread is still busy; it is left to finish on its own")

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        """Start the worker on the first notice (called under the lock), so an idle notifier costs nothing."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="arxdeploy-notify", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        # The client belongs to this thread: created here, used here, closed here.
        with httpx.Client() as client:
            while (notice := self._queue.get()) is not None:
                try:
                    for channel in self._channels:
                        self._report(self._deliver(notice, channel, client))
                finally:
                    with self._lock:
                        self._pending -= 1
                        self._lock.notify_all()

    def _deliver(self, notice: Notice, channel: Channel, client: httpx.Client) -> Delivery:
        attempt = 0
        error = "given up: the notifier was closed"
        while attempt < self._attempts and not self._abandon.is_set():
            attempt += 1
            try:
                channel.send(notice, client=client)
            except TransientNotifyError as exc:
                error = exc.message
            except NotifyError as exc:
                error = exc.message
                break
            except Exception as exc:  # noqa: BLE001 - reported as a failed Delivery, type logged below
                # A bug in a channel must not kill the thread. Only the type is logged: an unknown
                # exception's text may hold a URL or a secret.
                error = f"{channel.name}: unexpected {type(exc).__name__}"
                log.error("notification %s to %s: unexpected %s", notice.kind, channel.name, type(exc).__name__)
                break
            else:
                return Delivery(notice, channel.name, ok=True, attempts=attempt)
            if attempt < self._attempts and not self._abandon.is_set():
                delay = backoff_delay(
                    attempt, backoff=self._backoff, max_backoff=self._max_backoff, jitter=random.random()
                )
                log.info("notification %s failed (%s); retrying in %.2fs", notice.kind, error, delay)
                self._wait(delay)
        log.warning("notification %s not delivered after %d attempt(s): %s", notice.kind, attempt, error)
        return Delivery(notice, channel.name, ok=False, attempts=attempt, error=error)

    def _wait(self, delay: float) -> None:
        # The real sleep is replaced by a wait that close() can cut short; a sleep passed in is used as is.
        if self._sleep is time.sleep:
            self._abandon.wait(delay)
        else:
            self._sleep(delay)

    def _report(self, delivery: Delivery) -> None:
        try:
            self._on_result(delivery)
        except Exception:
            log.exception("on_result failed for the %s notification to %s", delivery.notice.kind, delivery.channel)
