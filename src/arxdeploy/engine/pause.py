"""A deployment that waits for a person inside a step: a canary's ``pause: until_approved``,
or an inconclusive analysis configured to pause. People answer with ``promote`` or ``abort``.

Everything is in the deployment's event log, as for approval gates: ``paused`` (why), then
``promoted`` or ``aborted`` (who, how they were identified, why) and ``pause_refused`` (an
attempt that was not allowed). The waiting step polls the log; ``Answers.answer`` is the one
place the rules are enforced, for the CLI and the server alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from arxdeploy.domain.approvals import identity_refusal
from arxdeploy.domain.events import Deployment, Event, fold
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import State
from arxdeploy.engine.context import StepContext
from arxdeploy.engine.hooks import emit
from arxdeploy.errors import ConflictError, RefusedError, StepFailed, UsageError
from arxdeploy.ports import Clock, Hook, Store

PAUSED, PROMOTED, ABORTED, REFUSED = "paused", "promoted", "aborted", "pause_refused"
# How often a waiting step reads the record: an answer moves it on within this.
POLL_SECONDS = 0.2
PROGRESS_EVERY = timedelta(minutes=1)


class Action(StrEnum):
    PROMOTE = "promote"  # go on: the pause ends; a canary skips its remaining steps (100%)
    ABORT = "abort"  # stop: the step fails, and the traffic goes back to the old version


_EVENT_OF = {Action.PROMOTE: PROMOTED, Action.ABORT: ABORTED}


@dataclass(frozen=True)
class Answer:
    action: Action
    who: str
    via: str  # "server" (a token), "cli" (the local user on a person's terminal)
    reason: str
    at: datetime

    def line(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        done = "promoted" if self.action is Action.PROMOTE else "aborted"
        return f"{done} by {self.who} (via {self.via}){why}"


@dataclass(frozen=True)
class Pauses:
    """Where a deployment's pauses stand: the open one (if any), and people's answers."""

    open: str | None = None  # why it waits now; None when it does not wait
    opened_at: datetime | None = None
    promoted: Answer | None = None  # the first promote, at any time
    aborted: Answer | None = None  # the first abort, at any time
    answers: tuple[Answer, ...] = ()


def paused(reason: str, at: datetime) -> Event:
    return Event(PAUSED, at, {"reason": reason})


def answered(answer: Answer) -> Event:
    data = {"who": answer.who, "via": answer.via, "reason": answer.reason}
    return Event(_EVENT_OF[answer.action], answer.at, data)


def refused(who: str, action: Action, why: str, at: datetime) -> Event:
    return Event(REFUSED, at, {"who": who, "action": action.value, "why": why})


def pauses(events: Iterable[Event]) -> Pauses:
    """Fold the log into where its pauses stand; an answer, or the end of the step that paused,
    closes the pause open then."""
    open_reason: str | None = None
    opened_at: datetime | None = None
    answers: list[Answer] = []
    for event in events:
        if event.type == PAUSED:
            open_reason, opened_at = str(event.data.get("reason", "")), event.at
        elif event.type in (PROMOTED, ABORTED):
            action = Action.PROMOTE if event.type == PROMOTED else Action.ABORT
            who, via, why = (str(event.data.get(key, "")) for key in ("who", "via", "reason"))
            answers.append(Answer(action, who, via, why, event.at))
            open_reason, opened_at = None, None
        elif event.type == "step":  # the step that paused ended (killed, failed): nothing waits any more
            open_reason, opened_at = None, None
    first = {a.action: a for a in reversed(answers)}
    return Pauses(open_reason, opened_at, first.get(Action.PROMOTE), first.get(Action.ABORT), tuple(answers))


def wait_for_person(ctx: StepContext, *, reason: str) -> str:
    """Record that the deployment pauses and why, then wait until someone promotes it (returns
    a line naming who) or aborts it (raises ``StepFailed`` naming who and why). Recorded with
    the same identity and audit as approvals.

    An abort recorded earlier in the deployment (while a canary's weight changed, say) fails at
    once: it was meant for the whole deployment. The lease stays held while it waits (renewed),
    so a kill -9 here is recovered like any interrupted step: traffic goes back.
    """
    before = pauses(ctx.recorded())
    if before.aborted is not None:
        raise StepFailed(before.aborted.line(), check="abort")
    ctx.record(paused(reason, ctx.clock.now()))
    seen = len(before.answers)
    d = ctx.deployment
    told: datetime | None = None
    while True:
        now = ctx.clock.now()
        answers = pauses(ctx.recorded()).answers[seen:]
        if answers:
            first = answers[0]
            if first.action is Action.ABORT:
                raise StepFailed(first.line(), check="abort")
            return first.line()
        if told is None or now - told >= PROGRESS_EVERY:
            ctx.progress(
                f"paused: {reason}; `arxdeploy promote {d.id}` goes on, `arxdeploy abort {d.id} --reason ...` "
                "sends the traffic back"
            )
            told = now
        if ctx.lease is not None:
            ctx.lease.check(undoing=ctx.undoing)
        ctx.clock.sleep(POLL_SECONDS)


# States in which a person's answer means something: a canary's steps, and any step with a pause
# open (an analysis waiting for a person in verifying or monitoring).
_ANSWERABLE = frozenset({State.PROGRESSING})


@dataclass
class Answers:
    """Promote and abort, by people: the one place their rules are enforced (CLI and server)."""

    store: Store
    clock: Clock
    hooks: Sequence[Hook] = field(default_factory=tuple)

    def answer(
        self,
        *,
        deployment_id: str,
        action: Action,
        who: str,
        via: str,
        reason: str = "",
        role: Role | None = None,
        approvers: tuple[str, ...] = (),
        server_only: bool = False,
    ) -> Answer:
        """Record ``who``'s promote or abort. Raises RefusedError (recorded) or ConflictError
        (not recorded). ``approvers`` and ``server_only`` are the environment's approval policy:
        when it names approvers, only they may answer; with a server configured, only through it.
        """
        summary = self.store.get(deployment_id=deployment_id)
        d = summary.deployment
        now = self.clock.now()
        where = pauses(self.store.events(deployment_id=d.id))
        if summary.state.terminal or (summary.state not in _ANSWERABLE and where.open is None):
            raise ConflictError(
                f"deployment {d.id} has nothing to {action.value} (it is {summary.state.value.replace('_', ' ')})",
                hint=f"promote and abort answer a canary or a pause; see it with `arxdeploy show {d.id}`",
            )
        if action is Action.ABORT and not reason.strip():
            raise UsageError("an abort needs a reason", hint="--reason '...' is recorded and told to those waiting")
        if where.aborted is not None:
            raise ConflictError(f"deployment {d.id} was already {where.aborted.line()}")
        why = judge(who=who, via=via, role=role, approvers=approvers, server_only=server_only)
        if why is not None:
            self._append(d, [refused(who, action, why, now)])
            raise RefusedError(why)
        answer = Answer(action, who.strip().lower(), via, reason, now)
        self._append(d, [answered(answer)])
        # Checked and recorded in two steps: the deployment may have moved on in between (its last
        # canary step ended). The record keeps the attempt; it does not count.
        log = self.store.events(deployment_id=d.id)
        mine = max(i for i, e in enumerate(log) if e.type == _EVENT_OF[action] and e.at == now)
        earlier = log[:mine]
        if fold(earlier).state not in _ANSWERABLE and pauses(earlier).open is None:
            raise ConflictError(
                f"deployment {d.id} moved on (to {fold(earlier).state.value}) before this {action.value} was "
                "recorded; it does not count",
                hint=f"see what happened with `arxdeploy show {d.id}`",
            )
        return answer

    def _append(self, d: Deployment, batch: list[Event]) -> None:
        self.store.append(deployment_id=d.id, events=batch)
        emit(self.hooks, d, batch)


def judge(*, who: str, via: str, role: Role | None, approvers: tuple[str, ...], server_only: bool) -> str | None:
    """Why ``who`` may not promote or abort (a refusal to record), or None: the approval rules
    for identity (a token through the server, the local user on a person's terminal, never an
    email only declared in CI) and role (approver or admin), and the approvers list when the
    environment has one. No self-approval rule: whoever started a canary may move it on."""
    refused = identity_refusal(
        who=who, via=via, role=role, server_only=server_only, acts="promote and abort", verb="promote or abort them"
    )
    if refused:
        return refused
    if approvers and who.strip().lower() not in approvers:
        return f"{who} is not an approver of this environment (approvers: {', '.join(approvers)})"
    return None
