"""The dispatcher: background delivery, retries with backoff, and a caller that never waits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from arxdeploy.notify import Delivery, Notice, Notifier, SlackChannel, WebhookChannel
from arxdeploy.notify.dispatch import backoff_delay
from tests.notify.conftest import make_notice
from tests.notify.servers import Receiver
from tests.support import wait_until


@dataclass
class Results:
    """Collects deliveries from the worker thread; wait on it, never sleep."""

    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries.append(delivery)

    def wait(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        def done() -> list[Delivery] | None:
            with self.lock:
                return list(self.deliveries) if len(self.deliveries) >= count else None

        return wait_until(done, timeout, what=f"{count} deliveries")


@pytest.fixture
def results() -> Results:
    return Results()


@pytest.fixture
def notifiers() -> Iterator[list[Notifier]]:
    """Notifiers made by a test are closed after it, even when it fails."""
    made: list[Notifier] = []
    yield made
    for notifier in made:
        notifier.close(timeout=5)


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "arxdeploy-notify"]


def test_fails_twice_then_succeeds_in_three_attempts(
    notice: Notice, results: Results, notifiers: list[Notifier]
) -> None:
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        time.sleep(seconds)

    with Receiver([(503, b"busy"), (503, b"busy")]) as slack:
        notifier = Notifier([SlackChannel(slack.url)], on_result=results, backoff=0.01, sleep=sleep)
        notifiers.append(notifier)
        notifier.notify(notice)
        assert notifier.flush(10)
    assert results.deliveries == [Delivery(notice, "slack", ok=True, attempts=3)]
    assert len(slack.requests) == 3
    assert 0.01 <= delays[0] <= 0.011
    assert 0.02 <= delays[1] <= 0.022


def test_a_refused_connection_gives_up_after_every_attempt(
    notice: Notice, results: Results, notifiers: list[Notifier]
) -> None:
    with Receiver() as gone:
        url = gone.url
    notifier = Notifier([SlackChannel(url)], on_result=results, attempts=3, backoff=0.001)
    notifiers.append(notifier)
    notifier.notify(notice)
    (delivery,) = results.wait(1)
    assert delivery == Delivery(notice, "slack", ok=False, attempts=3, error="slack: connection refused")


def test_a_server_failing_forever_gives_up_after_every_attempt(
    notice: Notice, results: Results, notifiers: list[Notifier]
) -> None:
    with Receiver(default=(500, b"oops")) as receiver:
        notifier = Notifier([WebhookChannel(receiver.url, "k")], on_result=results, attempts=4, backoff=0.001)
        notifiers.append(notifier)
        notifier.notify(notice)
        (delivery,) = results.wait(1)
    assert delivery == Delivery(notice, "webhook", ok=False, attempts=4, error="webhook: HTTP 500")
    assert len(receiver.requests) == 4


def test_a_final_error_is_not_retried(notice: Notice, results: Results, notifiers: list[Notifier]) -> None:
    with Receiver(default=(404, b"no_service")) as slack:
        notifier = Notifier([SlackChannel(slack.url)], on_result=results, backoff=0.001)
        notifiers.append(notifier)
        notifier.notify(notice)
        (delivery,) = results.wait(1)
    assert (delivery.ok, delivery.attempts, delivery.error) == (False, 1, "slack: HTTP 404 (no_service)")


class Stuck:
    """A channel whose first send hangs until the test lets it go."""

    name = "stuck"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sent: list[Notice] = []

    def send(self, notice: Notice, *, client: httpx.Client) -> None:
        self.entered.set()
        assert self.release.wait(30), "the test never let the channel go"
        self.sent.append(notice)


def test_notify_returns_at_once_while_a_channel_hangs(results: Results, notifiers: list[Notifier]) -> None:
    stuck = Stuck()
    notifier = Notifier([stuck], on_result=results)
    notifiers.append(notifier)
    notices = [make_notice(deployment_id=f"d-{n}") for n in range(3)]
    try:
        notifier.notify(notices[0])
        assert stuck.entered.wait(10)  # the worker is inside the first send, and stays there
        for each in notices[1:]:
            notifier.notify(each)
        # Every notify returned while the first delivery had not finished: nothing reported, nothing sent.
        assert results.deliveries == [] and stuck.sent == []
    finally:
        stuck.release.set()
    deliveries = results.wait(3)
    assert [(d.notice, d.ok, d.attempts) for d in deliveries] == [(n, True, 1) for n in notices]


def test_a_hanging_channel_is_bounded_by_its_timeout(results: Results, notifiers: list[Notifier]) -> None:
    with Receiver(delay=30) as hanging:
        notifier = Notifier([SlackChannel(hanging.url, timeout=0.2)], on_result=results, attempts=2, backoff=0.001)
        notifiers.append(notifier)
        notices = [make_notice(deployment_id=f"d-{n}") for n in range(3)]
        for each in notices:
            notifier.notify(each)
        deliveries = results.wait(3)
    assert [d.notice for d in deliveries] == notices
    assert {(d.ok, d.attempts, d.error) for d in deliveries} == {(False, 2, "slack: timed out after 0.2s")}


def test_every_notice_goes_to_every_channel_in_order(results: Results, notifiers: list[Notifier]) -> None:
    with Receiver() as slack, Receiver() as hook:
        notifier = Notifier([SlackChannel(slack.url), WebhookChannel(hook.url, "k")], on_result=results)
        notifiers.append(notifier)
        notices = [make_notice(kind=kind) for kind in ("deployment_started", "deployment_succeeded")]
        for each in notices:
            notifier.notify(each)
        assert notifier.flush(10)
    assert [(d.notice.kind, d.channel, d.ok) for d in results.deliveries] == [
        ("deployment_started", "slack", True),
        ("deployment_started", "webhook", True),
        ("deployment_succeeded", "slack", True),
        ("deployment_succeeded", "webhook", True),
    ]
    assert [r.headers["X-Arxdeploy-Event"] for r in hook.requests] == ["deployment_started", "deployment_succeeded"]


def test_an_on_result_that_raises_is_logged_and_delivery_goes_on(
    results: Results, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Delivery] = []

    def on_result(delivery: Delivery) -> None:
        calls.append(delivery)
        raise RuntimeError("the listener broke")

    with Receiver() as slack:
        notifier = Notifier([SlackChannel(slack.url)], on_result=on_result)
        notifiers.append(notifier)
        notifier.notify(make_notice(kind="deployment_started"))
        notifier.notify(make_notice(kind="deployment_succeeded"))
        assert notifier.flush(10)
    assert [d.notice.kind for d in calls] == ["deployment_started", "deployment_succeeded"]
    failures = [r for r in caplog.records if "on_result failed" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].exc_info is not None


def test_a_channel_bug_becomes_a_failed_delivery(
    notice: Notice, results: Results, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    @dataclass(frozen=True)
    class Broken:
        name: str = "broken"

        def send(self, notice: Notice, *, client: httpx.Client) -> None:
            raise KeyError("https://hooks.example/T/B/secret-token")

    notifier = Notifier([Broken()], on_result=results, backoff=0.001)
    notifiers.append(notifier)
    notifier.notify(notice)
    (delivery,) = results.wait(1)
    assert delivery == Delivery(notice, "broken", ok=False, attempts=1, error="broken: unexpected KeyError")
    assert "secret-token" not in caplog.text


def test_close_flushes_then_stops_the_thread_and_is_idempotent(
    notice: Notice, results: Results, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver() as slack:
        notifier = Notifier([SlackChannel(slack.url)], on_result=results)
        notifier.notify(notice)
        notifier.close()
        assert [d.ok for d in results.deliveries] == [True]
        assert _threads() == []
        notifier.close()
        notifier.notify(notice)  # dropped, logged, never raised
    assert "dropped: the notifier is closed" in caplog.text
    assert len(slack.requests) == 1


def test_close_gives_up_retries_when_its_time_is_up(notice: Notice, results: Results) -> None:
    with Receiver(default=(503, b"")) as slack:
        notifier = Notifier([SlackChannel(slack.url)], on_result=results, backoff=60, max_backoff=60)
        notifier.notify(notice)
        wait_until(lambda: slack.requests, what="the first attempt")
        notifier.close(timeout=0.2)
        # close returned with the retry given up: the thread is gone, the next attempt never made
        # (its backoff is a minute), and the failure already reported.
        assert _threads() == []
        assert results.deliveries == [Delivery(notice, "slack", ok=False, attempts=1, error="slack: HTTP 503")]
    assert len(slack.requests) == 1


def test_the_empty_notifier_does_nothing(notice: Notice) -> None:
    notifier = Notifier.empty()
    notifier.notify(notice)
    assert _threads() == []  # no worker to hand the notice to
    assert notifier.flush(0)  # nothing queued: drained without waiting
    notifier.close()
    assert _threads() == []


def test_an_idle_notifier_starts_no_thread() -> None:
    with Notifier([SlackChannel("http://127.0.0.1:9")]) as notifier:
        assert notifier.flush(0)
        assert _threads() == []


def test_backoff_doubles_up_to_the_cap_with_small_jitter() -> None:
    plain = [backoff_delay(n, backoff=0.5, max_backoff=8.0) for n in range(1, 7)]
    assert plain == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff_delay(2, backoff=0.5, max_backoff=8.0, jitter=0.999) == pytest.approx(1.0999)
    assert backoff_delay(5, backoff=0.5, max_backoff=8.0, jitter=0.999) == 8.0


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="attempts"):
        Notifier([], attempts=0)


def test_deliveries_are_logged_without_blocking(
    notice: Notice, results: Results, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arxdeploy.notify")
    with Receiver([(503, b"")]) as slack:
        notifier = Notifier([SlackChannel(slack.url)], on_result=results, backoff=0.001)
        notifiers.append(notifier)
        notifier.notify(notice)
        results.wait(1)
    assert "notification approval_requested failed (slack: HTTP 503); retrying in" in caplog.text
