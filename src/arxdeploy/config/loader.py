"""Load ``deployment_config.yaml``: read, interpolate, validate, and report every problem at once.

Reading commands take what they need from the cache of validated configs instead, when they can
(``config.essentials``, ``config.cache``): then this module is not even imported.

Top-level keys starting with ``x-`` are ignored (as in Docker Compose): they give YAML anchors
a home, e.g. ``x-defaults: &defaults {replicas: 2}`` merged with ``<<: *defaults``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from arxdeploy.config import cache, source
from arxdeploy.config.essentials import Essentials, essentials_of
from arxdeploy.config.file import read_file
from arxdeploy.config.keys import KeyPath, dotted, line_of
from arxdeploy.config.models import Config
from arxdeploy.config.problems import mask, translate
from arxdeploy.errors import ConfigError, ConfigProblem

SCHEMA_TITLE = "arxdeploy deployment_config.yaml"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXTENSION_PREFIX = "x-"
_PLUGINS_OFF = "PYDANTIC_DISABLE_PLUGINS"


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and where it came from."""

    config: Config
    path: Path  # absolute
    base_dir: Path  # the config file's folder; relative paths in the config start here
    state_dir: Path  # absolute
    secrets: frozenset[str]  # every non-empty value taken from the environment
    digest: str  # sha256 of the file's bytes
    resolved: str = field(repr=False, compare=False)  # the valid config as JSON: part of what approvals bind to
    lines: Mapping[KeyPath, int] = field(default_factory=dict, repr=False, compare=False)

    def line_of(self, *key: str | int) -> int | None:
        """Line of a key path like ``("environments", "staging")``, or of its nearest parent."""
        return line_of(self.lines, key)

    @functools.cached_property
    def essentials(self) -> Essentials:
        """What every command needs of this config, as plain data (``config.essentials``)."""
        return essentials_of(self)


def load(path: Path, environ: Mapping[str, str], *, keep: bool = True) -> LoadedConfig:
    """Load and validate the config at ``path``, taking ``${VAR}`` values from ``environ``.

    Its essentials are kept in the cache of validated configs (``config.cache``), which reading
    commands take from (``essentials.for_reading``); ``keep=False`` when the entry is known to be
    current. Raises ``ConfigError`` listing every problem found, and nothing else, whatever the
    file holds.
    """
    file = str(path)
    absolute, raw = read_file(path, file)
    loaded = validate(absolute, raw, file, environ)
    if keep and (at := cache.slot(absolute, raw, environ)) is not None:
        cache.keep(at, loaded.essentials)
    return loaded


def validate(absolute: Path, raw: bytes, file: str, environ: Mapping[str, str]) -> LoadedConfig:
    """The config in ``raw`` (the bytes of the file at ``absolute``, named ``file`` in messages), validated."""
    doc = source.read(raw, file, environ)
    problems = list(doc.problems)
    config: Config | None = None
    try:
        with _without_pydantic_plugins():  # the models' validators are built on the first validation
            config = Config.model_validate({k: v for k, v in doc.data.items() if not k.startswith(EXTENSION_PREFIX)})
    except ValidationError as exc:
        problems += translate(exc, file=file, lines=doc.lines, from_environ=doc.from_environ, broken=doc.broken)
    if problems or config is None:
        raise ConfigError(_tidy(problems, doc.secrets))
    base_dir = absolute.parent
    return LoadedConfig(
        config=config,
        path=absolute,
        base_dir=base_dir,
        state_dir=Path(os.path.normpath(base_dir / config.state_dir)),
        secrets=frozenset(doc.secrets),
        digest=hashlib.sha256(raw).hexdigest(),
        resolved=config.model_dump_json(),
        lines=doc.lines,
    )


def _tidy(problems: list[ConfigProblem], secrets: set[str]) -> list[ConfigProblem]:
    """In file order, without repeats, and with any stray secret blanked out."""
    unique = dict.fromkeys(
        ConfigProblem(p.file, p.line, p.key, mask(p.message, secrets) or "", mask(p.hint, secrets)) for p in problems
    )
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0))


def check_files(loaded: LoadedConfig) -> list[ConfigProblem]:
    """Problems with the files the config names: check scripts, database scripts, the app's
    folder, manifests."""
    config, base = loaded.config, loaded.base_dir
    problems: list[ConfigProblem] = []
    report = _reporter(loaded, problems)
    scripts: list[tuple[KeyPath, str]] = [
        (("health_checks", "custom_checks", index, "script"), check.script)
        for index, check in enumerate(config.health_checks.custom_checks)
    ]
    problems += _script_problems(loaded, [*scripts, *_database_scripts(loaded)])
    local = config.target.local
    if config.target.type == "local" and local is not None and local.cwd is not None:
        cwd = base / local.cwd
        if not cwd.is_dir():
            report(
                ("target", "local", "cwd"), f"{cwd} is not a folder", "paths are relative to the config file's folder"
            )
    kubernetes = config.target.kubernetes
    if config.target.type == "kubernetes" and kubernetes is not None:
        if kubernetes.manifests is not None and not (base / kubernetes.manifests).is_dir():
            report(("target", "kubernetes", "manifests"), f"{base / kubernetes.manifests} is not a folder")
        if kubernetes.kubeconfig is not None and not (base / kubernetes.kubeconfig).is_file():
            report(("target", "kubernetes", "kubeconfig"), f"{base / kubernetes.kubeconfig} does not exist")
    return problems


def database_script_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    """The database scripts that are missing or not executable: what a command that may run
    them refuses to start with."""
    return _script_problems(loaded, _database_scripts(loaded))


def _database_scripts(loaded: LoadedConfig) -> list[tuple[KeyPath, str]]:
    database = loaded.config.backup.database
    if database is None:
        return []
    return [
        (("backup", "database", "backup_script"), database.backup_script),
        (("backup", "database", "restore_script"), database.restore_script),
    ]


def _script_problems(loaded: LoadedConfig, scripts: list[tuple[KeyPath, str]]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    report = _reporter(loaded, problems)
    for key, path in scripts:
        script = loaded.base_dir / path
        if not script.is_file():
            report(key, f"{script} does not exist", "paths are relative to the config file's folder")
        elif not os.access(script, os.X_OK):
            report(key, f"{script} is not executable", f"chmod +x {script}")
    return problems


def _reporter(loaded: LoadedConfig, problems: list[ConfigProblem]) -> Callable[..., None]:
    def report(key: KeyPath, message: str, hint: str | None = None) -> None:
        problems.append(
            ConfigProblem(
                str(loaded.path), loaded.line_of(*key), dotted(key), mask(message, loaded.secrets) or "", hint
            )
        )

    return report


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``deployment_config.yaml``, for editors and the reference docs."""
    from pydantic.json_schema import GenerateJsonSchema

    from arxdeploy.config.durations import format_duration

    class Schema(GenerateJsonSchema):
        def encode_default(self, dft: Any) -> Any:
            # Durations default to "30s", as a user writes them, not ISO 8601 "PT30S".
            if isinstance(dft, timedelta):
                return format_duration(dft)
            return super().encode_default(dft)

    with _without_pydantic_plugins():
        schema = Config.model_json_schema(schema_generator=Schema)
    schema["title"] = SCHEMA_TITLE
    schema["patternProperties"] = {f"^{EXTENSION_PREFIX}": {}}  # the ignored x- keys
    return {"$schema": SCHEMA_DIALECT, **schema}


@contextmanager
def _without_pydantic_plugins() -> Iterator[None]:
    """Build the config's models with pydantic's plugins off (its documented switch, set only
    meanwhile: the apps arxdeploy starts inherit its environment). A plugin is code from another
    installed package that pydantic hands every input a model validates, and the config's input
    holds the values of ``${VAR}``: secrets. Off, pydantic also skips reading the entry points of
    every installed package (~5 ms of each command)."""
    before = os.environ.get(_PLUGINS_OFF)
    os.environ[_PLUGINS_OFF] = "__all__"
    try:
        yield
    finally:
        if before is None:
            del os.environ[_PLUGINS_OFF]
        else:
            os.environ[_PLUGINS_OFF] = before
