"""The signed JSON webhook: a receiver that trusts only what ``verify_signature`` accepts."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from arxdeploy.notify import Notice, NotifyError, TransientNotifyError, WebhookChannel, verify_signature
from arxdeploy.notify.signing import sign
from tests.notify.servers import Receiver, Request

SECRET = "whsec-7f3a9c1e55d04b2f"


def _accepts(request: Request, secret: str = SECRET, now: float | None = None) -> bool:
    """What a receiver does: check the signature over the raw body before reading it."""
    return verify_signature(
        secret,
        request.headers["X-Arxdeploy-Timestamp"],
        request.body,
        request.headers["X-Arxdeploy-Signature-256"],
        now=now,
    )


def test_posts_the_notice_as_signed_json(notice: Notice, client: httpx.Client) -> None:
    before = int(time.time())
    with Receiver(default=(204, b"")) as receiver:
        WebhookChannel(f"{receiver.url}/hooks/deploy?token=abc", SECRET).send(notice, client=client)
    (request,) = receiver.requests
    assert request.path == "/hooks/deploy?token=abc"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Arxdeploy-Event"] == "approval_requested"
    assert before <= int(request.headers["X-Arxdeploy-Timestamp"]) <= time.time()
    assert request.headers["X-Arxdeploy-Signature-256"].startswith("sha256=")
    assert _accepts(request)
    assert json.loads(request.body) == {
        "v": 1,
        "kind": "approval_requested",
        "service": "arxos",
        "environment": "production",
        "version": "v1.2.0",
        "deployment_id": "d-0042",
        "at": "2026-03-14T09:26:53+00:00",
        "previous_version": "v1.1.0",
        "requested_by": "alice@arxos.com",
        "reason": "release 1.2: faster search",
        "detail": "staging has run v1.2.0 for a day",
        "changes": ["search: new index", "api: /v2/search"],
        "approve_url": "https://deploy.arxos.com/approvals/d-0042",
        "approvers": ["admin@arxos.com", "devops@arxos.com"],
        "security": [],
    }


def test_a_receiver_rejects_a_wrong_secret_a_tampered_body_and_a_stale_timestamp(
    notice: Notice, client: httpx.Client
) -> None:
    with Receiver() as receiver:
        WebhookChannel(receiver.url, SECRET).send(notice, client=client)
    (request,) = receiver.requests
    sent = int(request.headers["X-Arxdeploy-Timestamp"])
    assert _accepts(request)
    assert not _accepts(request, secret="whsec-guessed")
    tampered = Request(request.path, request.headers, request.body.replace(b"v1.2.0", b"v6.6.6"))
    assert not _accepts(tampered)
    replayed_later = dict(request.headers, **{"X-Arxdeploy-Timestamp": str(sent + 1)})
    assert not _accepts(Request(request.path, replayed_later, request.body))  # timestamp is signed too
    assert not _accepts(request, now=sent + 301)  # stale: a replay of an old delivery
    assert not _accepts(request, now=sent - 301)  # from the future
    assert _accepts(request, now=sent + 299)


def test_verify_signature_is_strict_about_its_input() -> None:
    body = b'{"kind":"deployment_started"}'
    header = sign(SECRET, 1700000000, body)
    assert header == "sha256=" + hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert verify_signature(SECRET, "1700000000", body.decode(), header, now=1700000000)
    assert not verify_signature(SECRET, "not-a-number", body, header, now=1700000000)
    assert not verify_signature(SECRET, "1700000000", body, header.removeprefix("sha256="), now=1700000000)
    assert not verify_signature(SECRET, "1700000000", body, "", now=1700000000)


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, TransientNotifyError), (503, TransientNotifyError), (429, TransientNotifyError), (401, NotifyError)],
)
def test_non_2xx_is_a_failure(notice: Notice, client: httpx.Client, status: int, error: type[NotifyError]) -> None:
    with Receiver(default=(status, b"nope")) as receiver, pytest.raises(error) as raised:
        WebhookChannel(receiver.url, SECRET).send(notice, client=client)
    assert str(raised.value) == f"webhook: HTTP {status}"
    assert type(raised.value) is error


def test_a_redirect_is_not_followed(notice: Notice, client: httpx.Client) -> None:
    with Receiver(default=(302, b"")) as receiver, pytest.raises(NotifyError, match="HTTP 302"):
        WebhookChannel(receiver.url, SECRET).send(notice, client=client)
    assert len(receiver.requests) == 1


def test_an_invalid_url_is_a_final_error(notice: Notice, client: httpx.Client) -> None:
    with pytest.raises(NotifyError, match=r"^webhook: the configured URL is not a valid http\(s\) URL$") as raised:
        WebhookChannel("ftp://example.com/secret-path", SECRET).send(notice, client=client)
    assert not isinstance(raised.value, TransientNotifyError)
