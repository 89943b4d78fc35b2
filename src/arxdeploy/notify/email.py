"""Email over SMTP: a plain-text message with an HTML alternative.

Credentials only ever cross an encrypted connection: with ``starttls`` a server that does not
offer STARTTLS is refused before anything is sent, and a login is refused on a plain connection.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import httpx

from arxdeploy.notify import notice as _notice
from arxdeploy.notify.errors import NotifyError, TransientNotifyError
from arxdeploy.notify.notice import Notice


@dataclass(frozen=True)
class EmailChannel:
    """Sends notices by SMTP; ``verify`` is False, True or the path of a CA bundle."""

    host: str
    port: int = 587
    sender: str = ""
    recipients: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ssl: bool = False
    verify: bool | str = True
    timeout: float = 10.0
    name: str = "email"

    def send(self, notice: Notice, *, client: httpx.Client) -> None:
        """One attempt over one SMTP connection; ``client`` is unused (same signature as every channel)."""
        if not self.sender or not self.recipients:
            raise NotifyError(self.name, "a sender and at least one recipient are required")
        if self.username is not None and not (self.ssl or self.starttls):
            raise NotifyError(self.name, "refusing to log in over an unencrypted connection (set starttls or ssl)")
        try:
            self._deliver(message(notice, sender=self.sender, recipients=self.recipients))
        except NotifyError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(self.name, f"authentication failed (SMTP {exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({str(code) for code, _ in exc.recipients.values()})
            raise NotifyError(self.name, f"every recipient was refused (SMTP {', '.join(codes)})") from None
        except smtplib.SMTPResponseException as exc:
            raise _reply_error(self.name, exc.smtp_code) from None
        except smtplib.SMTPServerDisconnected:
            raise TransientNotifyError(self.name, "the server closed the connection") from None
        except smtplib.SMTPNotSupportedError:
            raise NotifyError(self.name, "the server does not support authentication") from None
        except smtplib.SMTPException as exc:
            raise NotifyError(self.name, f"SMTP error ({type(exc).__name__})") from None
        except ConnectionRefusedError:
            raise TransientNotifyError(self.name, "connection refused") from None
        except TimeoutError:
            raise TransientNotifyError(self.name, f"timed out after {self.timeout:g}s") from None
        except socket.gaierror:
            raise TransientNotifyError(self.name, "host name could not be resolved") from None
        except ssl.SSLCertVerificationError:
            raise NotifyError(self.name, "TLS certificate verification failed") from None
        except ssl.SSLError:
            raise TransientNotifyError(self.name, "TLS handshake failed") from None
        except OSError as exc:
            raise TransientNotifyError(self.name, f"connection failed ({exc.strerror or type(exc).__name__})") from None

    def _deliver(self, msg: EmailMessage) -> None:
        try:
            context = _tls_context(self.verify)
        except (OSError, ssl.SSLError):
            raise NotifyError(self.name, f"cannot load the CA bundle {self.verify}") from None
        smtp = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            if self.ssl
            else smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        )
        with smtp:
            smtp.ehlo()
            if self.starttls and not self.ssl:
                if not smtp.has_extn("starttls"):
                    raise NotifyError(self.name, "the server does not offer STARTTLS; refusing to continue in clear")
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=list(self.recipients))
        if refused:
            # Not retried: the accepted recipients already have it.
            codes = sorted({str(code) for code, _ in refused.values()})
            raise NotifyError(
                self.name, f"{len(refused)} of {len(self.recipients)} recipients refused (SMTP {', '.join(codes)})"
            )


def message(notice: Notice, *, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """The email: subject = title, plain text with an HTML alternative."""
    msg = EmailMessage()
    msg["Subject"] = _notice.title(notice)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(notice.at)
    # The domain is given so that make_msgid does not look up this host's name.
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "arxdeploy.invalid")
    msg.set_content(_notice.text(notice))
    msg.add_alternative(_notice.html(notice), subtype="html")
    return msg


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reply_error(channel: str, code: int) -> NotifyError:
    """SMTP 4xx replies are temporary by definition (RFC 5321), 5xx are permanent."""
    if 400 <= code < 500:
        return TransientNotifyError(channel, f"temporary failure (SMTP {code})")
    return NotifyError(channel, f"rejected (SMTP {code})")
