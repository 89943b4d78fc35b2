"""No secret in any error message, Delivery, repr or log record, for every channel and failure.

The secrets: a Slack webhook URL's path, a webhook's query token and signing secret, an SMTP
password. Records from the test servers themselves (aiosmtpd's ``mail.log``) are not ours and
are left out.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial

import httpx
import pytest

from arxdeploy.notify import (
    Channel,
    Delivery,
    EmailChannel,
    Notice,
    Notifier,
    NotifyError,
    SlackChannel,
    WebhookChannel,
)
from tests.notify.servers import Authenticator, Certificates, Mailbox, Receiver, smtp_server

SLACK_PATH = "/services/T0SECRET1/B0SECRET2/xq7SlackToken9"
HOOK_QUERY = "hookQueryToken42"
HOOK_SECRET = "whsec-signing-secret-77"
PASSWORD = "smtp-Pa55word-very-secret"
SECRETS = ("T0SECRET1", "B0SECRET2", "xq7SlackToken9", HOOK_QUERY, HOOK_SECRET, PASSWORD)


def _clean(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == [], f"secret(s) {leaked} in: {text}"


@pytest.fixture
def servers(certs: Certificates) -> Iterator[dict[str, str | int]]:
    """One server per way of failing, all on 127.0.0.1."""
    with Receiver() as gone:
        refused_url = gone.url  # its port refuses connections once the receiver is gone
    with ExitStack() as stack:
        mailbox = Mailbox()
        yield {
            "refused": refused_url,
            "error": stack.enter_context(Receiver(default=(500, b"oops " + SLACK_PATH.encode()))).url,
            "forbidden": stack.enter_context(Receiver(default=(403, b"invalid_token"))).url,
            "hanging": stack.enter_context(Receiver(delay=30)).url,
            "smtp_tls": stack.enter_context(
                smtp_server(
                    mailbox,
                    tls_context=certs.server_context(),
                    require_starttls=True,
                    authenticator=Authenticator(mailbox, "bot", "the-right-one"),
                    auth_require_tls=True,
                )
            ),
            "smtp_plain": stack.enter_context(
                smtp_server(mailbox, authenticator=Authenticator(mailbox, "bot", PASSWORD), auth_require_tls=False)
            ),
        }


def _channels(servers: dict[str, str | int], certs: Certificates) -> list[Channel]:
    channels: list[Channel] = []
    for kind in ("refused", "error", "forbidden", "hanging"):
        base = servers[kind]
        channels.append(SlackChannel(f"{base}{SLACK_PATH}", timeout=0.3, name=f"slack-{kind}"))
        channels.append(
            WebhookChannel(f"{base}/hook?token={HOOK_QUERY}", HOOK_SECRET, timeout=0.3, name=f"webhook-{kind}")
        )
    email = partial(EmailChannel, "127.0.0.1", sender="a@arxos.com", recipients=("b@arxos.com",), username="bot")
    channels += [
        email(port=int(servers["smtp_tls"]), password=PASSWORD, verify=str(certs.ca_file), name="email-wrong"),
        email(port=int(servers["smtp_plain"]), password=PASSWORD, name="email-no-starttls"),
        email(port=int(servers["smtp_tls"]), password=PASSWORD, name="email-untrusted"),
        SlackChannel(f"ftp://hooks.example{SLACK_PATH}", name="slack-bad-url"),
    ]
    return channels


def test_no_secret_in_errors_deliveries_reprs_or_logs(
    servers: dict[str, str | int], certs: Certificates, notice: Notice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channels = _channels(servers, certs)
    for channel in channels:
        _clean(repr(channel))

    raised: list[NotifyError] = []
    with httpx.Client() as client:
        for channel in channels:
            with pytest.raises(NotifyError) as error:
                channel.send(notice, client=client)
            raised.append(error.value)
    for exc in raised:
        _clean(str(exc))
        _clean(repr(exc))
        _clean("".join(traceback.format_exception(exc)))
        assert exc.__cause__ is None

    deliveries: list[Delivery] = []
    notifier = Notifier(channels, on_result=deliveries.append, attempts=2, backoff=0.001)
    notifier.notify(notice)
    assert notifier.flush(30)
    notifier.close()
    assert len(deliveries) == len(channels)
    assert not any(d.ok for d in deliveries)
    for delivery in deliveries:
        _clean(delivery.error)
        _clean(repr(delivery))

    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert any(r.name == "httpx" for r in ours)  # httpx logged its requests, URL shortened to the origin
    assert any(r.name == "arxdeploy.notify.dispatch" for r in ours)
    formatter = logging.Formatter("%(name)s %(message)s")
    for record in ours:
        _clean(formatter.format(record))
    errors = {d.channel: d.error for d in deliveries}
    assert errors["email-wrong"] == "email-wrong: authentication failed (SMTP 535)"
    assert errors["email-no-starttls"].endswith("does not offer STARTTLS; refusing to continue in clear")
    assert errors["email-untrusted"] == "email-untrusted: TLS certificate verification failed"
    assert errors["slack-refused"] == "slack-refused: connection refused"
    assert errors["slack-hanging"] == "slack-hanging: timed out after 0.3s"
    assert errors["slack-forbidden"] == "slack-forbidden: HTTP 403 (invalid_token)"
    assert errors["webhook-error"] == "webhook-error: HTTP 500"
