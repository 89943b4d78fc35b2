"""One function per step. Each returns a one-line detail, or raises StepFailed.

Steps are idempotent: after a crash the engine may run ``cleanup`` or ``rollback`` again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from arxdeploy.domain import events, security_events
from arxdeploy.domain.events import Event
from arxdeploy.domain.states import Color, Kind, Step
from arxdeploy.domain.units import size_text
from arxdeploy.engine import analysis, canary
from arxdeploy.engine.context import StepContext
from arxdeploy.errors import BackupError, NotFoundError, StepFailed, UsageError
from arxdeploy.ports import Export


def validate(ctx: StepContext) -> str:
    d = ctx.deployment
    state = ctx.target.inspect(environment=d.environment)
    # A deploy that reconciles first found nothing live; everything else saw the old color live.
    expected = None if d.route.reconcile_first else d.old_color
    if state.live_color is not expected:
        moved = state.live_color.value if state.live_color else "nothing"
        raise StepFailed(f"traffic moved to {moved} since this deployment was requested; request it again")
    if d.kind is Kind.STOP:
        return f"{d.service}/{d.environment}: stopping {d.previous_version or 'what runs'}"
    moves = f"{d.service}/{d.environment}: {d.previous_version or 'nothing'} -> {d.version} on {d.new_color.value}"
    return moves + _database_intent(ctx)


def security(ctx: StepContext) -> str:
    """Run the security gates before anything changes: each result goes into the log (approvers
    and ``show`` see them); any failed gate fails the deployment, with nothing changed."""
    d = ctx.deployment
    if ctx.security is None:
        return "no security gates configured"
    ctx.progress(f"running the security gates for {d.version}")
    results = ctx.security.check(deployment=d)
    for result in results:
        ctx.record(security_events.recorded(result, ctx.clock.now()))
    failed = security_events.blocking(results)
    if failed:
        raise StepFailed(
            "; ".join(f"{r.gate}: {r.told}" for r in failed),
            check=f"security gate{'s' if len(failed) > 1 else ''} {', '.join(r.gate for r in failed)}",
        )
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    told = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items())
    return f"{len(results)} security gate{'s' if len(results) != 1 else ''}: {told}"


def _database_intent(ctx: StepContext) -> str:
    """What a restore or rollback will do with the database, said when it starts (the record
    tells whether the data went back too, and why not)."""
    d, plan = ctx.deployment, ctx.plan
    if not plan.database or d.kind not in (Kind.RESTORE, Kind.ROLLBACK):
        return ""
    if d.route.restore_database:
        return "; the database goes back too, before the switch (the writes since its dump are lost)"
    if d.kind is Kind.RESTORE:
        return "; the database is left as it is (no --with-database)"
    return f"; the database is left as it is (environments.{d.environment}.restore_database_on_rollback is off)"


def restore_database(ctx: StepContext) -> str:
    """Put the database back from a dump, after the returning version passed its checks and
    before it takes traffic: a failure here fails the deployment with the live version untouched
    (the restore script is expected to change nothing when it fails: one transaction)."""
    d = ctx.deployment
    # A restore: the backup it names. A rollback: the data as it last was under that version.
    source = d.from_backup if d.kind is Kind.RESTORE and d.from_backup else _dump_while_live(ctx, d.version)
    ctx.progress(f"restoring the database from backup {source}")
    detail = ctx.backups.restore_database(backup_id=source, deployment=d)
    ctx.record(events.database_restored(source, Step.RESTORE_DATABASE.value, detail, ctx.clock.now()))
    return detail


def _dump_while_live(ctx: StepContext, version: str) -> str:
    """The newest backup whose dump was taken while ``version`` was live: its data as it last was."""
    env = ctx.deployment.environment
    for found in ctx.backups.kept(environment=env):
        if found.database and found.live_version == version:
            return found.id
    raise StepFailed(
        f"no backup of {env} holds a database dump taken while {version} was live",
        check="restore_database",
    )


def reconcile(ctx: StepContext) -> str:
    """A deploy found nothing live although the record says a version is: bring that back
    first (from the backup that ran it), so the new version has a warm one to return to."""
    d = ctx.deployment
    assert d.old_color is not None and d.previous_version is not None  # route_for guarantees it
    ctx.progress(f"nothing is live in {d.environment}; bringing back {d.previous_version} as the record says")
    ctx.target.start_color(
        environment=d.environment,
        color=d.old_color,
        version=d.previous_version,
        replicas=ctx.plan.replicas,
        saved=_newest_that_ran(ctx, d.previous_version),
    )
    try:
        _ready(ctx, d.old_color, "reconcile")
    except StepFailed:
        ctx.target.stop_color(environment=d.environment, color=d.old_color, drain_timeout=ctx.plan.drain_timeout)
        raise
    ctx.target.switch(environment=d.environment, color=d.old_color)
    ctx.record(events.switched(d.old_color, d.previous_version, ctx.clock.now()))
    return f"nothing was live; {d.previous_version} is back on {d.old_color.value}, as recorded"


def backup(ctx: StepContext) -> str:
    """Save what runs before anything changes: a backup that cannot be stored fails the step,
    and so the deployment, while the target is still as it was."""
    d = ctx.deployment
    export = ctx.target.export(environment=d.environment)
    saved = ctx.backups.save(deployment=d, export=export)
    sealed = ", encrypted" if saved.encrypted else ""
    dump = ", the database dump among them" if saved.database else ""
    count = f"{saved.files} file{'s' if saved.files != 1 else ''}"
    return f"saved {count} ({size_text(saved.size)}{sealed}{dump}) to {saved.where}"


def deploy(ctx: StepContext) -> str:
    d = ctx.deployment
    scaled = f", or as many as {d.old_color.value} runs if it was scaled up" if d.old_color else ""
    ctx.progress(f"starting {d.version} as {d.new_color.value}: {ctx.plan.replicas} replicas{scaled}")
    saved = None
    if d.kind is Kind.RESTORE and d.from_backup:
        # Exactly the backup that was named; one that cannot be opened whole is never used.
        saved = ctx.backups.target_part(backup_id=d.from_backup)
    elif d.kind is not Kind.DEPLOY:
        # Back to a version that ran before: as the newest backup that ran it saved it.
        saved = _newest_that_ran(ctx, d.version)
    if d.kind is Kind.DEPLOY and ctx.security is not None:
        # What the gates resolved (the image's digest) runs, also where another process checked it.
        ctx.security.prepare(deployment=d, results=security_events.results(ctx.recorded()))
    ctx.target.start_color(
        environment=d.environment, color=d.new_color, version=d.version, replicas=ctx.plan.replicas, saved=saved
    )
    return f"{d.version} started as {d.new_color.value}" + (f" from backup {d.from_backup}" if d.from_backup else "")


def verify(ctx: StepContext) -> str:
    d = ctx.deployment
    ready = ctx.watcher.ready(d.new_color, deadline=ctx.plan.checks.progress_deadline, progress=ctx.progress)
    checked = (
        f"{d.new_color.value} ({ready.size} replica{'s' if ready.size != 1 else ''}) passed every check "
        f"{ctx.plan.checks.success_threshold} times in a row ({ready.rounds} rounds)"
    )
    if d.kind is not Kind.DEPLOY:
        return checked  # the way back (rollback, restore, reconcile) is never held up by analysis
    # On preview traffic, against the live color (None on a first deployment: absolute bounds only).
    judged = analysis.run(ctx, phase="verify", metrics=None, candidate=d.new_color, baseline=d.old_color)
    return checked if judged == analysis.NOT_CONFIGURED else f"{checked}; {judged}"


def switch(ctx: StepContext) -> str:
    d = ctx.deployment
    delay = ctx.plan.traffic_switch_delay.total_seconds()
    # A canary's steps were its way in: no extra wait before it takes all of the traffic.
    if delay > 0 and d.kind is Kind.DEPLOY and not d.route.canary:
        ctx.progress(f"switching traffic to {d.new_color.value} in {delay:g}s (traffic_switch_delay)")
        ctx.clock.sleep(delay)
    ctx.target.switch(environment=d.environment, color=d.new_color)
    ctx.record(events.switched(d.new_color, d.version, ctx.clock.now()))
    return f"traffic on {d.new_color.value} ({d.version})"


def monitor(ctx: StepContext) -> str:
    d, duration = ctx.deployment, ctx.plan.monitoring_duration
    started = ctx.clock.now()
    end = started + duration
    rounds = 0

    def watch(interval: timedelta) -> None:
        # Health is checked while analysis waits for its windows, as it is without analysis.
        nonlocal rounds
        if interval > timedelta(0):
            rounds += _watch_live(ctx, interval, "monitoring")

    judged = analysis.NOT_CONFIGURED
    if d.kind is Kind.DEPLOY:  # as in verify: the way back is not held up by analysis
        # After the switch: the old color's figures from before it are the baseline.
        judged = analysis.run(
            ctx, phase="monitor", metrics=None, candidate=d.new_color, baseline=d.old_color, wait=watch
        )
    left = end - ctx.clock.now()
    if left > timedelta(0):
        rounds += _watch_live(ctx, left, "monitoring")
    # Analysis may take longer than the window: say how long it was watched.
    watched = round(max(duration, ctx.clock.now() - started).total_seconds(), 1)
    healthy = f"healthy for {watched:g}s ({rounds} rounds)"
    return healthy if judged == analysis.NOT_CONFIGURED else f"{healthy}; {judged}"


def finalize(ctx: StepContext) -> str:
    d = ctx.deployment
    if d.old_color is None:
        return "nothing to retire"
    if d.kind is Kind.DEPLOY and ctx.plan.scale_down_delay.total_seconds() > 0:
        # The old color stays warm so that a failure now is still a switch back, not a redeploy.
        _watch_live(ctx, ctx.plan.scale_down_delay, f"{d.old_color.value} kept warm")
    ctx.progress(f"retiring {d.old_color.value}")
    ctx.target.stop_color(environment=d.environment, color=d.old_color, drain_timeout=ctx.plan.drain_timeout)
    return f"{d.old_color.value} ({d.previous_version}) retired"


def stop(ctx: StepContext) -> str:
    d = ctx.deployment
    env = d.environment
    ctx.target.switch(environment=env, color=None)
    ctx.record(events.switched(None, None, ctx.clock.now()))
    running = ctx.target.inspect(environment=env).colors
    for color in running:
        ctx.progress(f"stopping {color.value}")
        ctx.target.stop_color(environment=env, color=color, drain_timeout=ctx.plan.drain_timeout)
    stopped = ", ".join(f"{c.value} ({s.version})" for c, s in running.items())
    return f"traffic off; stopped {stopped}" if stopped else "traffic off; nothing else ran"


def cleanup(ctx: StepContext) -> str:
    d = ctx.deployment
    state = ctx.target.inspect(environment=d.environment)
    if state.live_color is d.new_color:
        # Never stop what takes traffic: that would be an outage, not a cleanup.
        return f"{d.new_color.value} is live; left running"
    ctx.target.stop_color(environment=d.environment, color=d.new_color, drain_timeout=ctx.plan.drain_timeout)
    live = f"; {state.live_color.value} ({state.live_version}) still live" if state.live_color else ""
    others = set(state.colors) - {d.new_color}
    created = _remove_created(ctx) if state.live_color is None and not others else ""
    return f"{d.new_color.value} ({d.version}) removed{live}{created}"


def rollback(ctx: StepContext) -> str:
    d = ctx.deployment
    env = d.environment
    if d.old_color is None or d.previous_version is None:
        ctx.target.switch(environment=env, color=None)
        ctx.record(events.switched(None, None, ctx.clock.now()))
        ctx.target.stop_color(environment=env, color=d.new_color, drain_timeout=ctx.plan.drain_timeout)
        data = _database_on_rollback(ctx)
        return f"nothing was live before; traffic stopped and the new color removed{_remove_created(ctx)}{data}"
    state = ctx.target.inspect(environment=env)
    # A canary's share goes back first: the quickest way off the new version while it is not live.
    shared = canary.end_split(ctx, state) if d.route.canary else ""
    old = state.colors.get(d.old_color)
    warm = (
        old is not None
        and old.version == d.previous_version
        and not old.failed
        and any(r.running for r in old.replicas)
    )
    # The database (where the environment asks for it) goes back before the old version is
    # judged, so that it is judged on the data it ran with.
    data = ""
    if not warm:
        ctx.progress(f"{d.old_color.value} is not running {d.previous_version}; starting it again from the last backup")
        ctx.target.start_color(
            environment=env,
            color=d.old_color,
            version=d.previous_version,
            replicas=ctx.plan.replicas,
            saved=_newest_that_ran(ctx, d.previous_version),
        )
        data = _database_on_rollback(ctx)
        _ready(ctx, d.old_color, "rollback")
    # Warm: switch first, it is the fastest way off a failing version; then prove it.
    ctx.target.switch(environment=env, color=d.old_color)
    ctx.record(events.switched(d.old_color, d.previous_version, ctx.clock.now()))
    if warm:
        data = _database_on_rollback(ctx)
        _ready(ctx, d.old_color, "rollback")
    ctx.target.stop_color(environment=env, color=d.new_color, drain_timeout=ctx.plan.drain_timeout)
    how = "warm" if warm else "restarted"
    return (
        f"traffic back on {d.old_color.value} ({d.previous_version}, {how}){shared}; {d.new_color.value} removed{data}"
    )


def _database_on_rollback(ctx: StepContext) -> str:
    """Where the environment asks for it, put the database back as this deployment's own backup
    dumped it (just before the change being undone); otherwise leave it. Either way the step's
    detail says so. A restore that cannot be done does not stop the rollback (traffic must go
    back): it is recorded as a warning, with the command that does it by hand."""
    d, plan = ctx.deployment, ctx.plan
    if not plan.database:
        return ""
    if not plan.restore_database_on_rollback:
        return f"; the database is left as it is (environments.{d.environment}.restore_database_on_rollback is off)"
    step = Step.ROLLBACK.value
    done = [e for e in ctx.recorded() if e.type == "database_restored" and e.data.get("step") == step]
    if done:  # a rollback run again after an interruption: the data went back already
        return f"; {done[-1].data.get('detail')}"
    ctx.progress(f"restoring the database from backup {d.id}, taken before this deployment changed anything")
    try:
        detail = ctx.backups.restore_database(backup_id=d.id, deployment=d)
    except (StepFailed, BackupError, UsageError, NotFoundError) as exc:
        message = (
            f"the database was NOT restored: {exc.message}; "
            f"`arxdeploy backup restore {d.id} --with-database` puts it back as it was before this deployment"
        )
        ctx.record(Event("warning", ctx.clock.now(), {"message": message}))
        return f"; {message}"
    ctx.record(events.database_restored(d.id, step, detail, ctx.clock.now()))
    return f"; {detail}"


def _remove_created(ctx: StepContext) -> str:
    """Nothing runs any more: what this deployment set up beside its color goes too (the target
    keeps whatever its backup found), so a failed first deployment leaves the environment as it
    found it."""
    d = ctx.deployment
    try:
        own = next((b for b in ctx.backups.kept(environment=d.environment) if b.id == d.id), None)
    except BackupError as exc:
        ctx.progress(f"cannot read this deployment's backup ({exc.message}): what it set up stays")
        own = None
    removed = ctx.target.remove_created(environment=d.environment, before=own.facts if own else None)
    return f"; also removed what it set up: {', '.join(removed)}" if removed else ""


def _newest_that_ran(ctx: StepContext, version: str) -> Export | None:
    """The target's part of the newest backup of the environment that ran ``version`` and can
    be opened whole; None (the version then starts from the config) when there is none."""
    env = ctx.deployment.environment
    try:
        candidates = [b for b in ctx.backups.kept(environment=env) if version in b.versions]
    except BackupError as exc:
        ctx.progress(f"cannot list the backups of {env} ({exc.message}): {version} starts from the config")
        return None
    for found in candidates:
        try:
            return ctx.backups.target_part(backup_id=found.id)
        except (BackupError, UsageError, NotFoundError) as exc:
            # Damaged, or sealed for a key this runner does not hold: try an older one.
            ctx.progress(f"backup {found.id} cannot be used: {exc.message}")
    if candidates:
        ctx.progress(f"no backup of {env} that ran {version} could be opened: it starts from the config")
    return None


def _ready(ctx: StepContext, color: Color, why: str) -> None:
    ctx.watcher.ready(color, deadline=ctx.plan.rollback_timeout, progress=lambda m: ctx.progress(f"{why}: {m}"))


def _watch_live(ctx: StepContext, duration: timedelta, what: str) -> int:
    return ctx.watcher.watch(ctx.deployment.new_color, duration=duration, progress=ctx.progress, what=what)


STEPS: dict[Step, Callable[[StepContext], str]] = {
    Step.VALIDATE: validate,
    Step.SECURITY: security,
    Step.RECONCILE: reconcile,
    Step.BACKUP: backup,
    Step.DEPLOY: deploy,
    Step.VERIFY: verify,
    Step.CANARY: canary.progress,
    Step.RESTORE_DATABASE: restore_database,
    Step.SWITCH: switch,
    Step.MONITOR: monitor,
    Step.FINALIZE: finalize,
    Step.STOP: stop,
    Step.CLEANUP: cleanup,
    Step.ROLLBACK: rollback,
}
