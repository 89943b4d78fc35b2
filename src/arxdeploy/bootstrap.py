"""Wires a config file to concrete adapters. Nothing else chooses implementations."""

from __future__ import annotations

import dataclasses
import functools
import getpass
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from arxdeploy.backup_wiring import check_recipients, open_backups
from arxdeploy.clock import SystemClock
from arxdeploy.config.essentials import Essentials, for_reading
from arxdeploy.config.snapshot import Snapshot, take
from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.engine.locks import Identity, Leases
from arxdeploy.errors import ConfigError, ConfigProblem, UsageError
from arxdeploy.health import Access, HttpHealthProbe, ScriptCheck
from arxdeploy.ports import Clock, Hook, LockHolder, Metrics, Store, Target
from arxdeploy.redact import RedactingStore, Redactor
from arxdeploy.targets.local.client import LocalEnvironmentSpec, LocalTarget, read_runtime
from arxdeploy.targets.local.client import check_version as check_local_version

if TYPE_CHECKING:
    # What only changing commands (or the Kubernetes target) use is imported where it is built,
    # so reading commands never load it (tests/e2e/test_import_budget.py).
    from arxdeploy.backup.stored import StoredBackups
    from arxdeploy.config import LoadedConfig
    from arxdeploy.engine.gate import Approvals
    from arxdeploy.engine.run import Engine
    from arxdeploy.engine.tokens import Tokens
    from arxdeploy.notify import Notifier
    from arxdeploy.security.runner import Gates
    from arxdeploy.targets.kubernetes.spec import KubeSpec
    from arxdeploy.targets.kubernetes.target import KubernetesTarget

log = logging.getLogger(__name__)

NOTIFY_GRACE_SECONDS = 5.0


def new_deployment_id(now: datetime) -> str:
    """Sortable and readable: when it was asked, plus 4 random hex digits."""
    import secrets  # deployments only: reading commands never make an id

    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def identity(environ: Mapping[str, str], cwd: Path | None = None) -> Identity:
    user = environ.get("ARXDEPLOY_USER") or environ.get("USER") or getpass.getuser()
    email = environ.get("ARXDEPLOY_EMAIL")
    return Identity(
        user=user,
        host=socket.gethostname(),
        pid=os.getpid(),
        email=email.lower() if email else None,
        find_email=functools.cache(lambda: _git_email(cwd)),
    )


def _git_email(cwd: Path | None) -> str | None:
    """``git config user.email`` where the config lives: who this person says they are."""
    import subprocess  # only when someone is asked who they are

    try:
        done = subprocess.run(
            ["git", "config", "--get", "user.email"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip().lower() or None


def process_alive(me: Identity) -> Callable[[LockHolder], bool]:
    def alive(holder: LockHolder) -> bool:
        if holder.host != me.host:
            return True  # another machine's process: only the lease's expiry can tell
        try:
            with open(f"/proc/{holder.pid}/stat", encoding="ascii") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
        except (FileNotFoundError, IndexError):
            return False
        except OSError:
            return True

    return alive


@dataclass
class App:
    """Everything a command needs, built once per command."""

    essentials: Essentials  # what every command needs of the config (config.essentials)
    load_config: Callable[[], LoadedConfig]  # the validated config, loaded on first use if need be
    snapshot: Snapshot  # the config's files as read when the command started: what runs
    store: Store
    target: Target
    local: LocalTarget | None  # the local target's extras (logs, stopping its router), if that is the target
    backups_of: Callable[[], StoredBackups]  # built on first use (``backups``)
    redactor: Redactor
    health: HttpHealthProbe
    notifier: Notifier | None  # None: no channel is configured
    version_rule: Callable[[str], None]  # the target's: raises UsageError for a version it cannot carry
    clock: Clock
    leases: Leases
    hooks: Sequence[Hook]  # the engine's: the log file, notices, the command's own
    content_now: Callable[[], str]  # the digest of the config's files as they are on disk now
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict)  # the command's environment
    image_of: Callable[[str], str | None] = lambda _version: None  # the image a version runs as, if the target knows
    metrics: Metrics | None = None  # metric analysis' providers (None: no analysis section)

    @property
    def loaded(self) -> LoadedConfig:
        """The validated config's models: what only changes need (backups, gates, notices...).
        A reading command whose essentials came from the cache validates the file here, if ever."""
        return self.load_config()

    @functools.cached_property
    def engine(self) -> Engine:
        """The engine, made on first use: commands that only read never load it."""
        from arxdeploy.backup_wiring import DeferredBackups
        from arxdeploy.engine.run import Engine

        return Engine(
            store=self.store,
            target=self.target,
            health=self.health,
            clock=self.clock,
            leases=self.leases,
            new_id=new_deployment_id,
            backups=DeferredBackups(self.backups_of),
            hooks=list(self.hooks),
            content_now=self.content_now,
            metrics=self.metrics,
            security=self.security_gates if self.loaded.config.security.enabled else None,
        )

    @functools.cached_property
    def security_gates(self) -> Gates:
        """The security gates (``arxdeploy.security``): the engine's ``security`` step and
        ``security check`` run them. Made on first use: reading commands never load them."""
        from arxdeploy.security.runner import Gates

        return Gates(
            config=self.loaded.config,
            base_dir=self.loaded.base_dir,
            environ=self.environ,
            clock=self.clock,
            image_of=self.image_of,
            extra={"loaded": self.loaded, "snapshot": self.snapshot, "target": self.target},
        )

    @property
    def service(self) -> str:
        return self.essentials.service

    @property
    def backups(self) -> StoredBackups:
        """Where this service's backups are kept (``config.backup``)."""
        return self.backups_of()

    @property
    def approvals(self) -> Approvals:
        """Decisions on approval gates, under the rules recorded with each request."""
        from arxdeploy.engine.gate import Approvals

        return Approvals(store=self.store, clock=self.clock, hooks=list(self.hooks))

    @property
    def tokens(self) -> Tokens:
        from arxdeploy.engine.tokens import Tokens

        return Tokens(store=self.store, clock=self.clock)

    @property
    def me(self) -> Identity:
        return self.leases.me

    def check_version(self, version: str) -> None:
        """Refuse (``UsageError``, exit 2) a version the target cannot carry, before anything is asked of it."""
        self.version_rule(version)

    def plan(self, environment: str) -> EnvironmentPlan:
        plan = self.essentials.plan(environment)
        return dataclasses.replace(plan, config_digest=self.snapshot.digest)

    def environments(self) -> list[str]:
        return self.essentials.environments()

    def close(self) -> None:
        # Notices still in flight get a few seconds; a channel that is down does not hold the exit.
        if self.notifier is not None:
            self.notifier.close(timeout=NOTIFY_GRACE_SECONDS)
        self.health.close()
        close_target = getattr(self.target, "close", None)
        if close_target:
            close_target()
        close = getattr(self.store, "close", None)
        if close:
            close()


def build(
    config_path: Path,
    environ: Mapping[str, str],
    *,
    hooks: Sequence[Hook] = (),
    reads_only: bool = False,
    context: str | None = None,
) -> App:
    """The app for one command. ``reads_only``: the command never writes the record (status,
    history, show, ...): its config's essentials may come from the cache (``config.essentials``),
    and a current SQLite record is read without SQLAlchemy, read-only.
    ``context``: the kubeconfig context to use instead of ``target.kubernetes.context``."""
    if reads_only:
        essentials, loaded_now = for_reading(config_path, environ)
    else:
        loaded_now = _load(config_path, environ)
        essentials = loaded_now.essentials
    # The validated models, for what the essentials do not hold: made on first use when they came
    # from the cache (what only changes, or the Kubernetes target, need).
    # Its cache entry is the one just read then: nothing to keep again.
    validated = functools.cache(lambda: loaded_now or _load(config_path, environ, keep=False))
    redactor = Redactor(essentials.secrets)
    _log_to_file(essentials.state_dir, redactor)

    snapshot = take(essentials)
    scripts = [
        ScriptCheck(c.name, c.script, c.timeout, content=snapshot.read(c.script)) for c in essentials.custom_checks
    ]
    clock = SystemClock()
    if not reads_only:  # a command that may take a backup refuses what would make it fail
        from arxdeploy.config import database_script_problems

        check_recipients(validated())
        if missing := database_script_problems(validated()):
            raise ConfigError(missing)
    backups = functools.cache(lambda: open_backups(validated(), snapshot, store, redactor, environ, clock))
    local: LocalTarget | None = None
    cluster: KubernetesTarget | None = None
    version_rule: Callable[[str], None] = check_local_version
    image_of: Callable[[str], str | None] = _no_image
    if essentials.target_type == "kubernetes":
        from arxdeploy.targets.kubernetes.manifests import check_version
        from arxdeploy.targets.kubernetes.spec import spec_from_config
        from arxdeploy.targets.kubernetes.target import KubernetesTarget

        version_rule = check_version
        spec = spec_from_config(validated().config, base_dir=essentials.base_dir, read_folder=snapshot.templates_in)
        if spec.image is not None or spec.manifests is None:
            # Templates name their own image: the image_digest gate reads it from the rendered objects.
            image_of = functools.partial(_image_for, spec)
        if context is not None:
            spec = dataclasses.replace(spec, context=context)
        cluster = KubernetesTarget(
            spec=spec, environ=environ, kept=lambda env: [b.facts for b in backups().kept(environment=env)]
        )
        target: Target = cluster
        # The checks go through the API server's proxies with the API calls' own credentials, TLS
        # and proxy (read when the first round needs them); scripts get a loopback door to them.
        health = HttpHealthProbe(
            endpoints=essentials.endpoints,
            scripts=scripts,
            cwd=essentials.base_dir,
            environ=environ,
            access=lambda: Access(
                verify=cluster.probe_verify(), auth=cluster.probe_auth(), proxy=cluster.probe_proxy(), door=True
            ),
        )
    else:
        if context is not None:
            raise UsageError(
                f"--context {context} names a kubeconfig context, and this service's target is "
                f"{essentials.target_type}",
                hint="drop --context, or set target.type: kubernetes",
            )
        target = local = _local_target(essentials)
        # Replicas and routers answer plain HTTP on this machine: no TLS, no proxy, no httpx.
        health = HttpHealthProbe(
            endpoints=essentials.endpoints, scripts=scripts, cwd=essentials.base_dir, environ=environ
        )
    # After the target: on Kubernetes the record lives in the cluster, through the target's connection.
    record = _open_store(essentials.store_url, essentials.state_dir, reads_only=reads_only, cluster=cluster)
    store: Store = RedactingStore(record, redactor)
    me = identity(environ, essentials.base_dir)
    leases = Leases(store=store, clock=clock, me=me, is_alive=process_alive(me))
    notifier: Notifier | None = None
    announcers: Sequence[Hook] = ()
    if essentials.notices and not reads_only:  # a command that only reads tells nobody anything
        from arxdeploy.announce import build_notifier  # imports the notify package: only when needed

        config = validated().config
        notifier, announcers = build_notifier(config.notifications, store, clock, config.server.url, redactor)
    return App(
        essentials=essentials,
        load_config=validated,
        snapshot=snapshot,
        store=store,
        target=target,
        local=local,
        backups_of=backups,
        redactor=redactor,
        health=health,
        notifier=notifier,
        version_rule=version_rule,
        clock=clock,
        leases=leases,
        hooks=[log_events, *list(announcers), *hooks],
        content_now=lambda: _content_now(config_path, environ),
        environ=environ,
        image_of=image_of,
        metrics=None if reads_only else _metrics(validated(), clock),
    )


def _metrics(loaded: LoadedConfig, clock: Clock) -> Metrics | None:
    """The providers metric analysis reads, when the config has metrics (the package is imported only then)."""
    config = loaded.config
    analysis = config.analysis
    if not analysis.metrics:
        return None
    from arxdeploy.analysis import judge
    from arxdeploy.analysis.source import PrometheusAccess, ProviderMetrics

    judged = [name for name, metric in analysis.metrics.items() if metric.judge is not None]
    if judged and not judge.available():
        key = ("analysis", "metrics", judged[0], "judge")
        raise ConfigError(
            [
                ConfigProblem(
                    str(loaded.path),
                    loaded.line_of(*key),
                    ".".join(key),
                    "needs SciPy, which is not installed",
                    judge.INSTALL,
                )
            ]
        )
    server = analysis.prometheus
    kubernetes = config.target.kubernetes if config.target.type == "kubernetes" else None
    return ProviderMetrics(
        service=config.service,
        clock=clock,
        namespace=lambda env: (
            kubernetes.namespace.format(service=config.service, environment=env) if kubernetes else ""
        ),
        prometheus=PrometheusAccess(server.url, dict(server.headers), server.timeout) if server else None,
        router_url=lambda: info.url if (info := read_runtime(loaded.state_dir)) is not None else None,
    )


def _no_image(_version: str) -> None:
    return None  # the local target runs commands, not images


def _image_for(spec: KubeSpec, version: str) -> str | None:
    from arxdeploy.targets.kubernetes.manifests import image_for

    return image_for(spec, version)


def _open_store(store_url: str | None, state_dir: Path, *, reads_only: bool, cluster: KubernetesTarget | None) -> Store:
    """The record: in the cluster for the Kubernetes target unless ``store_url`` says otherwise (as Helm
    keeps its releases in the cluster), else SQLite under the state directory or the URL's database."""
    if cluster is not None and (store_url is None or store_url.startswith("kubernetes:")):
        return _cluster_store(store_url or "kubernetes://", cluster, reads_only=reads_only)
    url = store_url or f"sqlite:///{state_dir / 'state.db'}"
    if reads_only and (file := _sqlite_file(url)) is not None:
        from arxdeploy.store import migrate
        from arxdeploy.store.reader import SqliteReader

        reader = SqliteReader.open(file, migrate.HEAD)
        if reader is not None:
            return reader
    from arxdeploy.store.sql import SqlStore  # heavy: SQLAlchemy and Alembic

    return SqlStore(url)


def _sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no driver, no options), which the reader can open."""
    prefix = "sqlite:///"
    path = url[len(prefix) :]
    return Path(path) if url.startswith(prefix) and path and "?" not in path and path != ":memory:" else None


def _cluster_store(url: str, cluster: KubernetesTarget, *, reads_only: bool) -> Store:
    """The cluster store on the target's own connection: one kubeconfig, ``--context``, one run of a
    credential plugin for both. A read-only command never writes, not even a missing namespace."""
    from arxdeploy.store.cluster import ClusterStore, Placement, namespace_in
    from arxdeploy.targets.kubernetes.rest import Objects

    spec = cluster.spec
    placement = Placement(
        service=spec.service,
        environments=tuple(spec.environments),
        template=spec.namespace,
        namespace=namespace_in(url),
    )
    objects = Objects(lambda: cluster.connection.access)
    prepare = None if reads_only else cluster.ensure_namespace
    return ClusterStore(objects, placement, prepare=prepare, read_only=reads_only)


def _content_now(config_path: Path, environ: Mapping[str, str]) -> str:
    """The digest of the config and its files as they are on disk now (read again)."""
    try:
        return take(_load(config_path, environ)).digest
    except ConfigError:
        return "an invalid config"


def _load(config_path: Path, environ: Mapping[str, str], *, keep: bool = True) -> LoadedConfig:
    """The config validated now (pydantic and PyYAML are imported here, not by reading commands
    whose essentials are in the cache)."""
    from arxdeploy.config import load

    return load(config_path, environ, keep=keep)


def _local_target(essentials: Essentials) -> LocalTarget:
    return LocalTarget(
        state_dir=essentials.state_dir,
        service=essentials.service,
        # A LocalRun has a LocalEnvironmentSpec's fields (the config may not import the targets).
        environments={name: LocalEnvironmentSpec(**vars(run)) for name, run in essentials.local.items()},
        owner_pid=os.getpid(),
        python=sys.executable,
    )


def _log_to_file(state_dir: Path, redactor: Redactor) -> None:
    """JSON lines in ``.arxdeploy/arxdeploy.log``; structlog renders the records, secrets masked last.

    The file is opened, and structlog imported, on the first record: commands that log nothing
    (most reads) pay for neither.
    """
    root = logging.getLogger("arxdeploy")
    if any(getattr(h, "arxdeploy_file", False) for h in root.handlers):
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(state_dir / "arxdeploy.log", encoding="utf-8", delay=True)
    handler.arxdeploy_file = True  # type: ignore[attr-defined]
    handler.setFormatter(_JsonLines(redactor))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class _JsonLines(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor
        self._inner: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._inner is None:
            self._inner = _structlog_formatter(self._redactor)
        return self._inner.format(record)


def _structlog_formatter(redactor: Redactor) -> logging.Formatter:
    import structlog

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            # Masked before JSON encoding, which would escape quotes or non-ASCII in a secret.
            lambda _logger, _name, event_dict: redactor.data(event_dict),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(default=str),
            lambda _logger, _name, line: redactor(str(line)),
        ],
    )


def log_events(deployment: Deployment, event: Event) -> None:
    """A hook: every recorded step also goes to the log file, one JSON line each."""
    if event.type != "progress":
        log.info(event.type, extra={"deployment": deployment.id, **event.data})
