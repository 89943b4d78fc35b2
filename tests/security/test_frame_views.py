"""Approvers see the security results: the approval API (real server, real store), `show --json`
and the notices every channel renders."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from arxdeploy.announce import Announcer
from arxdeploy.api import create_app
from arxdeploy.bootstrap import build
from arxdeploy.domain.events import fold
from arxdeploy.engine.run import Engine
from arxdeploy.notify import Notice
from arxdeploy.notify import notice as notice_text
from arxdeploy.notify.slack import payload
from arxdeploy.views import deployment_json
from tests.api.conftest import CONFIG, REQUESTER, LiveServer, on_manual_clock
from tests.drive import deploy
from tests.security.evidence import trivy_report, write
from tests.support import free_port

SECURITY = """\
security:
  vulnerabilities:
    reports: [scan.json]
"""


@dataclass
class Seen:
    notices: list[Notice] = field(default_factory=list)

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)


@dataclass
class Site:
    app: Any
    engine: Engine
    client: httpx.Client
    seen: Seen


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    closed = _closed_port()
    config = CONFIG.format(port=free_port(), python=sys.executable)
    # production gets a public URL nothing answers on: the tls gate warns, which approvers must see.
    config = config.replace("  production:\n", f"  production:\n    url: https://localhost:{closed}\n", 1)
    (tmp_path / "deployment_config.yaml").write_text(config + SECURITY, encoding="utf-8")
    write(tmp_path, "scan.json", trivy_report([("CVE-2026-0003", "curl", "7.88.1", "medium", "7.88.2")]))
    environ = {"PATH": os.environ.get("PATH", ""), "ARXDEPLOY_EMAIL": REQUESTER, "DEMO_TOKEN": "s3cr3t-demo-value"}
    app = build(tmp_path / "deployment_config.yaml", environ)
    seen = Seen()
    announcer = Announcer(seen, frozenset({"approval_requested", "deployment_failed"}), app.store)  # type: ignore[arg-type]
    # The gates as bootstrap wires them, from this config.
    _clock, engine = on_manual_clock(app, hooks=[announcer], security=app.security_gates)
    server = LiveServer(create_app(app))
    server.start()
    client = httpx.Client(base_url=server.url, timeout=10)
    try:
        yield Site(app, engine, client, seen)
    finally:
        client.close()
        server.stop()
        app.close()


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def test_approvers_see_each_gate_in_the_api_and_the_notice(site: Site) -> None:
    d, view = deploy(site.engine, plan=site.app.plan("production"), version="v2", wait=False)
    assert view.state.value == "awaiting_approval"
    assert [s.step for s in view.steps] == ["validate", "security"]
    _, token = site.app.tokens.create(email="bo@example.com", created_by="admin@example.com")
    gate = site.client.get(f"/api/v1/approvals/{d.id}", headers={"Authorization": f"Bearer {token}"})
    assert gate.status_code == 200, gate.text
    security = {g["gate"]: g for g in gate.json()["security"]}
    assert security["vulnerabilities"]["status"] == "passed"
    assert security["vulnerabilities"]["facts"]["counts"]["medium"] == 1
    assert security["tls"]["status"] == "warning" and "cannot reach localhost" in security["tls"]["summary"]

    (asked,) = [n for n in site.seen.notices if n.kind == "approval_requested"]
    ran = [line for line in asked.security if " skipped: " not in line]  # the cluster gates are off
    assert ran[0].startswith("vulnerabilities ok: none at high or above")
    assert ran[1].startswith("tls warning: cannot reach localhost")
    assert "Security gates:\n  - " in notice_text.text(asked)
    assert "\n  - vulnerabilities ok" in notice_text.text(asked)
    assert "<li>tls warning: cannot reach" in notice_text.html(asked)
    assert any("*Security gates*" in str(block) for block in payload(asked)["blocks"])


def test_show_json_lists_the_results_and_the_failure_names_the_gate(site: Site, tmp_path: Path) -> None:
    write(tmp_path, "scan.json", trivy_report([("CVE-2026-0001", "openssl", "3.0.2", "critical", "3.0.3")]))
    d, view = deploy(site.engine, plan=site.app.plan("staging"), version="v2")
    assert view.state.value == "failed"
    events = site.app.store.events(deployment_id=d.id)
    data = deployment_json(d, fold(events), events)
    # the cluster gates (image_digest, secrets, network_policy, compliance) are off unless turned on
    ran = [g for g in data["security"] if g["status"] != "skipped"]
    assert [(g["gate"], g["status"]) for g in ran] == [
        ("vulnerabilities", "failed"),
        ("tls", "not_applicable"),
    ]
    assert ran[0]["findings"][0]["rule"] == "CVE-2026-0001"
    assert data["failure"]["step"] == "security"
    (failed,) = [n for n in site.seen.notices if n.kind == "deployment_failed"]
    assert failed.detail.startswith("vulnerabilities: 1 vulnerability at high or above")
    assert next(line for line in failed.security if " skipped: " not in line).startswith("vulnerabilities FAILED")


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if shutil.which("/usr/bin/chromium") else None)


def test_the_approval_page_lists_each_gate_with_its_status(site: Site) -> None:
    if CHROMIUM is None:
        pytest.skip("no chromium executable (apt-get install -y --no-install-recommends chromium)")
    from playwright.sync_api import expect, sync_playwright

    d, _ = deploy(site.engine, plan=site.app.plan("production"), version="v2", wait=False)
    _, token = site.app.tokens.create(email="bo@example.com", created_by="admin@example.com")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{str(site.client.base_url).rstrip('/')}/approvals/{d.id}")
            page.fill("#token", token)
            page.click("#signin-button")
            expect(page.locator("#security > li")).to_have_count(6)  # 4 cluster gates skipped: off
            items = page.locator("#security > li:not([data-status='skipped'])")
            expect(items).to_have_count(2)
            expect(items.nth(0)).to_have_text(re.compile(r"^vulnerabilities passed: none at high or above"))
            expect(items.nth(1)).to_have_text(re.compile(r"^tls warning: cannot reach localhost"))
            expect(items.nth(1)).to_have_attribute("data-status", "warning")
            assert problems == []
        finally:
            browser.close()
