"""The frame every gate runs in: which gates, in which order, with which inputs.

A gate is a module of this package with a ``check`` function (and its name in ``GATE``); it takes
keyword arguments and the runner passes only those its signature names, from ``Gates.inputs``:

    config, security, base_dir, environ, environment, version, image, digest, now, today,
    target_type, plus whatever the wiring adds (``extra``: values, or callables made on first use)

A gate's facts ``digest`` and ``image`` are handed to the gates after it (the digest resolved by
``image_digest`` is what ``vulnerabilities`` checks the report against). A gate turned off in its
config sub-section (``security.<gate>.enabled: false``) is reported ``skipped``; one whose module
is not there is left out; one that raises is a ``failed`` result saying why.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arxdeploy.config.models import Config
from arxdeploy.domain import security_events
from arxdeploy.domain.events import Deployment
from arxdeploy.domain.security import GateResult, Status
from arxdeploy.errors import ArxdeployError
from arxdeploy.ports import Clock

log = logging.getLogger(__name__)

# (module, gate name) in the order they run: the digest first, since the others check what it pins.
ORDER: tuple[tuple[str, str], ...] = (
    ("digest", "image_digest"),
    ("vulnerabilities", "vulnerabilities"),
    ("secrets", "secrets"),
    ("network", "network_policy"),
    ("tls", "tls"),
    ("compliance", "compliance"),
)
PASSED_ON = ("digest", "image")
Gate = Callable[..., GateResult | tuple[GateResult, ...]]


def available() -> list[tuple[str, Gate]]:
    """The gates whose module exists, as (name, check), in order."""
    found = []
    for module_name, gate in ORDER:
        full = f"{__package__}.{module_name}"
        if importlib.util.find_spec(full) is None:
            continue
        module = importlib.import_module(full)
        check = getattr(module, "check", None)
        if callable(check):
            found.append((str(getattr(module, "GATE", gate)), check))
    return found


@dataclass
class Gates:
    """Implements ``ports.SecurityGates``; the CLI's ``security check`` calls ``run`` directly."""

    config: Config
    base_dir: Path
    environ: Mapping[str, str]
    clock: Clock
    image_of: Callable[[str], str | None] = lambda _version: None  # the target's image for a version
    extra: Mapping[str, Any] = field(default_factory=dict)
    gates: list[tuple[str, Gate]] | None = None  # default: ``available()``

    def check(self, *, deployment: Deployment) -> tuple[GateResult, ...]:
        return self.run(environment=deployment.environment, version=deployment.version)

    def prepare(self, *, deployment: Deployment, results: Sequence[GateResult]) -> None:
        """The target runs the digest the image_digest gate recorded (``digest.pin_recorded``)."""
        target = self.extra.get("target")
        if isinstance(target, _Lazy):
            target = target.make()
        if target is not None and any(r.gate == security_events.IMAGE_DIGEST for r in results):
            from arxdeploy.security.digest import pin_recorded

            pin_recorded(target, results)

    def run(self, *, environment: str, version: str, digest: str | None = None) -> tuple[GateResult, ...]:
        self.config.environment(environment)  # NotFoundError naming the known ones
        now = self.clock.now()
        inputs: dict[str, Any] = {
            "config": self.config,
            "security": self.config.security,
            "base_dir": self.base_dir,
            "environ": self.environ,
            "environment": environment,
            "version": version,
            "image": self.image_of(version),
            "digest": digest,
            "now": now,
            "today": now.date(),
            "target_type": self.config.target.type,
            **self.extra,
        }
        given = {"digest"} if digest else set()  # `security check --digest` wins over the gate's
        results: list[GateResult] = []
        for name, gate in self.gates if self.gates is not None else available():
            for result in self._one(name, gate, inputs):
                results.append(result)
                for key in PASSED_ON:
                    if result.facts.get(key) and key not in given:
                        inputs[key] = result.facts[key]
        return tuple(results)

    def _one(self, name: str, gate: Gate, inputs: dict[str, Any]) -> tuple[GateResult, ...]:
        settings = getattr(self.config.security, name, None)
        if settings is not None and not getattr(settings, "enabled", True):
            return (GateResult(name, Status.SKIPPED, f"turned off (security.{name}.enabled: false)"),)
        try:
            wanted = inspect.signature(gate).parameters
            kwargs = {key: _value(inputs, key) for key in wanted if key in inputs}
            done = gate(**kwargs)
        except ArxdeployError as exc:
            facts = {"hint": exc.hint} if exc.hint else {}
            return (GateResult(name, Status.FAILED, f"could not run: {exc.message}", facts=facts),)
        except Exception as exc:
            log.exception("security gate %s raised", name)
            return (GateResult(name, Status.FAILED, f"could not run: {type(exc).__name__}: {exc}"),)
        return done if isinstance(done, tuple) else (done,)


def _value(inputs: dict[str, Any], key: str) -> Any:
    """An input, made now if it was given as a maker (a callable taking nothing) in ``extra``."""
    value = inputs[key]
    if isinstance(value, _Lazy):
        value = inputs[key] = value.make()
    return value


@dataclass(frozen=True)
class _Lazy:
    make: Callable[[], Any]


def lazy(make: Callable[[], Any]) -> Any:
    """Wrap an ``extra`` input that is costly to make (rendered objects, a cluster client): it is
    made the first time a gate asks for it, once."""
    return _Lazy(make)
