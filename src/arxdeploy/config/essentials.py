"""What every command needs of a valid config before it knows whether it will change anything:
plain data, made from the validated models, and nothing of pydantic or PyYAML.

Reading commands (``status``, ``history``, ``show``...) take it from the cache of validated
configs (``config.cache``) when the file and its inputs are unchanged, so they import neither.
What they do not find here, only changes need (backups, notices, gates, the Kubernetes target):
the full config is loaded, and validated, when such a part is first asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from arxdeploy.config import cache
from arxdeploy.config.file import read_file
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.errors import unknown_environment

if TYPE_CHECKING:
    from arxdeploy.config.loader import LoadedConfig


@dataclass(frozen=True)
class LocalRun:
    """The local target's settings for one environment (``target.local`` and the environment's
    own): the fields of ``targets.local.client.LocalEnvironmentSpec`` it is made into."""

    command: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    listen: str
    crash_loop_restarts: int
    crash_loop_window: timedelta
    sticky_header: str | None
    sticky_cookie: str | None


@dataclass(frozen=True)
class CustomCheckRun:
    name: str
    script: Path  # absolute
    timeout: timedelta | None


@dataclass(frozen=True)
class Essentials:
    path: Path  # absolute
    base_dir: Path
    state_dir: Path
    secrets: frozenset[str]
    resolved: str  # the valid config as JSON: part of what approvals bind to
    service: str
    plans: Mapping[str, EnvironmentPlan]  # by environment, in the file's order
    target_type: str
    store_url: str | None
    endpoints: tuple[str, ...]  # health_checks.endpoints
    custom_checks: tuple[CustomCheckRun, ...]
    files: tuple[Path, ...]  # the scripts the config names (checks, database): what a snapshot reads
    manifests: Path | None  # the Kubernetes templates' folder, whose files a snapshot reads too
    local: Mapping[str, LocalRun]  # by environment; empty unless the target is local
    notices: bool  # whether any notification channel is configured

    def environments(self) -> list[str]:
        return list(self.plans)

    def plan(self, environment: str) -> EnvironmentPlan:
        """The settings a deployment to ``environment`` runs with; ``NotFoundError`` naming the known ones."""
        try:
            return self.plans[environment]
        except KeyError:
            raise unknown_environment(environment, self.plans) from None


def essentials_of(loaded: LoadedConfig) -> Essentials:
    config, base = loaded.config, loaded.base_dir
    database = config.backup.database
    kubernetes = config.target.kubernetes
    local = config.target.local if config.target.type == "local" else None
    runs: dict[str, LocalRun] = {}
    if local is not None:
        cwd = (base / local.cwd) if local.cwd else base
        for name, environment in config.environments.items():
            sticky = environment.sticky
            runs[name] = LocalRun(
                command=tuple(local.command),
                cwd=cwd,
                env=dict(local.env),
                listen=config.listen_for(name),
                crash_loop_restarts=local.crash_loop_restarts,
                crash_loop_window=local.crash_loop_window,
                sticky_header=sticky.header if sticky else None,
                sticky_cookie=sticky.cookie if sticky else None,
            )
    checks = tuple(
        CustomCheckRun(check.name, base / check.script, check.timeout) for check in config.health_checks.custom_checks
    )
    scripts = [check.script for check in checks]
    if database is not None:
        scripts += [base / database.backup_script, base / database.restore_script]
    return Essentials(
        path=loaded.path,
        base_dir=base,
        state_dir=loaded.state_dir,
        secrets=loaded.secrets,
        resolved=loaded.resolved,
        service=config.service,
        plans={name: config.plan(name) for name in config.environments},
        target_type=config.target.type,
        store_url=config.store_url,
        endpoints=tuple(config.health_checks.endpoints),
        custom_checks=checks,
        files=tuple(scripts),
        manifests=base / kubernetes.manifests if kubernetes is not None and kubernetes.manifests else None,
        local=runs,
        notices=config.notifications.has_channels,
    )


def for_reading(path: Path, environ: Mapping[str, str]) -> tuple[Essentials, LoadedConfig | None]:
    """A reading command's config: from the cache when an entry was made from this very file and
    environment (then without the validated models: None), else validated (and kept) now."""
    absolute, raw = read_file(path, str(path))
    at = cache.slot(absolute, raw, environ)
    if at is not None and (found := cache.load(at)) is not None:
        return found, None
    from arxdeploy.config.loader import validate

    loaded = validate(absolute, raw, str(path), environ)
    if at is not None:
        cache.keep(at, loaded.essentials)
    return loaded.essentials, loaded
