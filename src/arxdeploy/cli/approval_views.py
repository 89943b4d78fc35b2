"""What the approval commands show, and `approve`/`reject` through an arxdeploy server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arxdeploy.cli import remote
from arxdeploy.domain.approvals import Verdict
from arxdeploy.redact import Redactor


def gate_line(gate: Mapping[str, Any]) -> str:
    """One line for a gate as ``views.gate_out`` shapes it (and the server returns it)."""
    status = gate["status"]
    rejection = gate.get("rejection")
    if status == "rejected" and rejection:
        return f"rejected by {rejection['who']}: {rejection.get('reason') or 'no reason given'}"
    approved = gate.get("approved_by") or []
    needed = (gate.get("request") or {}).get("min_approvals")
    return f"{status}: {len(approved)} of {needed} approvals ({', '.join(approved) or 'none yet'})"


def pending_table(rows: list[dict[str, Any]], redactor: Redactor) -> None:
    from rich.table import Table

    from arxdeploy.cli.render import console

    table = Table(box=None, header_style="bold")
    for column in ("id", "environment", "version", "asked by", "approvals", "time left"):
        table.add_column(column)
    for row in rows:
        left = row["seconds_left"]
        approvals = f"{len(row['approved_by'])} of {row['min_approvals']}"
        table.add_row(
            row["id"],
            row["environment"],
            row["version"],
            row["requested_by"],
            approvals,
            f"{left // 60}m{left % 60:02d}s",
        )
    out = console(redactor)
    out.print(table if rows else "nothing waits for approval")


def tokens_table(rows: list[dict[str, Any]], redactor: Redactor) -> None:
    """Tokens as ``views.token_out`` shapes them (and the server returns them)."""
    from rich.table import Table

    from arxdeploy.cli.render import console

    table = Table(box=None, header_style="bold")
    for column in ("id", "person", "role", "created", "by", "expires", "state"):
        table.add_column(column)
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active" if row["active"] else "expired"
        table.add_row(
            row["id"],
            row["email"],
            row["role"],
            row["created_at"][:19],
            row["created_by"],
            (row["expires_at"] or "never")[:19],
            state,
        )
    console(redactor).print(table if rows else "no tokens yet: `arxdeploy token bootstrap --for EMAIL` makes the first")


def decide_remotely(
    url: str, deployment_id: str, verdict: Verdict, reason: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """POST the verdict to the server with the person's token; its errors become ours."""
    body = {"reason": reason} if reason else {}
    path = ("approvals", deployment_id, verdict.value)
    doing = "approving" if verdict is Verdict.APPROVE else "rejecting"
    gate: dict[str, Any] = remote.call(url, "POST", path, environ, doing=doing, body=body)
    return gate
