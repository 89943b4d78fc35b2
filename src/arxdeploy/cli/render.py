"""Rich output for people: live progress of a deployment, tables, event logs."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from rich.console import Console
from rich.table import Table
from rich.text import Text

from arxdeploy.domain import security_events
from arxdeploy.domain.events import Deployment, Event, View
from arxdeploy.domain.states import State
from arxdeploy.domain.units import size_text
from arxdeploy.ports import Summary
from arxdeploy.redact import RedactingWriter, Redactor

if TYPE_CHECKING:
    from rich.status import Status  # made by Console.status, for deployments only

_STYLE = {
    State.SUCCEEDED: "bold green",
    State.FAILED: "bold red",
    State.ROLLED_BACK: "bold yellow",
    State.REJECTED: "bold red",
    State.EXPIRED: "bold red",
}
# What only counts down ("283s left", "41m05s left"): not news in a CI log.
_COUNTDOWN = r"\b\d+(?:m\d{2})?s left\b"  # compiled on first use: tables never need it
_VERBS = {
    "deploy": "Deploying",
    "rollback": "Rolling back to",
    "restore": "Restoring",
    "reconcile": "Reconciling to",
    "stop": "Stopping",
}


def console(redactor: Redactor) -> Console:
    stream = cast(TextIO, RedactingWriter(sys.stdout, redactor))
    # Logs and pipes get wide lines rather than tables squeezed to 80 columns.
    return Console(
        file=stream, highlight=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200
    )


class Printer:
    """A hook that shows a deployment as it runs: one line per step, a live status line."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.redactor = Redactor()
        self._console: Console | None = None
        self._status: Status | None = None
        self._state_since = time.monotonic()
        self._state = State.REQUESTED
        self._last_plain: str | None = None  # outside a terminal: the last progress printed, sans countdown

    @property
    def out(self) -> Console:
        if self._console is None:
            self._console = console(self.redactor)
        return self._console

    def note(self, message: str) -> None:
        if not self.quiet:
            self.out.print(f"[cyan]•[/] {message}")

    def __call__(self, deployment: Deployment, event: Event) -> None:
        if self.quiet:
            return
        if event.type == "state":
            self._on_state(deployment, State(event.data["state"]))
        elif event.type == "step":
            self._on_step(event)
        elif event.type == "switched":
            color = event.data.get("color")
            where = f"{color} ({event.data.get('version')})" if color else "nothing"
            self._line(f"[bold magenta]⇄[/] traffic now on {where}")
        elif event.type == "progress":
            self._progress(str(event.data.get("message", "")))
        elif event.type == "warning":
            self._line(Text(f"! {event.data.get('message', '')}", style="yellow"))
        elif event.type == "approval_requested":
            data = event.data
            who = ", ".join(data.get("approvers", []))
            self._line(
                f"[bold yellow]?[/] approval asked of {who} ({data.get('min_approvals')} needed, "
                f"until {str(data.get('expires_at', ''))[:16].replace('T', ' ')} UTC); "
                f"`arxdeploy approve {deployment.id}`"
            )
        elif event.type == "approval":
            verb = "approved" if event.data.get("verdict") == "approve" else "rejected"
            self._line(f"[bold yellow]✓[/] {verb} by {event.data.get('who')}")
        elif event.type == security_events.EVENT:
            result = security_events.from_data(event.data)
            style = {"failed": "red", "warning": "yellow", "passed": "green"}.get(result.status.value, "dim")
            self._line(Text(f"  {security_events.line(result)}", style=style))

    def _on_state(self, d: Deployment, state: State) -> None:
        self._state, self._state_since = state, time.monotonic()
        if state is State.REQUESTED:
            verb = _VERBS.get(d.kind.value, d.kind.value.capitalize())
            was = f"{d.previous_version} on {d.old_color.value}" if d.old_color else "nothing live"
            what = (
                f"{d.service}/{d.environment}"
                if d.kind.value == "stop"
                else f"{d.service} {d.version} to {d.environment}"
            )
            data = " and its database" if d.route.restore_database else ""
            self._line(f"[bold]{verb} {what}{data}[/] (now: {was}) · deployment {d.id}")
        elif state.terminal:
            self._stop_status()
        else:
            self._last_plain = None
            if self.out.is_terminal:
                self._progress("")

    def _on_step(self, event: Event) -> None:
        outcome = event.data.get("outcome")
        mark = "[green]✓[/]" if outcome == "ok" else "[red]✗[/]"
        text = event.data.get("detail") or event.data.get("reason") or ""
        started = event.data.get("started")
        seconds = (event.at - _parse(started)).total_seconds() if started else 0.0
        self._line(f"{mark} {event.data.get('step', ''):<9} {seconds:6.1f}s  {text}")

    def _progress(self, message: str) -> None:
        elapsed = time.monotonic() - self._state_since
        text = f"{self._state.value.replace('_', ' ')} ({elapsed:.0f}s)" + (f": {message}" if message else "")
        if self.out.is_terminal:
            if self._status is None:
                self._status = self.out.status(text)
                self._status.start()
            else:
                self._status.update(text)
            return
        # In CI logs: a line when there is news, never the same line again (a countdown is no news).
        news = re.sub(_COUNTDOWN, "", message)
        if news != self._last_plain:
            self.out.print(f"  … {text}")
            self._last_plain = news

    def _line(self, markup: str | Text) -> None:
        self.out.print(markup)

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def outcome(self, state: State, line: str) -> None:
        self._stop_status()
        self.out.print(Text(line, style=_STYLE.get(state, "bold")))


def _parse(value: Any) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(str(value))


def status_table(service: str, rows: Sequence[dict[str, Any]], redactor: Redactor) -> None:
    table = Table(title=f"{service}", title_justify="left")
    for column in ("environment", "live", "color", "health", "url", "last deployment"):
        table.add_column(column)
    for row in rows:
        last = row.get("last_deployment")
        last_text = f"{last['id']} {last['version'] or last['kind']} {last['state']}" if last else "-"
        health = row["health"]
        style = {"healthy": "green", "unhealthy": "red", "down": "red"}.get(health["status"], "")
        table.add_row(
            row["environment"],
            row["live_version"] or "-",
            row["live_color"] or "-",
            Text(health["status"] + (f": {health['detail']}" if health.get("detail") else ""), style=style),
            row.get("url") or "-",
            last_text,
        )
    out = console(redactor)
    out.print(table)
    for row in rows:
        name = row["environment"]
        if row.get("drift"):
            out.print(Text(f"{name}: drift: {row['drift']['message']}", style="yellow"))
            out.print(f"  fix: {row['drift']['fix']}")
        if row.get("weights"):
            split = ", ".join(f"{color} {weight}%" for color, weight in row["weights"].items())
            out.print(f"{name}: traffic split (canary): {split}")
        for note in row.get("notes") or ():
            out.print(f"{name}: {note}")


def history_table(
    rows: Sequence[Summary], redactor: Redactor, canaries: Mapping[str, Mapping[str, Any]] | None = None
) -> None:
    table = Table()
    for column in ("id", "env", "kind", "version", "from", "state", "who", "when (UTC)", "reason"):
        table.add_column(column)
    for s in rows:
        d = s.deployment
        table.add_row(
            d.id,
            d.environment,
            d.kind.value,
            d.version or "-",
            d.previous_version or "-",
            Text(_state_text(s, (canaries or {}).get(d.id)), style=_STYLE.get(s.state, "")),
            d.requested_by,
            f"{d.created_at:%m-%d %H:%M:%S}",
            d.reason,
        )
    out = console(redactor)
    out.print(table if rows else "no deployments yet")


def show(d: Deployment, view: View, events: Sequence[Event], redactor: Redactor) -> None:
    out = console(redactor)
    out.print(f"[bold]{d.id}[/]  {d.kind.value} {d.service}/{d.environment} {d.version or ''}".rstrip())
    out.print(f"state:     [{_STYLE.get(view.state, 'bold')}]{view.state.value}[/]")
    out.print(
        f"from:      {d.previous_version or '-'} ({d.old_color.value if d.old_color else '-'}) -> {d.new_color.value}"
    )
    out.print(f"asked by:  {d.requested_by}  reason: {d.reason or '-'}")
    if d.git_ref or d.git_sha:
        out.print(f"git:       {d.git_ref or '-'} {d.git_sha or ''}")
    if d.actor or d.run_url:
        out.print(f"ci run:    {d.actor or '-'} {d.run_url or ''}")
    if view.canary:
        where = view.canary_step or "before its first step"
        out.print(f"canary:    {view.canary_weight or 0}% on {d.new_color.value}; step {where}")
    if view.paused:
        out.print(
            f"[yellow]paused:[/]    {view.paused}: `arxdeploy promote {d.id}` or `arxdeploy abort {d.id} --reason ...`"
        )
    if view.failure:
        f = view.failure
        out.print(f"[red]failure:[/]   {f.step}: {f.reason}")
    gates = security_events.results(events)
    if gates:
        out.print("security:")
        for result in gates:
            out.print(f"  {security_events.line(result)}", markup=False)
    out.print("events:")
    for e in events:
        if e.type == security_events.EVENT:  # the findings are in --json; one line here
            fields = security_events.line(security_events.from_data(e.data))
        elif e.type == "analysis":  # both colors' figures are in --json; what was measured and decided here
            fields = _analysis_line(e.data)
        else:
            fields = " ".join(f"{k}={v}" for k, v in e.data.items() if k not in ("started",) and v not in (None, ""))
        out.print(f"  {e.at:%H:%M:%S.%f}"[:-3] + f"  {e.type:<9} {fields}")


def _analysis_line(data: Mapping[str, Any]) -> str:
    """``verify 2/3: error_rate green 5.1% vs blue 0.2% [fail]`` or ``verify pass: ...``."""
    phase = data.get("phase", "")
    if "verdict" in data:
        return f"{phase} {data['verdict']}: {data.get('reason', '')}"
    return f"{phase} {data.get('window')}/{data.get('of')}: {data.get('line', '')}"


def _state_text(s: Summary, canary: Mapping[str, Any] | None) -> str:
    """The state, and for a canary in progress its weight, and whether it waits for a person."""
    if canary is None:
        return s.state.value
    return f"{s.state.value} {canary['weight']}%" + (" paused" if canary.get("paused") else "")


def backups_table(found: Sequence[Any], redactor: Redactor) -> None:
    table = Table()
    for column in ("deployment", "env", "taken (UTC)", "live then", "size", "encrypted", "database", "where"):
        table.add_column(column)
    for b in found:
        live = f"{b.live_version} ({b.live_color.value})" if b.live_version and b.live_color else "nothing"
        sealed = Text("age", style="green") if b.encrypted else Text("no")
        dump = "dump" if b.database else "-"
        table.add_row(
            b.id, b.environment, f"{b.created_at:%Y-%m-%d %H:%M:%S}", live, size_text(b.size), sealed, dump, b.where
        )
    console(redactor).print(table if found else "no backups yet")
