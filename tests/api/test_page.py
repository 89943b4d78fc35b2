"""The approval page: its security headers, and the whole flow in headless Chromium (Debian's)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from arxdeploy.domain.approvals import GateStatus
from tests.api.conftest import REQUESTER, World

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if shutil.which("/usr/bin/chromium") else None)


def test_the_page_shell_has_strict_headers_and_no_data(world: World) -> None:
    d = world.request_production(version="v2-secret-version")
    response = world.client.get(f"/approvals/{d.id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "v2-secret-version" not in html and d.id not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline script"
    assert "http://" not in html and "https://" not in html, "no external resources"

    script = world.client.get("/static/approval.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "textContent" in script.text
    assert "localStorage" not in script.text and "document.cookie" not in script.text


@pytest.fixture
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("no chromium executable (apt-get install -y --no-install-recommends chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_approve_in_the_browser(world: World, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    d = world.request_production(version="v2", reason="new checkout flow")
    assert world.post(f"/api/v1/approvals/{d.id}/approve", "bo@example.com").status_code == 200
    token = world.token("cy@example.com")
    url = f"{world.url}/approvals/{d.id}"

    context = browser.new_context()
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url)
        expect(page.locator("#signin")).to_be_visible()
        page.fill("#token", token)
        page.click("#signin-button")

        expect(page.locator("#gate")).to_be_visible()
        expect(page.locator("#service")).to_have_text("demo-api")
        expect(page.locator("#environment")).to_have_text("production")
        expect(page.locator("#version")).to_have_text("nothing live \u2192 v2")
        expect(page.locator("#requested-by")).to_have_text(REQUESTER)
        expect(page.locator("#reason")).to_have_text("new checkout flow")
        expect(page.locator("#changes")).to_contain_text("version: nothing live -> v2")
        expect(page.locator("#time-left")).to_have_text(re.compile(r"^(30m 00s|29m \d\ds)$"))
        expect(page.locator("#tally")).to_have_text("1 of 2 needed")
        expect(page.locator("#approved-by")).to_contain_text("bo@example.com")
        assert token not in page.url
        assert context.cookies() == []
        assert page.evaluate("sessionStorage.getItem('arxdeploy.token')") == token

        page.click("#approve")
        expect(page.locator("#result")).to_contain_text("Your approval is recorded: the deployment is approved")
        expect(page.locator("#status")).to_have_text("approved")
        expect(page.locator("#approve")).to_be_hidden()
        assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    finally:
        context.close()
    _, gate = world.app.approvals.gate(deployment_id=d.id)
    assert gate.status is GateStatus.APPROVED
    assert gate.approved_by == ("bo@example.com", "cy@example.com")


def test_the_browser_shows_the_apis_refusal(world: World, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    d = world.request_production()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{world.url}/approvals/{d.id}")
        # Without a token: the sign-in, and none of the deployment's data.
        expect(page.locator("#signin")).to_be_visible()
        expect(page.locator("#gate")).to_be_hidden()
        assert page.locator("#version").text_content() == ""
        assert "production" not in page.locator("body").inner_text()

        page.fill("#token", "arx_nope_nope")
        page.click("#signin-button")
        expect(page.locator("#message")).to_contain_text("the token is not valid")
        expect(page.locator("#signin")).to_be_visible()

        page.fill("#token", world.token(REQUESTER))
        page.click("#signin-button")
        expect(page.locator("#environment")).to_have_text("production")
        page.click("#approve")
        expect(page.locator("#result")).to_contain_text("may not approve it (allow_self_approval is off)")

        page.click("#reject-open")
        page.fill("#reject-reason", "wrong release train")
        page.click("#reject")
        expect(page.locator("#result")).to_contain_text("Your rejection is recorded")
        expect(page.locator("#rejection")).to_contain_text("wrong release train")
    finally:
        context.close()
    _, gate = world.app.approvals.gate(deployment_id=d.id)
    assert gate.status is GateStatus.REJECTED
    assert [r.who for r in gate.refusals] == [REQUESTER]
