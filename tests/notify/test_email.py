"""Email over real SMTP servers (aiosmtpd): plain, STARTTLS with AUTH, implicit TLS, and refusals."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arxdeploy.notify import EmailChannel, Notice, NotifyError, TransientNotifyError
from tests.notify.conftest import make_notice
from tests.notify.servers import Authenticator, Certificates, Mailbox, Tap, smtp_server

USER = "deploybot"
PASSWORD = "s3cr3t-smtp-pa55word"
RECIPIENTS = ("ops@arxos.com", "lead@arxos.com")


def _channel(port: int, **options: object) -> EmailChannel:
    settings: dict[str, object] = {"port": port, "sender": "arxdeploy@arxos.com", "recipients": RECIPIENTS}
    settings.update(options)
    return EmailChannel("127.0.0.1", **settings)  # type: ignore[arg-type]


def _credentials_in(wire: bytes) -> list[bytes]:
    """Every form a password takes on the wire in AUTH PLAIN or LOGIN."""
    forms = [
        PASSWORD.encode(),
        base64.b64encode(PASSWORD.encode()),
        base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()),
    ]
    return [form for form in forms if form in wire]


@pytest.fixture
def tls_server(certs: Certificates) -> Iterator[tuple[Mailbox, int]]:
    """STARTTLS required, AUTH required and only accepted over TLS."""
    mailbox = Mailbox()
    with smtp_server(
        mailbox,
        tls_context=certs.server_context(),
        require_starttls=True,
        authenticator=Authenticator(mailbox, USER, PASSWORD),
        auth_required=True,
        auth_require_tls=True,
    ) as port:
        yield mailbox, port


def test_mail_arrives_with_subject_plain_and_html_parts(notice: Notice, client: httpx.Client) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        _channel(port, starttls=False).send(notice, client=client)
    ((envelope, message),) = mailbox.messages
    assert envelope.mail_from == "arxdeploy@arxos.com"
    assert envelope.rcpt_tos == list(RECIPIENTS)
    assert message["Subject"] == "production: v1.2.0 awaits approval (arxos)"
    assert message["From"] == "arxdeploy@arxos.com"
    assert message["To"] == "ops@arxos.com, lead@arxos.com"
    assert message["Date"] == "Sat, 14 Mar 2026 09:26:53 +0000"
    assert message["Message-ID"].endswith("@arxos.com>")
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    assert "Why:           release 1.2: faster search" in plain.get_content()
    assert "Review and approve: https://deploy.arxos.com/approvals/d-0042" in plain.get_content()
    assert '<a href="https://deploy.arxos.com/approvals/d-0042">Review and approve</a>' in rich.get_content()


def test_html_part_is_escaped(client: httpx.Client) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        _channel(port, starttls=False).send(make_notice(reason="<script>alert(1)</script>"), client=client)
    rich = mailbox.messages[0][1].get_body(("html",))
    assert rich is not None
    assert "<script>" not in rich.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rich.get_content()


def test_starttls_then_login_and_the_password_never_crosses_in_clear(
    tls_server: tuple[Mailbox, int], certs: Certificates, notice: Notice, client: httpx.Client
) -> None:
    mailbox, port = tls_server
    with Tap(port) as tap:
        _channel(tap.port, username=USER, password=PASSWORD, verify=str(certs.ca_file)).send(notice, client=client)
    assert len(mailbox.messages) == 1
    assert mailbox.logins == [(USER, True, True)]  # the server saw the login over TLS
    clear, _, _ = bytes(tap.sent).partition(b"STARTTLS\r\n")
    assert clear.startswith(b"ehlo ")
    assert b"AUTH" not in clear.upper()
    assert _credentials_in(bytes(tap.sent)) == []  # not in clear, in no encoding


def test_a_wrong_password_fails_clearly_without_the_password(
    tls_server: tuple[Mailbox, int], certs: Certificates, notice: Notice, client: httpx.Client
) -> None:
    mailbox, port = tls_server
    wrong = "not-the-" + PASSWORD
    with pytest.raises(NotifyError) as raised:
        _channel(port, username=USER, password=wrong, verify=str(certs.ca_file)).send(notice, client=client)
    assert str(raised.value) == "email: authentication failed (SMTP 535)"
    assert not isinstance(raised.value, TransientNotifyError)  # retrying a wrong password will not help
    assert wrong not in repr(raised.value.__cause__) + repr(raised.value.__context__)
    assert mailbox.logins  # smtplib tries each mechanism offered (PLAIN, then LOGIN): each one failed, over TLS
    assert set(mailbox.logins) == {(USER, True, False)}
    assert mailbox.messages == []


def test_no_starttls_offered_means_nothing_is_sent(certs: Certificates, notice: Notice, client: httpx.Client) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(mailbox, authenticator=Authenticator(mailbox, USER, PASSWORD), auth_require_tls=False) as port,
        Tap(port) as tap,
        pytest.raises(NotifyError) as raised,
    ):
        _channel(tap.port, username=USER, password=PASSWORD).send(notice, client=client)
    assert str(raised.value) == "email: the server does not offer STARTTLS; refusing to continue in clear"
    assert b"AUTH" not in bytes(tap.sent).upper()
    assert b"MAIL FROM" not in bytes(tap.sent).upper()
    assert _credentials_in(bytes(tap.sent)) == []
    assert mailbox.logins == []
    assert mailbox.messages == []


def test_a_login_without_any_tls_is_refused_before_connecting(notice: Notice, client: httpx.Client) -> None:
    mailbox = Mailbox()
    with (
        smtp_server(mailbox) as port,
        Tap(port) as tap,
        pytest.raises(NotifyError, match="refusing to log in over an unencrypted connection"),
    ):
        _channel(tap.port, starttls=False, username=USER, password=PASSWORD).send(notice, client=client)
    assert bytes(tap.sent) == b""


def test_implicit_tls(certs: Certificates, notice: Notice, client: httpx.Client) -> None:
    mailbox = Mailbox()
    with smtp_server(
        mailbox,
        ssl_context=certs.server_context(),
        authenticator=Authenticator(mailbox, USER, PASSWORD),
        auth_require_tls=False,  # aiosmtpd only counts STARTTLS as TLS; this connection is TLS from the start
    ) as port:
        _channel(port, ssl=True, starttls=False, username=USER, password=PASSWORD, verify=str(certs.ca_file)).send(
            notice, client=client
        )
    assert mailbox.logins == [(USER, True, True)]
    assert len(mailbox.messages) == 1


def test_an_untrusted_certificate_is_refused(
    tls_server: tuple[Mailbox, int], notice: Notice, client: httpx.Client
) -> None:
    mailbox, port = tls_server
    with pytest.raises(NotifyError, match=r"^email: TLS certificate verification failed$"):
        _channel(port, username=USER, password=PASSWORD).send(notice, client=client)  # system CAs only
    assert mailbox.logins == []


def test_a_refused_connection_is_retryable(notice: Notice, client: httpx.Client) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        pass
    with pytest.raises(TransientNotifyError, match=r"^email: connection refused$"):
        _channel(port).send(notice, client=client)


def test_sender_and_recipients_are_required(notice: Notice, client: httpx.Client) -> None:
    with pytest.raises(NotifyError, match="a sender and at least one recipient are required"):
        EmailChannel("127.0.0.1", sender="a@b.c").send(notice, client=client)


def test_a_missing_ca_bundle_is_a_final_error(tmp_path: Path, notice: Notice, client: httpx.Client) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(NotifyError, match=f"^email: cannot load the CA bundle {missing}$") as raised:
        _channel(1, verify=str(missing)).send(notice, client=client)
    assert not isinstance(raised.value, TransientNotifyError)
