"""What every channel says: the title, the plain text and the HTML rendered from one notice."""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser

import pytest

from arxdeploy.notify import KINDS, Notice, html, text, title
from tests.notify.conftest import make_notice


def test_title_is_one_line_naming_environment_version_and_service() -> None:
    assert title(make_notice(kind="deployment_rolled_back")) == "production: v1.2.0 rolled back (arxos)"
    assert title(make_notice(kind="deployment_succeeded", environment="staging")) == "staging: v1.2.0 is live (arxos)"
    assert title(make_notice(version="v1\r\nBcc: evil@example.com")) == (
        "production: v1 Bcc: evil@example.com awaits approval (arxos)"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_distinct_title(kind: str) -> None:
    titles = {title(make_notice(kind=k)) for k in KINDS}
    assert len(titles) == len(KINDS)
    assert "\n" not in title(make_notice(kind=kind))


def test_text_says_version_environment_who_why_what_changes_and_where_to_approve() -> None:
    body = text(make_notice())
    for expected in (
        "production: v1.2.0 awaits approval (arxos)",
        "Version:       v1.2.0 (was v1.1.0)",
        "Environment:   production",
        "Requested by:  alice@arxos.com",
        "Why:           release 1.2: faster search",
        "What happened: staging has run v1.2.0 for a day",
        "Approvers:     admin@arxos.com, devops@arxos.com",
        "  - search: new index",
        "Review and approve: https://deploy.arxos.com/approvals/d-0042",
    ):
        assert expected in body
    assert len(body.splitlines()) > 5


def test_text_leaves_out_what_is_not_known() -> None:
    body = text(make_notice(reason="", detail="", changes=(), approve_url=None, approvers=(), previous_version=None))
    assert "Why" not in body
    assert "What changes" not in body
    assert "approve" not in body.lower()
    assert "Version:      v1.2.0\n" in body


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.data.append(data)


def test_html_escapes_every_value() -> None:
    hostile = "<script>alert('x')</script>"
    notice = make_notice(
        reason=hostile,
        detail='"><img src=x onerror=alert(1)>',
        changes=(hostile,),
        requested_by="<b>mallory</b>",
        approve_url='https://deploy.example/a?x="><script>',
    )
    page = html(notice)
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    parsed = _Collector()
    parsed.feed(page)
    assert set(parsed.tags) <= {"html", "head", "meta", "body", "h2", "table", "tr", "th", "td", "p", "ul", "li", "a"}
    assert parsed.links == ['https://deploy.example/a?x="><script>']
    assert hostile in "".join(parsed.data)  # escaped, so the reader sees the text as it was


def test_html_links_only_http_urls() -> None:
    page = html(make_notice(approve_url="javascript:alert(1)"))
    parsed = _Collector()
    parsed.feed(page)
    assert parsed.links == []
    assert "javascript:alert(1)" in "".join(parsed.data)


def test_a_notice_needs_a_known_kind_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="unknown notice kind"):
        make_notice(kind="deployed")
    with pytest.raises(ValueError, match="timezone-aware"):
        Notice("deployment_started", "arxos", "staging", "v1", "d-1", datetime(2026, 1, 1))
