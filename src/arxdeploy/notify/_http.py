"""One POST for the HTTP channels, with httpx errors translated into secret-free NotifyErrors.

httpx also logs every request's full URL at INFO (logger ``httpx``). A Slack webhook's path is
its secret, so a filter on that logger shortens the URL to its origin for the requests made
here, and only those (a thread-local flag marks them); other httpx users are left alone.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Mapping

import httpx

from arxdeploy.notify.errors import NotifyError, TransientNotifyError

_ours = threading.local()  # ``active`` while this thread is inside post()


def post(
    client: httpx.Client, *, channel: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> httpx.Response:
    """POST ``body`` to ``url`` once; the response is returned whatever its status."""
    _ours.active = True
    try:
        return client.post(url, content=body, headers=dict(headers), timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        raise TransientNotifyError(channel, f"timed out after {timeout:g}s") from None
    except httpx.ConnectError as exc:
        raise _connect_error(channel, exc) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise NotifyError(channel, "the configured URL is not a valid http(s) URL") from None
    except httpx.HTTPError as exc:
        # ReadError, RemoteProtocolError, ...: the connection broke mid-request.
        raise TransientNotifyError(channel, f"request failed ({type(exc).__name__})") from None
    finally:
        _ours.active = False


def status_error(channel: str, response: httpx.Response, reason: str = "") -> NotifyError:
    """The error for an unwanted answer: 408, 429 and 5xx are worth retrying, the rest are not."""
    code = response.status_code
    problem = f"HTTP {code}" + (f" ({reason})" if reason else "")
    if code in (408, 429) or code >= 500:
        return TransientNotifyError(channel, problem)
    return NotifyError(channel, problem)


def _connect_error(channel: str, exc: BaseException) -> NotifyError:
    """Name the cause found on the exception chain; httpx's own message is never used."""
    cause: BaseException | None = exc
    for _ in range(16):  # a chain is short; the bound guards against a cycle
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return TransientNotifyError(channel, "connection refused")
        if isinstance(cause, socket.gaierror):
            return TransientNotifyError(channel, "host name could not be resolved")
        if isinstance(cause, ssl.SSLCertVerificationError):
            return NotifyError(channel, "TLS certificate verification failed")
        if isinstance(cause, ssl.SSLError):
            return TransientNotifyError(channel, "TLS handshake failed")
        cause = cause.__cause__ or cause.__context__
    return TransientNotifyError(channel, "could not connect")


def origin(url: httpx.URL) -> str:
    """``scheme://host:port``: what may be shown of a URL whose path, query or user info may be secret."""
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


class _OriginOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_ours, "active", False) and isinstance(record.args, tuple):
            record.args = tuple(origin(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


_FILTER = _OriginOnly()
logging.getLogger("httpx").addFilter(_FILTER)  # once: this module is imported once per process
