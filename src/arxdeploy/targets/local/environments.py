"""What the runtime runs: per environment, a router and up to two colors of replicas.

Every change to an environment holds its lock, so a stop that is draining and a switch (or a
change of weight) cannot interleave. Reads (``state``) take no lock: they see a consistent
enough snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from arxdeploy.targets.local.files import RuntimeFiles
from arxdeploy.targets.local.pools import Pool
from arxdeploy.targets.local.processes import pid_alive
from arxdeploy.targets.local.router import Router
from arxdeploy.targets.local.split import Sticky
from arxdeploy.targets.local.supervisor import ColorGroup, ColorSpec, SpecError
from arxdeploy.targets.local.traffic import Gauge, Traffic

log = logging.getLogger("arxdeploy.runtime")

COLORS = ("blue", "green")
WATCH_EVERY = 0.5


class Problem(Exception):
    """A request the runtime refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


@dataclass
class Candidate:
    """A started color, with the process that started it while it is not live yet."""

    group: ColorGroup
    pool: Pool
    owner_pid: int | None = None
    owner_grace: float = 10.0
    owner_gone_since: float | None = None


@dataclass
class Environment:
    name: str
    router: Router | None = None
    colors: dict[str, Candidate] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def live_color(self) -> str | None:
        live = self.router.live if self.router else None
        return live.color if live else None


class Environments:
    def __init__(self, files: RuntimeFiles, on_change: Callable[[], None], traffic: Traffic | None = None) -> None:
        self._files = files
        self._on_change = on_change
        self._envs: dict[str, Environment] = {}
        self.traffic = traffic or Traffic()

    def serving(self) -> bool:
        """True while any environment exists: a router or a replica, or one being started or stopped."""
        return bool(self._envs)

    def groups(self) -> list[ColorGroup]:
        return [c.group for env in self._envs.values() for c in env.colors.values()]

    def gauges(self) -> list[Gauge]:
        """Every running color's weight and requests in flight, for /metrics."""
        return [g for env in self._envs.values() if env.router is not None for g in env.router.gauges()]

    def state(self, name: str) -> dict[str, object]:
        env = self._envs.get(name)
        router = env.router if env else None
        colors = {}
        for color, candidate in (env.colors if env else {}).items():
            colors[color] = {**candidate.group.state(), "in_flight": candidate.pool.in_flight}
        return {
            "environment": name,
            "live_color": env.live_color() if env else None,
            "listen": f"{router.host}:{router.port}" if router else None,
            "live_url": router.url if router else None,
            "preview_url": router.url if router else None,  # with the X-Arxdeploy-Color header
            "weights": router.weights() if router else {},
            "sticky": router.sticky.as_dict() if router and router.sticky else None,
            "colors": colors,
        }

    async def start_color(
        self,
        spec: ColorSpec,
        *,
        listen: str,
        owner_pid: int | None,
        owner_grace: float,
        sticky: Sticky | None = None,
    ) -> bool:
        """Start ``spec`` unless it already runs; True if something was started."""
        spec.argv(port=0, index=1)  # a bad placeholder fails now, not in the first replica
        env = self._envs.setdefault(spec.environment, Environment(spec.environment))
        async with env.lock:
            await self._ensure_router(env, listen=listen, service=spec.service)
            assert env.router is not None
            env.router.sticky = sticky
            current = env.colors.get(spec.color)
            if current is not None and current.group.spec.same_release(spec):
                if env.live_color() != spec.color:
                    current.owner_pid, current.owner_grace, current.owner_gone_since = owner_pid, owner_grace, None
                return False
            if current is not None:
                if env.live_color() == spec.color:
                    raise Problem(
                        409,
                        f"{spec.color} is live in {env.name} and runs {current.group.spec.version}; "
                        f"it cannot be replaced by {spec.version} while it takes traffic",
                        hint=f"start {spec.version} on the other color, or switch away from {spec.color} first",
                    )
                await self._stop(env, spec.color, drain_timeout=5.0)
            group = ColorGroup(spec, lambda i: self._files.replica_log(env.name, spec.color, i), self._on_change)
            try:
                await group.start()
            except (OSError, SpecError) as exc:
                raise Problem(
                    400,
                    f"cannot start {spec.service} {spec.version} as {env.name}/{spec.color}: {exc}",
                    hint=f"check environments.{env.name}.command and its working directory in the config",
                ) from exc
            pool = Pool(spec.color, spec.version, group.replicas)
            env.colors[spec.color] = Candidate(group, pool, owner_pid, owner_grace)
            env.router.add_pool(pool)
            log.info("%s/%s: started %s (%d replicas)", env.name, spec.color, spec.version, spec.replicas)
            self._on_change()
            return True

    async def switch(self, name: str, color: str | None) -> None:
        env = self._envs.get(name)
        if env is None:
            if color is None:
                return
            raise Problem(409, f"{name}/{color} is not running: nothing to switch to", hint="start it first")
        async with env.lock:
            if color is None:
                if env.router is not None:
                    env.router.switch(None)
                log.info("%s: switched to nothing", name)
                return
            candidate = env.colors.get(color)
            if candidate is None or not candidate.group.running():
                raise Problem(
                    409,
                    f"{name}/{color} has no running replica: switching to it would drop every request",
                    hint="start the color (and check its health) before switching to it",
                )
            assert env.router is not None
            env.router.switch(candidate.pool)  # one assignment; ends any split
            candidate.owner_pid = None  # live now: not an abandoned candidate any more
            log.info("%s: switched to %s (%s)", name, color, candidate.group.spec.version)

    async def set_weight(self, name: str, color: str, weight: int) -> None:
        """Send ``weight`` percent of new requests to ``color``, a running color that is not live."""
        env = self._envs.get(name)
        not_running = Problem(
            409,
            f"{name}/{color} has no running replica: giving it traffic would fail those requests",
            hint="start the color (and check its health) before giving it a weight",
        )
        if env is None:
            raise not_running
        async with env.lock:
            candidate = env.colors.get(color)
            if env.router is None or candidate is None or not candidate.group.running():
                raise not_running
            live = env.live_color()
            if live is None:
                raise Problem(409, f"{name} has no live color to share the traffic with", hint=f"switch to {color}")
            if live == color:
                raise Problem(
                    409,
                    f"{name}/{color} is live: it takes what the other color does not",
                    hint="give the weight to the other color",
                )
            env.router.set_weight(candidate.pool, weight)
            log.info("%s: %s takes %d%% of new requests, %s the rest", name, color, weight, live)

    async def stop_color(self, name: str, color: str, *, drain_timeout: float) -> bool:
        env = self._envs.get(name)
        if env is None:
            return False
        async with env.lock:
            if env.live_color() == color:
                raise Problem(
                    409,
                    f"{name}/{color} is live: stopping it would drop every request",
                    hint="switch to the other color first",
                )
            return await self._stop(env, color, drain_timeout=drain_timeout)

    async def stop_environment(self, name: str, *, drain_timeout: float) -> None:
        env = self._envs.get(name)
        if env is None:
            return
        async with env.lock:
            if env.router is not None:
                env.router.switch(None)
            await asyncio.gather(*(self._stop(env, c, drain_timeout=drain_timeout) for c in list(env.colors)))
            if env.router is not None:
                await env.router.stop()
                env.router = None
            self._envs.pop(name, None)
            log.info("%s: stopped", name)

    async def stop_all(self, *, drain_timeout: float) -> None:
        await asyncio.gather(*(self.stop_environment(n, drain_timeout=drain_timeout) for n in list(self._envs)))

    async def watch_owners(self) -> None:
        """Stop candidates whose ``arxdeploy deploy`` died: nobody will switch to them or clean up."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            now = time.monotonic()
            for env in list(self._envs.values()):
                for color, candidate in list(env.colors.items()):
                    if candidate.owner_pid is None or env.live_color() == color:
                        continue
                    if pid_alive(candidate.owner_pid):
                        candidate.owner_gone_since = None
                        continue
                    candidate.owner_gone_since = candidate.owner_gone_since or now
                    if now - candidate.owner_gone_since >= candidate.owner_grace:
                        await self._stop_abandoned(env, color, candidate)

    async def _stop_abandoned(self, env: Environment, color: str, candidate: Candidate) -> None:
        async with env.lock:
            if env.colors.get(color) is not candidate or candidate.owner_pid is None or env.live_color() == color:
                return  # taken over, stopped or switched to meanwhile
            log.warning(
                "%s/%s: process %d that started %s is gone: stopping the abandoned candidate",
                env.name,
                color,
                candidate.owner_pid,
                candidate.group.spec.version,
            )
            await self._stop(env, color, drain_timeout=5.0)

    async def _ensure_router(self, env: Environment, *, listen: str, service: str) -> None:
        host, port = parse_listen(listen)
        if env.router is not None:
            env.router.service = service
            if (env.router.host, env.router.port) != (host, port) and port != 0:
                raise Problem(
                    409,
                    f"{env.name} already listens on {env.router.host}:{env.router.port}, not {listen}",
                    hint=f"stop the environment to move it to the new environments.{env.name}.listen",
                )
            return
        for other in self._envs.values():
            if other.router is not None and (other.router.host, other.router.port) == (host, port):
                raise Problem(
                    409,
                    f"cannot listen on {listen} for {env.name}: environment {other.name} of this runtime uses it",
                    hint=f"give environments.{env.name}.listen its own address in the config",
                )
        router = Router(service=service, environment=env.name, host=host, port=port, traffic=self.traffic)
        try:
            await router.start()
        except OSError as exc:
            if not env.colors:
                self._envs.pop(env.name, None)
            raise Problem(
                409,
                f"cannot listen on {listen} for {env.name}: {exc.strerror or exc}",
                hint=f"another program may use it: set environments.{env.name}.listen to a free address",
            ) from exc
        env.router = router
        log.info("%s: router listening on %s", env.name, router.url)

    async def _stop(self, env: Environment, color: str, *, drain_timeout: float) -> bool:
        candidate = env.colors.get(color)
        if candidate is None:
            return False
        if env.router is not None:
            env.router.remove_pool(color)  # no new request (previews, a weight); those in flight go on
        if not await candidate.pool.drain(drain_timeout):
            log.warning(
                "%s/%s: %d requests still in flight after %.0fs: stopping anyway",
                env.name,
                color,
                candidate.pool.in_flight,
                drain_timeout,
            )
        await candidate.group.stop()
        env.colors.pop(color, None)
        self._on_change()
        log.info("%s/%s: stopped %s", env.name, color, candidate.group.spec.version)
        return True


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port``, ``[::1]:port`` or ``:port`` (all interfaces)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise Problem(400, f"listen address {listen!r} is not host:port", hint="e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)
