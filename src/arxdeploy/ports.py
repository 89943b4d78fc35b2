"""The small interfaces the engine drives. Adapters implement them; ``arxdeploy.testing`` has fakes.

Every method is keyword-only so call sites read as sentences and arguments cannot swap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import MetricCheck, SyntheticLoad
from arxdeploy.domain.roles import Role
from arxdeploy.domain.security import GateResult
from arxdeploy.domain.states import Color, State

# --- target -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replica:
    index: int
    url: str  # base URL that reaches this replica directly, e.g. http://127.0.0.1:41234
    running: bool
    restarts: int = 0
    pid: int | None = None
    # Not running yet, and expected to: waiting for a node, for its image, or for its first
    # start. While others serve, monitoring does not hold it against the color.
    waiting: bool = False


class ProblemKind(StrEnum):
    FAILED = "failed"  # will not pass on its own (a crash loop, an image that cannot be pulled): fail now
    WAITING = "waiting"  # may pass on its own (a node being added, an image being pulled): wait


@dataclass(frozen=True)
class Problem:
    """Why a color does not run as asked, in the target's words."""

    kind: ProblemKind
    reason: str  # one word: CrashLoopBackOff, Unschedulable, ImagePullBackOff, CrashLoop, Restarting
    detail: str = ""  # which replicas, what the platform says, its recent events

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True)
class ColorState:
    color: Color
    version: str
    replicas: tuple[Replica, ...]
    problem: Problem | None = None
    # How many replicas the color is meant to run now: what it was started with, or what an
    # autoscaler (or a person) made of it since. None: as many as are listed.
    size: int | None = None

    @property
    def failed(self) -> bool:
        """Whether it will not run as asked without a change (fail fast)."""
        return self.problem is not None and self.problem.kind is ProblemKind.FAILED

    @property
    def wanted(self) -> int:
        return self.size if self.size is not None else len(self.replicas)


@dataclass(frozen=True)
class EnvironmentState:
    environment: str
    live_color: Color | None
    colors: dict[Color, ColorState] = field(default_factory=dict)
    live_url: str | None = None  # the front door (router / Service)
    preview_url: str | None = None  # reaches the candidate color before the switch
    # Each color's percent of new requests now (a canary's split); a color that takes none is left
    # out, and so is everything where the target does not report it.
    weights: dict[Color, int] = field(default_factory=dict)

    @property
    def live_version(self) -> str | None:
        state = self.colors.get(self.live_color) if self.live_color else None
        return state.version if state else None


@dataclass(frozen=True)
class Export:
    """A target's part of a backup (``Target.export``): its files, and facts about them.

    ``facts`` are small JSON data kept beside the backup in the clear (its index), so they can
    be read without the backup's key: names of what existed, never contents. ``versions`` are
    the versions the exported colors ran: a rollback looks for the newest backup that ran one.
    """

    files: Mapping[str, bytes]  # relative name -> content
    facts: Mapping[str, Any] = field(default_factory=dict)
    versions: tuple[str, ...] = ()


class Target(Protocol):
    """Where colors run. Every method is idempotent; a refusal or a failure raises ``TargetError``.

    The rules every implementation keeps (``tests/contract`` runs the same tests against each):

    - A color *runs* when ``inspect`` lists it; the *live* color is the one new requests go to.
    - ``inspect`` and ``export`` change nothing where colors run: they start, stop and rewrite
      nothing, and where nothing ever ran they find an empty environment rather than set one up.
    - What takes traffic is never replaced or stopped: ``start_color`` and ``stop_color`` refuse
      the live color, and ``switch`` refuses a color with no running replica.
    - A refusal's message names the color and the environment, and changes nothing.
    """

    def inspect(self, *, environment: str) -> EnvironmentState:
        """What runs now: colors, versions, replicas, which color is live.

        Each color's ``problem`` says why it does not run as asked: ``FAILED`` when it will
        not without a change (a crash loop), ``WAITING`` when it may (a replica restarting, a
        pod waiting for a node); None when nothing is wrong. Where nothing ever ran: no live
        color and no colors. Changes nothing.
        """
        ...

    def export(self, *, environment: str) -> Export:
        """What runs now, as files a backup keeps, so it can be restored; changes nothing.

        The target only produces its part: ``arxdeploy.backup`` adds the rest, writes the
        manifest and stores the backup. Where nothing ever ran: an export of that emptiness.
        """
        ...

    def start_color(
        self, *, environment: str, color: Color, version: str, replicas: int, saved: Export | None = None
    ) -> None:
        """Start ``replicas`` of ``version`` as ``color`` beside the live one; does not switch.

        Where an autoscaler sizes the colors (Kubernetes), ``replicas`` is the least it starts
        with: as many as the live color runs now, within the autoscaler's bounds, since the new
        color takes all of the live one's traffic at once; ``inspect`` tells the size it chose
        (``ColorState.size``), and a color the autoscaler has scaled is not scaled back.
        A no-op when that color already runs that version with that many replicas (or more, where
        an autoscaler scaled it up): a warm color is reused, live or not. Otherwise what the
        color ran is replaced, unless the color is live: then ``TargetError``, and it keeps
        running as it was. A live color that runs nothing (the target lost it) is started again:
        that is how a lost live version is restored. Returns once started; readiness is the
        health checks' business. ``saved``: a rollback or a restore; start ``version`` as this
        export of a backup (``export``) holds it, where the target can, rather than as the config
        says now; a version the export does not hold is started from the config.
        """
        ...

    def switch(self, *, environment: str, color: Color | None) -> None:
        """Send all new requests to ``color`` in one atomic change.

        ``TargetError`` when ``color`` has no running replica (it would drop every request).
        Switching to the live color again is a no-op. ``None``: nothing is live afterwards,
        and every color keeps running.
        """
        ...

    def set_weight(self, *, environment: str, color: Color, weight: int) -> None:
        """Send ``weight`` percent (0 to 100) of new requests to ``color`` and the rest to the live color.

        ``color`` must run and must not be live. The change is atomic, like a switch: each request
        sees the weights before it or after it; requests in flight finish where they are. Weight 0
        ends the split; ``switch`` ends it too (everything to the color switched to), and stopping
        the weighted color first takes its weight away. ``inspect`` reports the split
        (``EnvironmentState.weights``). Idempotent: it sets the weight, whatever it was before.

        ``TargetError`` if the color does not run, is live, or nothing is live; ``UsageError``
        for a weight outside 0 to 100, or where the target cannot split traffic.
        """
        ...

    def stop_color(self, *, environment: str, color: Color, drain_timeout: timedelta) -> None:
        """Let requests in flight on ``color`` finish (up to ``drain_timeout``), then stop it.

        ``inspect`` no longer lists it afterwards. ``TargetError`` for the live color; a color
        that does not run is a no-op.
        """
        ...

    def remove_created(self, *, environment: str, before: Mapping[str, Any] | None) -> list[str]:
        """Remove what was set up for ``environment`` since an export was taken: what a failed
        first deployment created beside its color (a namespace, Services, policies; a router).
        ``before`` is that export's ``facts``, as its backup kept them. Returns what was removed,
        for people.

        Only once nothing is live and no color runs; what the export found stays (never a
        namespace or an object that existed before), and so does everything when ``before`` is
        None (no backup: what was there is unknown). Idempotent.
        """
        ...


# --- health -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One place to check: a base URL and what runs behind it."""

    url: str
    color: Color
    version: str
    label: str  # e.g. "green replica 1" or "live path"


@dataclass(frozen=True)
class CheckResult:
    check: str  # "GET /health on green replica 1" or "script database_connectivity"
    ok: bool
    answer: str  # status line and start of the body, or the script's output


@dataclass(frozen=True)
class Round:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def first_failure(self) -> CheckResult | None:
        return next((r for r in self.results if not r.ok), None)


class HealthProbe(Protocol):
    def round(self, *, probes: Sequence[Probe], timeout: timedelta) -> Round:
        """Run every check against every probe concurrently; never raises for a failed check."""
        ...


# --- store --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A deployment with its current state, as listed by ``history``."""

    deployment: Deployment
    state: State
    updated_at: datetime


@dataclass(frozen=True)
class LockHolder:
    deployment_id: str
    owner: str  # who: user@host
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class LiveRelease:
    """What the event log says takes traffic in an environment."""

    color: Color | None
    version: str | None
    deployment_id: str
    at: datetime


@dataclass(frozen=True)
class TokenRecord:
    """A person's API token as stored: the sha256 of its secret, never the secret."""

    id: str
    email: str
    secret_sha256: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    github: str | None = None  # the person's GitHub login, to know their CI runs as theirs
    role: Role = Role.APPROVER  # what it lets its owner do through the server
    expires_at: datetime | None = None  # refused from then on, like a revoked one; None: never

    def active(self, at: datetime) -> bool:
        """Neither revoked nor expired at ``at``."""
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)


class Store(Protocol):
    """Durable record of deployments. The event log is append-only."""

    def create(self, *, deployment: Deployment, events: Sequence[Event]) -> None:
        """Record a new deployment with its first events. Raises StoreError if the id exists."""
        ...

    def append(self, *, deployment_id: str, events: Sequence[Event]) -> None:
        """Append events atomically, in order, and update the cached state."""
        ...

    def get(self, *, deployment_id: str) -> Summary:
        """Raises NotFoundError for an unknown id. A unique prefix of at least 6 chars works."""
        ...

    def events(self, *, deployment_id: str) -> list[Event]: ...

    def history(self, *, service: str, environment: str | None = None, limit: int = 20) -> list[Summary]:
        """Newest first."""
        ...

    def unfinished(self, *, service: str, environment: str) -> list[Summary]:
        """Deployments not in a terminal state, oldest first."""
        ...

    def live(self, *, service: str, environment: str) -> LiveRelease | None:
        """The last ``switched`` event of the environment, or None if traffic never moved."""
        ...

    def acquire_lock(self, *, service: str, environment: str, holder: LockHolder) -> LockHolder:
        """Take the lease if free or expired (at ``holder.acquired_at``); returns the holder in force."""
        ...

    def renew_lock(self, *, service: str, environment: str, holder: LockHolder, expires_at: datetime) -> bool:
        """Extend exactly this holder's lease (same deployment, host, pid and acquired_at: a
        recovery holds the same deployment id); False if it is no longer theirs."""
        ...

    def release_lock(self, *, service: str, environment: str, holder: LockHolder) -> None:
        """Remove exactly this holder's lease; nothing if someone else holds it."""
        ...

    def lock_holder(self, *, service: str, environment: str) -> LockHolder | None:
        """Who holds the lease now (expired or not), or None. Reads only."""
        ...

    def break_lock(self, *, service: str, environment: str, holder: LockHolder) -> bool:
        """Remove exactly this (abandoned) holder; False if the lease changed meanwhile."""
        ...

    def add_token(self, *, token: TokenRecord) -> None:
        """Record a new token. Raises StoreError if the id exists."""
        ...

    def tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, oldest first."""
        ...

    def revoke_token(self, *, token_id: str, at: datetime) -> bool:
        """Mark a token revoked; False if it is unknown or was already revoked."""
        ...

    def add_first_admin(self, *, token: TokenRecord) -> bool:
        """Record ``token`` only while no admin token is active at its ``created_at``; False (and
        nothing recorded) if one is. Atomic: of several at once, at most one is recorded."""
        ...


# --- backups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupInfo:
    """One whole backup, as its index says (read without opening the backup)."""

    id: str  # the id of the deployment that took it
    service: str
    environment: str
    created_at: datetime
    target: str  # the target type that exported it: local, kubernetes
    versions: tuple[str, ...]  # what the exported colors ran
    facts: Mapping[str, Any]  # the target's facts (``Export.facts``)
    live_version: str | None  # what was live when it was taken
    live_color: Color | None
    files: int  # how many files it holds
    size: int  # bytes stored
    encrypted: bool
    where: str  # where it is, for people: a path or a URL
    database: bool = False  # it holds a dump of the database (backup.database)


class Backups(Protocol):
    """Where backups are kept (``arxdeploy.backup``); the engine saves and reads them here."""

    def save(self, *, deployment: Deployment, export: Export) -> BackupInfo:
        """Keep a backup for ``deployment``: ``export`` plus what every backup holds (the config,
        the environment's history, database dumps), whole or not at all; then delete what the
        retention rules no longer keep. Raises ``BackupError`` when it cannot be stored.
        """
        ...

    def kept(self, *, environment: str) -> list[BackupInfo]:
        """The environment's whole backups, newest first. Raises ``BackupError``."""
        ...

    def target_part(self, *, backup_id: str) -> Export:
        """The target's part of a backup, once every file of the backup matched its digest.

        Raises ``NotFoundError`` (no such backup), ``DamagedBackupError`` (never handed out),
        ``UsageError`` (encrypted, and no key to open it) or ``BackupError``.
        """
        ...

    def restore_database(self, *, backup_id: str, deployment: Deployment) -> str:
        """Put the database back as backup ``backup_id``'s dump holds it, for ``deployment`` (the
        restore or rollback doing it), once every file of the backup matched its digest; returns
        a line for people. The writes made since the dump are lost.

        Raises what ``target_part`` raises, ``UsageError`` when no database is configured or the
        backup holds no dump, and ``StepFailed`` when the restore script fails or runs out of
        time (its last lines of output in ``answer``).
        """
        ...


# --- security gates -----------------------------------------------------------------------


class SecurityGates(Protocol):
    """The security gates (``arxdeploy.security``), which the engine's ``security`` step runs."""

    def check(self, *, deployment: Deployment) -> Sequence[GateResult]:
        """Run every gate for ``deployment`` (its environment and version), the ones turned off
        included (as ``skipped``); one result each, in order. Changes nothing anywhere. Never
        raises for what a gate found, nor for a gate that could not run: that is a ``failed``
        result saying why."""
        ...

    def prepare(self, *, deployment: Deployment, results: Sequence[GateResult]) -> None:
        """Before a deploy starts the new color: make the target run what the gates resolved for
        it (the image_digest gate's digest), from ``results`` as recorded, so that a process that
        resumes a deployment it did not check runs what was checked and approved. Idempotent."""


# --- metric analysis ----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One metric of one color over one window."""

    value: float | None  # None: nothing to judge (no traffic, an empty answer)
    requests: int | None = None  # requests behind the figure, where the provider knows (router)
    note: str = ""  # why there is no value, for people


@dataclass(frozen=True)
class MetricScope:
    """Whose figure is read: the placeholders of a query ({service} and {namespace} are the adapter's)."""

    environment: str
    color: Color
    version: str
    interval: timedelta


class MetricReader(Protocol):
    """Reads metrics for one analysis; may keep state between windows (counter deltas)."""

    def window(self) -> None:
        """A window ends (and the next starts) now: called once before the first and after each
        interval, before its ``measure`` calls. Never raises: a failure shows in ``measure``."""
        ...

    def measure(self, *, metric: MetricCheck, scope: MetricScope, until: datetime | None = None) -> Measurement:
        """``metric`` of ``scope.color`` over the last window, or over ``scope.interval`` up to
        ``until`` (a window in the past, where the provider keeps history). Raises
        ``MetricsError`` when the provider cannot answer; never guesses a value."""
        ...

    def close(self) -> None: ...


class Metrics(Protocol):
    """Where analysis reads its figures, sends synthetic load, and compares samples."""

    def reader(self, *, environment: str, metrics: Sequence[MetricCheck]) -> MetricReader:
        """A reader for one analysis of ``metrics`` in ``environment``; close it when done."""
        ...

    def load(self, *, environment: str, color: Color, url: str, load: SyntheticLoad) -> Callable[[], int]:
        """Start sending ``load`` to ``color`` through ``url`` (requests marked
        ``X-Arxdeploy-Synthetic``) until its duration ends or the returned function is called;
        that function stops it and returns how many requests were answered."""
        ...

    def rank_test(self, *, candidate: Sequence[float], baseline: Sequence[float]) -> float:
        """The one-sided p-value of a Mann-Whitney U test that ``candidate`` is greater than
        ``baseline``. Raises ``UsageError`` when the judge's library is not installed."""
        ...


# --- time and hooks -----------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None: ...


class Hook(Protocol):
    """Subscribes to engine events: progress display, metrics, notifications, logs."""

    def __call__(self, deployment: Deployment, event: Event) -> None: ...
