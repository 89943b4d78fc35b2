"""Notifications from a real deploy: Slack, email over a real SMTP server, a signed webhook,
and a channel that stays down, recorded on the deployment without holding it up."""

from __future__ import annotations

import json

import pytest

from arxdeploy.notify import verify_signature
from tests.notify.servers import Mailbox, Receiver, smtp_server
from tests.support import free_port

from .conftest import Service

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-hook-key-0123456789"


def test_a_deploy_tells_every_channel_and_records_the_one_that_is_down(service: Service) -> None:
    mailbox = Mailbox()
    with Receiver() as slack, Receiver() as hook, smtp_server(mailbox) as smtp_port:
        dead = f"http://127.0.0.1:{free_port()}/down"
        with service.config.open("a", encoding="utf-8") as config:
            config.write(
                "notifications:\n"
                "  slack: {webhook_url: '${SLACK_URL}'}\n"
                f"  email: {{smtp_host: 127.0.0.1, smtp_port: {smtp_port}, security: none,"
                " sender: arxdeploy@example.com, recipients: [ops@example.com]}\n"
                "  webhooks:\n"
                f"    - {{url: '{hook.url}/hook', secret: '${{HOOK_SECRET}}'}}\n"
                f"    - {{url: '{dead}', secret: '${{HOOK_SECRET}}'}}\n"
                "  events: [deployment_started, deployment_succeeded]\n"
            )
        service.env.update({"SLACK_URL": f"{slack.url}/services/T000/B000/XXXX", "HOOK_SECRET": SECRET})
        done = service.run("deploy", "--env", "staging", "--version", "v1", "--json")
        assert done.returncode == 0, done.stderr

    kinds = [json.loads(r.body)["kind"] for r in hook.requests]
    assert kinds == ["deployment_started", "deployment_succeeded"]
    for request in hook.requests:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert verify_signature(
            SECRET, headers["x-arxdeploy-timestamp"], request.body, headers["x-arxdeploy-signature-256"]
        )
    assert len(slack.requests) == 2 and "v1" in json.loads(slack.requests[-1].body)["text"]
    subjects = [message["Subject"] for _, message in mailbox.messages]
    assert len(subjects) == 2 and all("staging" in s and "v1" in s for s in subjects)

    deployment_id = json.loads(done.stdout)["id"]
    shown = service.run("show", deployment_id, "--json")
    failed = [e for e in json.loads(shown.stdout)["events"] if e["type"] == "notification_failed"]
    assert {(e["channel"], e["notice"]) for e in failed} == {
        ("webhook 2", "deployment_started"),
        ("webhook 2", "deployment_succeeded"),
    }
    by_notice = {e["notice"]: e for e in failed}
    # The first notice had the whole deployment to retry in; the last one only the 5 s an
    # ending command gives notices in flight, so it may have been given up before its 4th try.
    assert by_notice["deployment_started"]["attempts"] == 4
    assert "refused" in by_notice["deployment_started"]["error"]
    last = by_notice["deployment_succeeded"]
    assert 1 <= last["attempts"] <= 4
    assert "refused" in last["error"] or "given up" in last["error"]
    everything = shown.stdout + done.stdout + done.stderr
    assert SECRET not in everything and "XXXX" not in everything and "/down" not in everything
