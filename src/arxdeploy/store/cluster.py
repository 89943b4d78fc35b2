"""The Store in the Kubernetes cluster itself, as Helm keeps its releases there (``store_url:
kubernetes://``, the default of the Kubernetes target): namespaced objects only, so a CI role
stays narrow; nothing to run beside the cluster. ``cluster_objects`` says what each object holds.

Where: with ``kubernetes://`` each environment's deployments and lock live in that environment's
namespace (``target.kubernetes.namespace``), which the target needs anyway, so its Role covers the
record too; the tokens (the approval server's) live in the namespace of the environment listed
last. With ``kubernetes://NAMESPACE`` everything lives in NAMESPACE, which must exist.

Every write is a compare-and-swap on ``resourceVersion`` (a create, which the API server lets one
of several win, or an update carrying the version read), repeated after a 409 Conflict: two
runners writing at once lose nothing. A write whose answer was lost (a timeout, a 5xx) is not
blindly repeated: the object is read back, and the write's own token in it says whether it landed.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NoReturn, Self

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import State
from arxdeploy.errors import NotFoundError, StoreError, TargetError, TransientTargetError
from arxdeploy.ports import LiveRelease, LockHolder, Summary, TokenRecord
from arxdeploy.store import cluster_objects as o
from arxdeploy.store.common import (
    MIN_PREFIX,
    already_exists,
    decode_event,
    encode_event,
    last_state,
    live_of,
    pick,
    require_aware,
    unknown_id,
)
from arxdeploy.targets.kubernetes.rest import CONFIGMAPS, LEASES, SECRETS, Kind, Objects, Refusal

SCHEME = "kubernetes://"
WRITE_ATTEMPTS = 60  # compare-and-swap rounds before giving up on an object that keeps changing
CONFLICT = 409
NOT_FOUND = 404
FORBIDDEN = 403
_TERMINAL = ",".join(sorted(s.value for s in State if s.terminal))
_RESTORE = (
    "restore {what} from a backup of the namespace, or forget that deployment with"
    " `kubectl delete configmap -n {ns} -l arxdeploy.io/deployment={id}`"
)


def namespace_in(url: str) -> str | None:
    """The namespace ``kubernetes://NAMESPACE`` names; None for ``kubernetes://`` (each environment's own)."""
    if not url.startswith(SCHEME):
        raise StoreError(f"not a kubernetes:// store URL: {url!r}")
    namespace = url[len(SCHEME) :].rstrip("/")
    if namespace and not (o.name_part(namespace) and "." not in namespace):
        raise StoreError(f"{url!r} does not name a namespace", hint="kubernetes:// or kubernetes://NAMESPACE")
    return namespace or None


@dataclass(frozen=True)
class Placement:
    """Which namespace holds what."""

    service: str  # the config's: whose environments a deployment id is looked for in
    environments: tuple[str, ...]
    template: str = "{service}-{environment}"  # target.kubernetes.namespace
    namespace: str | None = None  # one namespace for everything (kubernetes://NAMESPACE)

    def of(self, service: str, environment: str) -> str:
        return self.namespace or self.template.format(service=service, environment=environment)

    def every(self, service: str) -> list[str]:
        return list(dict.fromkeys(self.of(service, e) for e in self.environments))

    @property
    def tokens(self) -> tuple[str, str | None]:
        """The tokens' namespace, and the environment it belongs to (None: the named one)."""
        if self.namespace:
            return self.namespace, None
        last = self.environments[-1]
        return self.of(self.service, last), last


class ClusterStore:
    """``arxdeploy.ports.Store`` on a cluster's namespaced objects. Thread-safe.

    ``prepare(namespace, environment)`` makes a missing environment namespace as the target would
    (with its labels); without it, a missing namespace is an error that says so. ``read_only``: every write
    raises StoreError (the read-only commands)."""

    def __init__(
        self,
        objects: Objects,
        placement: Placement,
        *,
        prepare: Callable[[str, str], None] | None = None,
        read_only: bool = False,
    ) -> None:
        self._objects = objects
        self.placement = placement
        self._prepare = prepare
        self._read_only = read_only
        self._lock = threading.Lock()
        self._where: dict[str, str] = {}  # deployment id -> its namespace, as found

    def close(self) -> None:
        self._objects.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.placement.namespace or f"each environment's namespace ({self.placement.template})"
        return f"ClusterStore({where})"

    # --- deployments and events ----------------------------------------------------------

    def create(self, *, deployment: Deployment, events: Sequence[Event]) -> None:
        d = deployment
        require_aware(d.created_at, "created_at")
        payloads = [encode_event(e) for e in events]
        self._writable("record a deployment")
        name = o.head_name(d.id)
        if name is None or not (o.label_value(d.service) and o.label_value(d.environment)):
            raise StoreError(
                f"deployment {d.id} of {d.service}/{d.environment} cannot be recorded in Kubernetes objects",
                hint="ids, services and environments must be lowercase letters, digits, '-' and '.'",
            )
        ns = self.placement.of(d.service, d.environment)
        layout = o.lay_out((), payloads, deployment_id=d.id)
        write = uuid.uuid4().hex
        with self._guard(f"record deployment {d.id}"):
            parts = self._seal(ns, d, 0, layout.sealed)
            head = o.head_object(
                name=name,
                deployment=d,
                state=last_state(events) or State.REQUESTED,
                updated_at=events[-1].at if events else d.created_at,
                count=len(payloads),
                parts=parts,
                switched=o.newest_switch(None, payloads, 1),
                lines=layout.head,
                write=write,
            )
            for _ in range(WRITE_ATTEMPTS):
                try:
                    self._create(ns, CONFIGMAPS, head, environment=d.environment)
                    break
                except Refusal as refusal:
                    if refusal.code != CONFLICT:
                        raise
                    if self._written_by(ns, name, write):  # an earlier attempt of ours landed
                        break
                    self._drop(ns, parts)
                    raise already_exists(d.id) from None
                except TransientTargetError:
                    if self._written_by(ns, name, write):
                        break
                    _pause(1)
            else:
                raise StoreError(f"could not record deployment {d.id}: the API server kept failing; retry")
        self._remember(d.id, ns)

    def append(self, *, deployment_id: str, events: Sequence[Event]) -> None:
        payloads = [encode_event(e) for e in events]
        self._writable("append events")
        write = uuid.uuid4().hex
        with self._guard(f"append events to deployment {deployment_id}"):
            for attempt in range(WRITE_ATTEMPTS):
                ns, obj = self._head(deployment_id)
                head = o.read_head(obj)
                if not payloads or head.write == write:  # nothing to add, or our last attempt landed
                    return
                d = head.summary.deployment
                layout = o.lay_out(head.lines, payloads, deployment_id=d.id)
                parts = self._seal(ns, d, len(head.parts), layout.sealed)
                updated = o.head_object(
                    name=head.name,
                    deployment=d,
                    state=last_state(events) or head.summary.state,
                    updated_at=events[-1].at,
                    count=head.count + len(payloads),
                    parts=(*head.parts, *parts),
                    switched=o.newest_switch(head.switched, payloads, head.count + 1),
                    lines=layout.head,
                    write=write,
                    resource_version=head.resource_version,
                )
                try:
                    self._objects.replace(CONFIGMAPS, ns, updated)
                    return
                except Refusal as refusal:
                    self._drop(ns, parts)
                    if refusal.code == NOT_FOUND:
                        raise self._deleted(deployment_id, ns, head.name) from None
                    if refusal.code != CONFLICT:
                        raise
                except TransientTargetError:
                    pass  # landed or not: the next read says (the write token)
                _pause(attempt)
        raise StoreError(
            f"could not append events to deployment {deployment_id}: its record kept changing under us; retry"
        )

    def get(self, *, deployment_id: str) -> Summary:
        with self._guard(f"read deployment {deployment_id}"):
            name = o.head_name(deployment_id)
            forbidden: list[str] = []
            for ns in self._order(deployment_id) if name is not None else []:
                found = None
                with _unless_forbidden(forbidden, ns):
                    found = self._objects.find(CONFIGMAPS, ns, str(name), metadata_only=True)
                if found is not None:
                    self._remember(deployment_id, ns)
                    return o.read_head(found).summary
            if len(deployment_id) >= MIN_PREFIX:
                heads: dict[str, o.Head] = {}
                for ns in self._searched():
                    with _unless_forbidden(forbidden, ns):
                        for head in self._heads(ns, {}):
                            heads.setdefault(head.summary.deployment.id, head)
                matches = [i for i in heads if i.startswith(deployment_id)]
                if matches:
                    chosen = heads[pick(deployment_id, matches)]
                    self._remember(chosen.summary.deployment.id, chosen.namespace)
                    return chosen.summary
            raise _unknown(deployment_id, forbidden)

    def events(self, *, deployment_id: str) -> list[Event]:
        with self._guard(f"read the events of deployment {deployment_id}"):
            ns, obj = self._head(deployment_id)
            head = o.read_head(obj)
            lines = [*self._part_lines(head), *head.lines]
            if len(lines) != head.count:
                raise StoreError(
                    f"the record of deployment {deployment_id} holds {len(lines)} events where its head"
                    f" (ConfigMap {ns}/{head.name}) counts {head.count}: it was changed by hand",
                    hint=_RESTORE.format(what=f"ConfigMap {ns}/{head.name}", ns=ns, id=deployment_id),
                )
            try:
                return [decode_event(line) for line in lines]
            except (KeyError, TypeError, ValueError) as exc:
                raise o.damaged(f"event log of deployment {deployment_id} (namespace {ns})", exc) from exc

    def history(self, *, service: str, environment: str | None = None, limit: int = 20) -> list[Summary]:
        if limit <= 0:
            return []
        environments = self.placement.environments if environment is None else (environment,)
        with self._guard(f"list deployments of {service}"):
            found = self._summaries(service, environments)
        found.sort(key=lambda s: (s.deployment.created_at, s.deployment.id), reverse=True)
        return found[:limit]

    def unfinished(self, *, service: str, environment: str) -> list[Summary]:
        with self._guard(f"list unfinished deployments of {service}/{environment}"):
            found = self._summaries(service, (environment,), f"{o.STATE} notin ({_TERMINAL})")
        return sorted(found, key=lambda s: (s.deployment.created_at, s.deployment.id))

    def live(self, *, service: str, environment: str) -> LiveRelease | None:
        if not (o.label_value(service) and o.label_value(environment)):
            return None
        ns = self.placement.of(service, environment)
        labels = {o.RECORD: "deployment", o.SERVICE: service, o.ENVIRONMENT: environment, o.SWITCHED: "true"}
        with self._guard(f"find the live release of {service}/{environment}"):
            heads = [h for h in self._heads(ns, labels) if h.switched is not None]
        if not heads:
            return None
        newest = max(heads, key=o.live_key)
        assert newest.switched is not None
        return live_of(newest.summary.deployment.id, Event.from_json(newest.switched[0]))

    # --- locks ---------------------------------------------------------------------------

    def acquire_lock(self, *, service: str, environment: str, holder: LockHolder) -> LockHolder:
        require_aware(holder.acquired_at, "acquired_at")
        require_aware(holder.expires_at, "expires_at")
        self._writable("take a lock")
        ns, name = self.placement.of(service, environment), o.lease_name(service, environment)
        with self._guard(f"take the lock on {service}/{environment}"):
            for attempt in range(WRITE_ATTEMPTS):
                current = self._objects.find(LEASES, ns, name)
                lease = o.lease_object(
                    name=name, service=service, environment=environment, holder=holder, transitions=0
                )
                try:
                    if current is None:
                        self._create(ns, LEASES, lease, environment=environment)
                        return holder
                    in_force = o.lease_holder(current)
                    if in_force is not None and in_force == holder:
                        return holder  # ours already (an earlier attempt whose answer was lost)
                    if in_force is not None and in_force.expires_at > holder.acquired_at:
                        return in_force
                    taken = o.lease_object(
                        name=name,
                        service=service,
                        environment=environment,
                        holder=holder,
                        transitions=o.lease_transitions(current) + 1,
                        resource_version=current["metadata"]["resourceVersion"],
                    )
                    self._objects.replace(LEASES, ns, taken)
                    return holder
                except Refusal as refusal:
                    if refusal.code != CONFLICT:
                        raise
                except TransientTargetError:
                    pass
                _pause(attempt)
        raise StoreError(f"could not take or read the lock on {service}/{environment}: it kept changing; retry")

    def renew_lock(self, *, service: str, environment: str, holder: LockHolder, expires_at: datetime) -> bool:
        require_aware(expires_at, "expires_at")
        self._writable("renew a lock")
        renewed = replace(holder, expires_at=expires_at)
        return self._change_lease(service, environment, holder, renewed, "renew")

    def release_lock(self, *, service: str, environment: str, holder: LockHolder) -> None:
        self._writable("release a lock")
        self._change_lease(service, environment, holder, None, "release")

    def break_lock(self, *, service: str, environment: str, holder: LockHolder) -> bool:
        require_aware(holder.acquired_at, "acquired_at")
        self._writable("break a lock")
        return self._change_lease(service, environment, holder, None, "break")

    def lock_holder(self, *, service: str, environment: str) -> LockHolder | None:
        ns, name = self.placement.of(service, environment), o.lease_name(service, environment)
        with self._guard(f"read the lock on {service}/{environment}"):
            current = self._objects.find(LEASES, ns, name)
        return o.lease_holder(current) if current is not None else None

    def _change_lease(
        self, service: str, environment: str, holder: LockHolder, after: LockHolder | None, verb: str
    ) -> bool:
        """Replace exactly ``holder``'s lease by ``after`` (None: give it up); False if not theirs."""
        ns, name = self.placement.of(service, environment), o.lease_name(service, environment)

        def step(tried: bool) -> bool | dict[str, Any]:
            current = self._objects.find(LEASES, ns, name)
            in_force = o.lease_holder(current) if current is not None else None
            if tried and in_force == after:
                return True  # our earlier attempt landed
            if current is None or in_force is None or not o.exactly(in_force, holder):
                return False
            return o.lease_object(
                name=name,
                service=service,
                environment=environment,
                holder=after,
                transitions=o.lease_transitions(current),
                duration=o.lease_duration(current),
                resource_version=current["metadata"]["resourceVersion"],
            )

        what = f"{verb} the lock on {service}/{environment}"
        with self._guard(what):
            return self._replace_until(LEASES, ns, what, step)

    def _replace_until(self, kind: Kind, ns: str, what: str, step: Callable[[bool], bool | dict[str, Any]]) -> bool:
        """The optimistic-concurrency loop of every change to an existing object. ``step(tried)``
        reads the object and answers True or False when nothing (more) is to be written, or the
        object to write, carrying the resourceVersion it read. A conflict reads again; a transient
        error may have landed, so the next ``step`` is told (``tried``); gone is False."""
        tried = False
        for attempt in range(WRITE_ATTEMPTS):
            decided = step(tried)
            if isinstance(decided, bool):
                return decided
            try:
                self._objects.replace(kind, ns, decided)
                return True
            except Refusal as refusal:
                if refusal.code == NOT_FOUND:
                    return False
                if refusal.code != CONFLICT:
                    raise
            except TransientTargetError:
                tried = True
            _pause(attempt)
        raise StoreError(f"could not {what}: it kept changing; retry")

    # --- tokens ----------------------------------------------------------------------------

    def add_token(self, *, token: TokenRecord) -> None:
        require_aware(token.created_at, "created_at")
        self._writable("add a token")
        if not self._add_token(o.token_name(token.id), token):
            raise StoreError(f"token {token.id} already exists")

    def add_first_admin(self, *, token: TokenRecord) -> bool:
        at = require_aware(token.created_at, "created_at")
        self._writable("add a token")
        known = self.tokens()
        if o.active_admin(known, at):
            return False
        # Every bootstrap that saw these admin tokens (none of them active) makes the same object:
        # the API server lets one of them create it.
        return self._add_token(o.first_admin_name(t.id for t in known if t.role is Role.ADMIN), token)

    def tokens(self) -> list[TokenRecord]:
        ns, _ = self.placement.tokens
        with self._guard("list tokens"):
            found = self._objects.list(SECRETS, ns, labels=o.selector({o.RECORD: "token"}))
        return sorted((o.read_token(obj) for obj in found), key=lambda t: (t.created_at, t.id))

    def revoke_token(self, *, token_id: str, at: datetime) -> bool:
        require_aware(at, "at")
        self._writable("revoke a token")
        if not o.label_value(token_id):
            return False
        ns, _ = self.placement.tokens

        def step(tried: bool) -> bool | dict[str, Any]:
            found = self._objects.list(SECRETS, ns, labels=o.selector({o.RECORD: "token", o.TOKEN: token_id}))
            if not found:
                return False
            record = o.read_token(found[0])
            if record.revoked_at is not None:
                return tried and record.revoked_at == at  # ours landed, or it was revoked before
            revoked = o.token_object(found[0]["metadata"]["name"], replace(record, revoked_at=at))
            return o.with_resource_version(revoked, found[0]["metadata"]["resourceVersion"])

        what = f"revoke token {token_id}"
        with self._guard(what):
            return self._replace_until(SECRETS, ns, what, step)

    def _add_token(self, name: str, token: TokenRecord) -> bool:
        """Create the token's Secret ``name``; False if one of that name exists already."""
        ns, environment = self.placement.tokens
        body = o.token_object(name, token)
        with self._guard(f"add token {token.id}"):
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    self._create(ns, SECRETS, body, environment=environment)
                    return True
                except Refusal as refusal:
                    if refusal.code != CONFLICT:
                        raise
                    return attempt > 0 and self._same_token(ns, name, token)  # ours, if an attempt landed
                except TransientTargetError:
                    if self._same_token(ns, name, token):
                        return True
                _pause(attempt)
        raise StoreError(f"could not add token {token.id}: the API server kept failing; retry")

    def _same_token(self, ns: str, name: str, token: TokenRecord) -> bool:
        found = self._objects.find(SECRETS, ns, name)
        return found is not None and o.read_token(found) == token

    # --- plumbing ------------------------------------------------------------------------

    def _head(self, deployment_id: str) -> tuple[str, o.Obj]:
        """The namespace and whole head of a deployment (its id exactly); one this store saw and that is
        gone now was deleted by hand."""
        name = o.head_name(deployment_id)
        if name is None:
            raise unknown_id(deployment_id)
        forbidden: list[str] = []
        with self._lock:
            cached = self._where.get(deployment_id)
        for ns in self._order(deployment_id):
            found = None
            with _unless_forbidden(forbidden, ns):
                found = self._objects.find(CONFIGMAPS, ns, name)
            if found is not None:
                self._remember(deployment_id, ns)
                return ns, found
        if cached is not None:
            raise self._deleted(deployment_id, cached, name)
        raise _unknown(deployment_id, forbidden)

    def _heads(self, ns: str, labels: dict[str, str], *more: str) -> list[o.Head]:
        every = {o.RECORD: "deployment", **labels}
        listed = self._objects.list(CONFIGMAPS, ns, labels=o.selector(every, *more), metadata_only=True)
        return [o.read_head(obj) for obj in listed]

    def _summaries(self, service: str, environments: Sequence[str], *more: str) -> list[Summary]:
        if not o.label_value(service):
            return []
        found: dict[str, Summary] = {}
        for environment in environments:
            if not o.label_value(environment):
                continue
            labels = {o.SERVICE: service, o.ENVIRONMENT: environment}
            ns = self.placement.of(service, environment)
            for head in self._heads(ns, labels, *more):
                found[head.summary.deployment.id] = head.summary
                self._remember(head.summary.deployment.id, ns)
        return list(found.values())

    def _part_lines(self, head: o.Head) -> list[str]:
        if not head.parts:
            return []
        d = head.summary.deployment
        labels = o.selector({o.RECORD: "events", o.DEPLOYMENT: d.id})
        listed = {obj["metadata"]["name"]: obj for obj in self._objects.list(CONFIGMAPS, head.namespace, labels=labels)}
        lines: list[str] = []
        for index, name in enumerate(head.parts, start=1):
            part = listed.get(name)
            if part is None:
                what = f"ConfigMap {head.namespace}/{name}"
                raise StoreError(
                    f"the record of deployment {d.id} is incomplete: {what}, part {index} of {len(head.parts)}"
                    " of its event log, is missing (deleted by hand?)",
                    hint=_RESTORE.format(what=what, ns=head.namespace, id=d.id),
                )
            lines.extend(o.part_lines(part))
        return lines

    def _seal(self, ns: str, d: Deployment, first: int, sealed: Sequence[Sequence[str]]) -> list[str]:
        names = []
        for index, lines in enumerate(sealed, start=first + 1):
            name = o.part_name(d.id, index)
            self._create(ns, CONFIGMAPS, o.part_object(name, d, lines), environment=d.environment)
            names.append(name)
        return names

    def _drop(self, ns: str, parts: Sequence[str]) -> None:
        """Delete parts that no head names after all (best effort: unnamed parts are never read)."""
        for name in parts:
            with suppress(Refusal, TargetError):
                self._objects.delete(CONFIGMAPS, ns, name)

    def _create(self, ns: str, kind: Kind, body: o.Obj, *, environment: str | None) -> None:
        try:
            self._objects.create(kind, ns, body)
        except Refusal as refusal:
            if not refusal.missing_namespace:
                raise
            self._make_namespace(ns, environment)
            self._objects.create(kind, ns, body)

    def _make_namespace(self, ns: str, environment: str | None) -> None:
        if self._prepare is None or environment is None or self.placement.namespace is not None:
            raise StoreError(
                f"namespace {ns}, where the record lives, does not exist",
                hint=f"create it: kubectl create namespace {ns} (or apply k8s/rbac/, which makes it)",
            )
        try:
            self._prepare(ns, environment)
        except TargetError as exc:
            raise StoreError(
                f"namespace {ns}, where the record lives, does not exist and {exc.message}",
                hint=exc.hint or f"create it: kubectl create namespace {ns}",
            ) from exc

    def _written_by(self, ns: str, name: str, write: str) -> bool:
        found = self._objects.find(CONFIGMAPS, ns, name, metadata_only=True)
        return found is not None and o.read_head(found).write == write

    def _order(self, deployment_id: str) -> list[str]:
        with self._lock:
            cached = self._where.get(deployment_id)
        searched = self._searched()
        return [cached, *(ns for ns in searched if ns != cached)] if cached else searched

    def _searched(self) -> list[str]:
        with self._lock:
            seen = list(dict.fromkeys(self._where.values()))
        return list(dict.fromkeys([*self.placement.every(self.placement.service), *seen]))

    def _remember(self, deployment_id: str, ns: str) -> None:
        with self._lock:
            self._where[deployment_id] = ns

    def _deleted(self, deployment_id: str, ns: str, name: str) -> StoreError:
        what = f"ConfigMap {ns}/{name}"
        return StoreError(
            f"the record of deployment {deployment_id} ({what}) was deleted while it was in use",
            hint=f"the objects labelled arxdeploy.io/deployment={deployment_id} in namespace {ns} are arxdeploy's"
            f" record; {_RESTORE.format(what=what, ns=ns, id=deployment_id)}",
        )

    def _writable(self, doing: str) -> None:
        if self._read_only:
            self._refuse(doing)

    def _refuse(self, doing: str) -> NoReturn:
        raise StoreError(f"cannot {doing}: this command only reads the record ({self!r})")

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """The Kubernetes errors, as the store's: what failed, and what to do about it."""
        try:
            yield
        except Refusal as refusal:
            failure = refusal.error()
            raise StoreError(f"could not {doing}: {failure.message}", hint=failure.hint) from refusal
        except TargetError as exc:
            raise StoreError(f"could not {doing}: {exc.message}", hint=exc.hint) from exc


@contextmanager
def _unless_forbidden(forbidden: list[str], ns: str) -> Iterator[None]:
    """Skip a namespace the kubeconfig's user may not read (noted in ``forbidden``): a deployment
    id is looked for in every environment's namespace, and CI roles often reach one only."""
    try:
        yield
    except Refusal as refusal:
        if refusal.code != FORBIDDEN:
            raise
        forbidden.append(ns)


def _unknown(deployment_id: str, forbidden: Sequence[str]) -> NotFoundError:
    missing = unknown_id(deployment_id)
    if not forbidden:
        return missing
    return NotFoundError(
        f"{missing.message}; namespace {', '.join(forbidden)} could not be read (forbidden)",
        hint=f"{missing.hint}, or use a kubeconfig whose user may read that namespace",
    )


def _pause(attempt: int) -> None:
    """A short random wait before the next compare-and-swap, so that two writers fall out of step."""
    time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** min(attempt, 6))))
