"""Slack: a local receiver stands in for the incoming webhook and checks the message's shape."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from arxdeploy.notify import Notice, NotifyError, SlackChannel, TransientNotifyError
from tests.notify.conftest import make_notice
from tests.notify.servers import Receiver


def _blocks_of(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in payload["blocks"] if block["type"] == kind]


def test_posts_text_fallback_and_blocks_with_an_approve_button(notice: Notice, client: httpx.Client) -> None:
    with Receiver() as slack:
        SlackChannel(f"{slack.url}/services/T000/B000/XXXX").send(notice, client=client)
    (request,) = slack.requests
    assert request.path == "/services/T000/B000/XXXX"
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["text"] == "production: v1.2.0 awaits approval (arxos)"
    (header,) = _blocks_of(payload, "header")
    assert header["text"] == {"type": "plain_text", "text": "production: v1.2.0 awaits approval (arxos)"}
    shown = json.dumps(payload["blocks"])
    for expected in ("v1.2.0 (was v1.1.0)", "production", "alice@arxos.com", "release 1.2: faster search"):
        assert expected in shown
    assert "search: new index" in shown
    (actions,) = _blocks_of(payload, "actions")
    (button,) = actions["elements"]
    assert button["type"] == "button"
    assert button["text"]["text"] == "Review and approve"
    assert button["url"] == "https://deploy.arxos.com/approvals/d-0042"


def test_no_button_without_an_approval_page(client: httpx.Client) -> None:
    with Receiver() as slack:
        SlackChannel(slack.url).send(make_notice(kind="deployment_succeeded", approve_url=None), client=client)
    assert _blocks_of(json.loads(slack.requests[0].body), "actions") == []


def test_mrkdwn_control_characters_are_escaped(client: httpx.Client) -> None:
    with Receiver() as slack:
        SlackChannel(slack.url).send(make_notice(reason="<!channel> & <https://evil|click>"), client=client)
    shown = json.dumps(json.loads(slack.requests[0].body))
    assert "<!channel>" not in shown
    assert "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in shown


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        ((400, b"invalid_payload"), NotifyError, "slack: HTTP 400 (invalid_payload)"),
        ((404, b"no_service"), NotifyError, "slack: HTTP 404 (no_service)"),
        ((503, b"<html>down</html>"), TransientNotifyError, "slack: HTTP 503"),
        ((429, b"rate_limited"), TransientNotifyError, "slack: HTTP 429 (rate_limited)"),
        ((200, b"not quite"), NotifyError, "slack: unexpected answer to HTTP 200: not ok"),
    ],
)
def test_anything_but_ok_is_a_failure(
    notice: Notice, client: httpx.Client, answer: tuple[int, bytes], error: type[NotifyError], message: str
) -> None:
    with Receiver(default=answer) as slack, pytest.raises(error) as raised:
        SlackChannel(slack.url).send(notice, client=client)
    assert str(raised.value) == message
    assert type(raised.value) is error


def test_a_refused_connection_is_retryable_and_says_so(notice: Notice, client: httpx.Client) -> None:
    with Receiver() as slack:
        url = slack.url  # the port is free again once the receiver is gone
    with pytest.raises(TransientNotifyError, match=r"^slack: connection refused$"):
        SlackChannel(url).send(notice, client=client)


def test_a_hanging_server_is_bounded_by_the_timeout(notice: Notice, client: httpx.Client) -> None:
    with Receiver(delay=5) as slack, pytest.raises(TransientNotifyError, match=r"^slack: timed out after 0.2s$"):
        SlackChannel(slack.url, timeout=0.2).send(notice, client=client)
