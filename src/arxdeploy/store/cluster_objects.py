"""The record as Kubernetes objects: names, labels, and what each object holds. Pure: no I/O.

One deployment is one ConfigMap, its **head** ``arxdeploy.v1.<id>``: the deployment's facts, its
state, ``updated_at``, its newest ``switched`` event and the names of its sealed parts in one
annotation (``arxdeploy.io/summary``, JSON), so that a list of metadata alone (what ``history``,
``unfinished`` and ``live`` ask for) carries every summary and no event; and its event log, as
JSON lines, in ``data.events``. One write of the head (a compare-and-swap on its
``resourceVersion``) appends events and moves the state together.

A ConfigMap holds at most 1 MiB of data (``core.MaxSecretSize``, checked by ``ValidateConfigMap``
in kubernetes/kubernetes ``pkg/apis/core/validation/validation.go``). When the head's log would
pass ``HEAD_BUDGET``, its lines are **sealed** into a part, an immutable ConfigMap
``arxdeploy.v1.<id>.part-<n>-<random>`` written before the head that names it: a part that no head
names (its writer lost the race, or died) is never read.

Labels make each list one selector: ``arxdeploy.io/record`` (deployment, events, token, lock),
``arxdeploy.io/service``, ``arxdeploy.io/environment``, ``arxdeploy.io/deployment`` (the id),
``arxdeploy.io/state``, ``arxdeploy.io/switched`` (only once traffic moved), and for tokens
``arxdeploy.io/token`` and ``arxdeploy.io/role``. Order is not a selector's to give (label
selectors have no ``Gt``; lists come in name order): lists are sorted here.

Tokens are Secrets (type ``arxdeploy.io/token``): a token's record is a sha256 of a random secret,
useless to guess from, but it names who may approve, and the built-in ``view`` role reads
ConfigMaps and not Secrets. Locks are ``coordination.k8s.io/v1`` Leases.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import State
from arxdeploy.errors import StoreError
from arxdeploy.ports import LockHolder, Summary, TokenRecord
from arxdeploy.store.common import deployment_row, holder_of, summary_of, token_of

Obj = dict[str, Any]

PREFIX = "arxdeploy.v1."
MANAGED_BY = {"app.kubernetes.io/managed-by": "arxdeploy"}
RECORD = "arxdeploy.io/record"
SERVICE = "arxdeploy.io/service"
ENVIRONMENT = "arxdeploy.io/environment"
DEPLOYMENT = "arxdeploy.io/deployment"
STATE = "arxdeploy.io/state"
SWITCHED = "arxdeploy.io/switched"
TOKEN = "arxdeploy.io/token"
ROLE = "arxdeploy.io/role"
SUMMARY = "arxdeploy.io/summary"
HOLDER = "arxdeploy.io/holder"
LOG_KEY = "events"
TOKEN_KEY = "token"
TOKEN_TYPE = "arxdeploy.io/token"

MAX_DATA = 1 << 20  # bytes of data in one ConfigMap or Secret (core.MaxSecretSize)
HEAD_BUDGET = 128 << 10  # the head is written whole on every append: keep it small
PART_LIMIT = MAX_DATA - (24 << 10)  # a part's lines, with room to spare under the limit
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_MAX_NAME = 253
_MAX_LABEL = 63


def name_part(value: str) -> bool:
    """Whether ``value`` can be part of an object name and be a label value."""
    return len(value) <= _MAX_LABEL and bool(_NAME.fullmatch(value)) and ".." not in value


def label_value(value: str) -> bool:
    return len(value) <= _MAX_LABEL and bool(_LABEL_VALUE.fullmatch(value))


def head_name(deployment_id: str) -> str | None:
    """The head's name, or None for an id no object can be named after (so none is recorded)."""
    return PREFIX + deployment_id if name_part(deployment_id) else None


def part_name(deployment_id: str, index: int) -> str:
    """A fresh name for part ``index``: random, so that two writers never claim the same object."""
    return f"{PREFIX}{deployment_id}.part-{index}-{secrets.token_hex(3)}"


def lease_name(service: str, environment: str) -> str:
    if not (name_part(service) and name_part(environment)):
        raise StoreError(f"no lock can be named after {service}/{environment}: not Kubernetes names")
    return f"{PREFIX}{service}.{environment}"


def token_name(token_id: str) -> str:
    if not name_part(token_id):
        raise StoreError(f"token id {token_id!r} cannot name a Kubernetes object", hint="use letters and digits")
    return f"{PREFIX}token.{token_id}"


def first_admin_name(admin_ids: Iterable[str]) -> str:
    """The name every first-admin bootstrap that saw these admin tokens (and none active) creates:
    of several at once, the API server lets one create succeed (``AlreadyExists`` for the others)."""
    digest = hashlib.sha256("\n".join(sorted(admin_ids)).encode()).hexdigest()[:16]
    return f"{PREFIX}token.first-admin-{digest}"


def selector(labels: Mapping[str, str], *more: str) -> str:
    """An equality selector on ``labels``, and set-based requirements ``more`` after it."""
    return ",".join([*(f"{key}={value}" for key, value in labels.items()), *more])


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def micro_time(value: datetime) -> str:
    """A ``metav1.MicroTime``: RFC 3339 in UTC with microseconds, as Leases carry it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


# --- deployments --------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """What a head says, read back: the summary and where the rest of the log is."""

    name: str
    namespace: str
    summary: Summary
    count: int  # events recorded in all, parts included
    parts: tuple[str, ...]
    switched: tuple[Obj, int] | None  # the newest switched event (as JSON) and its sequence number
    write: str  # the token of the write that made this version: a writer recognises its own
    resource_version: str
    lines: tuple[str, ...] = ()  # the log lines the head itself holds (a full read only)


def head_object(
    *,
    name: str,
    deployment: Deployment,
    state: State,
    updated_at: datetime,
    count: int,
    parts: Sequence[str],
    switched: tuple[Obj, int] | None,
    lines: Sequence[str],
    write: str,
    resource_version: str | None = None,
) -> Obj:
    summary = {
        "v": 1,
        "deployment": {**deployment_row(deployment), "created_at": iso(deployment.created_at)},
        "state": state.value,
        "updated_at": iso(updated_at),
        "count": count,
        "parts": list(parts),
        "switched": None if switched is None else {"event": switched[0], "seq": switched[1]},
        "write": write,
    }
    labels = {
        **MANAGED_BY,
        RECORD: "deployment",
        SERVICE: deployment.service,
        ENVIRONMENT: deployment.environment,
        DEPLOYMENT: deployment.id,
        STATE: state.value,
    }
    if switched is not None:
        labels[SWITCHED] = "true"
    metadata: Obj = {"name": name, "labels": labels, "annotations": {SUMMARY: _dumps(summary)}}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"metadata": metadata, "data": {LOG_KEY: "\n".join(lines)} if lines else {}}


def read_head(obj: Obj) -> Head:
    """A head as listed (metadata alone) or read whole; StoreError naming it if it does not parse."""
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name")), str(meta.get("namespace"))
    try:
        raw = json.loads((meta.get("annotations") or {})[SUMMARY])
        # fields added to Deployment later have their default in heads written before them
        row = {"from_backup": None, **raw["deployment"], "state": raw["state"], "updated_at": raw["updated_at"]}
        switched = raw.get("switched")
        text = (obj.get("data") or {}).get(LOG_KEY) or ""
        return Head(
            name=name,
            namespace=namespace,
            summary=summary_of(row),
            count=int(raw["count"]),
            parts=tuple(raw["parts"]),
            switched=None if switched is None else (switched["event"], int(switched["seq"])),
            write=str(raw.get("write", "")),
            resource_version=str(meta.get("resourceVersion", "")),
            lines=tuple(text.split("\n")) if text else (),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(f"ConfigMap {namespace}/{name}", exc) from exc


def newest_switch(current: tuple[Obj, int] | None, payloads: Sequence[str], first_seq: int) -> tuple[Obj, int] | None:
    """The newest ``switched`` event of a log once ``payloads`` (numbered from ``first_seq``) are
    added: by time, then by sequence, as the SQL store orders them."""
    best = current
    for offset, payload in enumerate(payloads):
        raw = json.loads(payload)
        if raw.get("type") != "switched":
            continue
        candidate = (raw, first_seq + offset)
        if best is None or _switch_key(candidate) >= _switch_key(best):
            best = candidate
    return best


def _switch_key(switched: tuple[Obj, int]) -> tuple[datetime, int]:
    return Event.from_json(switched[0]).at, switched[1]


def live_key(head: Head) -> tuple[datetime, datetime, int]:
    """How ``live`` orders the environment's switches: time, then the deployment's creation, then sequence."""
    assert head.switched is not None
    at, seq = _switch_key(head.switched)
    return at, head.summary.deployment.created_at, seq


@dataclass(frozen=True)
class Layout:
    """Where the lines go once a batch is added: new sealed parts (in order), then the head's own."""

    sealed: tuple[tuple[str, ...], ...]
    head: tuple[str, ...]


def lay_out(head_lines: Sequence[str], new: Sequence[str], *, deployment_id: str) -> Layout:
    """Keep the head under ``HEAD_BUDGET``: when the batch would pass it, seal what the head holds;
    a batch that is itself too big goes into parts of at most ``PART_LIMIT`` each."""
    if _size(head_lines) + _size(new) <= HEAD_BUDGET:
        return Layout((), (*head_lines, *new))
    sealed: list[tuple[str, ...]] = [tuple(head_lines)] if head_lines else []
    if _size(new) <= HEAD_BUDGET:
        return Layout(tuple(sealed), tuple(new))
    part: list[str] = []
    for line in new:
        if _size([line]) > PART_LIMIT:
            raise StoreError(
                f"an event of deployment {deployment_id} is {_size([line])} bytes: more than one Kubernetes"
                f" object holds ({MAX_DATA} bytes of data)",
                hint="this is a bug in what recorded it; the event was not recorded",
            )
        if part and _size([*part, line]) > PART_LIMIT:
            sealed.append(tuple(part))
            part = []
        part.append(line)
    sealed.append(tuple(part))
    return Layout(tuple(sealed), ())


def part_object(name: str, deployment: Deployment, lines: Sequence[str]) -> Obj:
    labels = {
        **MANAGED_BY,
        RECORD: "events",
        SERVICE: deployment.service,
        ENVIRONMENT: deployment.environment,
        DEPLOYMENT: deployment.id,
    }
    return {"metadata": {"name": name, "labels": labels}, "immutable": True, "data": {LOG_KEY: "\n".join(lines)}}


def part_lines(obj: Obj) -> list[str]:
    text = (obj.get("data") or {}).get(LOG_KEY) or ""
    return text.split("\n") if text else []


def damaged(what: str, exc: BaseException) -> StoreError:
    return StoreError(
        f"the record's {what} cannot be read ({type(exc).__name__}: {exc}): it was changed by hand",
        hint=f"restore {what} from a backup of the namespace (it is arxdeploy's; do not edit it)",
    )


# --- locks --------------------------------------------------------------------------------


def lease_object(
    *,
    name: str,
    service: str,
    environment: str,
    holder: LockHolder | None,
    transitions: int,
    duration: int | None = None,
    resource_version: str | None = None,
) -> Obj:
    """A Lease held by ``holder`` (``None``: released, as client-go leaves a lease it gives up).

    ``expires_at`` is ``renewTime + leaseDurationSeconds``, both kept exact: the duration is the
    holder's lease in whole seconds (at least 1, as validation wants), fixed when taken, and the
    renew time is the expiry minus it."""
    labels = {**MANAGED_BY, RECORD: "lock", SERVICE: service, ENVIRONMENT: environment}
    metadata: Obj = {"name": name, "labels": labels}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if holder is None:
        return {"metadata": metadata, "spec": {"holderIdentity": "", "leaseTransitions": transitions}}
    if duration is None:
        duration = max(1, math.ceil((holder.expires_at - holder.acquired_at).total_seconds()))
    metadata["annotations"] = {
        HOLDER: _dumps(
            {"deployment_id": holder.deployment_id, "owner": holder.owner, "host": holder.host, "pid": holder.pid}
        )
    }
    spec = {
        "holderIdentity": f"{holder.owner} pid {holder.pid} ({holder.deployment_id})",
        "leaseDurationSeconds": duration,
        "acquireTime": micro_time(holder.acquired_at),
        "renewTime": micro_time(holder.expires_at - timedelta(seconds=duration)),
        "leaseTransitions": transitions,
    }
    return {"metadata": metadata, "spec": spec}


def lease_holder(obj: Obj) -> LockHolder | None:
    """Who holds the Lease, or None once it was given up."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    raw = (meta.get("annotations") or {}).get(HOLDER)
    if not spec.get("holderIdentity") or raw is None:
        return None
    try:
        duration = timedelta(seconds=int(spec["leaseDurationSeconds"]))
        renewed = datetime.fromisoformat(str(spec["renewTime"]))
        row = {**json.loads(raw), "acquired_at": str(spec["acquireTime"]), "expires_at": renewed + duration}
        return holder_of(row)
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(f"Lease {meta.get('namespace')}/{meta.get('name')}", exc) from exc


def lease_duration(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("leaseDurationSeconds") or 1)


def lease_transitions(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("leaseTransitions") or 0)


def exactly(a: LockHolder, b: LockHolder) -> bool:
    """The same holder: a recovery holds the same deployment id as the process it replaced."""
    return (a.deployment_id, a.host, a.pid, a.acquired_at) == (b.deployment_id, b.host, b.pid, b.acquired_at)


# --- tokens -------------------------------------------------------------------------------


def token_object(name: str, token: TokenRecord) -> Obj:
    row = {
        "id": token.id,
        "email": token.email,
        "secret_sha256": token.secret_sha256,
        "created_at": iso(token.created_at),
        "created_by": token.created_by,
        "revoked_at": iso(token.revoked_at) if token.revoked_at else None,
        "github": token.github,
        "role": token.role.value,
        "expires_at": iso(token.expires_at) if token.expires_at else None,
    }
    labels = {**MANAGED_BY, RECORD: "token", TOKEN: token.id, ROLE: token.role.value}
    encoded = base64.b64encode(_dumps(row).encode()).decode()
    return {"metadata": {"name": name, "labels": labels}, "type": TOKEN_TYPE, "data": {TOKEN_KEY: encoded}}


def read_token(obj: Obj) -> TokenRecord:
    meta = obj.get("metadata") or {}
    try:
        row = json.loads(base64.b64decode((obj.get("data") or {})[TOKEN_KEY]))
        return token_of(row)
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(f"Secret {meta.get('namespace')}/{meta.get('name')}", exc) from exc


def active_admin(tokens: Iterable[TokenRecord], at: datetime) -> bool:
    return any(t.role is Role.ADMIN and t.active(at) for t in tokens)


def with_resource_version(obj: Obj, resource_version: str) -> Obj:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": resource_version}}


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
