"""Namespaced objects as plain dicts, over the connection the target uses (``access.ClusterAccess``).

What the cluster store (``arxdeploy.store.cluster``) needs from the API server and lightkube 1.0.1
cannot ask for: lists of metadata alone (``PartialObjectMetadataList``, so that listing a thousand
deployments does not carry their event logs), deletes with preconditions, and answers kept as the
API server's own ``Status`` (its ``reason`` tells ``AlreadyExists`` from a ``Conflict``, a missing
namespace from a missing object). Requests go through ``access.ApiTransport``: the same TLS trust, client
certificate, credential plugin runs and proxy as every other call.

An answer of the API server that is a verdict on the request (4xx) is a ``Refusal``; one that is
not (5xx, 429) and a request that got no answer are ``TransientTargetError``. Reads are asked again
twice then; writes never are, since their outcome is unknown: the store reads the object back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from arxdeploy.errors import TargetError, TransientTargetError
from arxdeploy.targets.kubernetes.access import ApiTransport, ClusterAccess
from arxdeploy.targets.kubernetes.errors import MAX_BODY, NOT_FOUND, TOO_MANY_REQUESTS, refused, translate, wait_for

Obj = dict[str, Any]
READ_ATTEMPTS = 3
READ_BACKOFF = 0.2  # seconds before the second read, doubling; a Retry-After wins (up to the cap)
WAIT_CAP = 5.0
_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"


@dataclass(frozen=True)
class Kind:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        base = f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{name}" if name is not None else base


CONFIGMAPS = Kind("", "v1", "configmaps", "ConfigMap")
SECRETS = Kind("", "v1", "secrets", "Secret")
LEASES = Kind("coordination.k8s.io", "v1", "leases", "Lease")


class Refusal(Exception):
    """The API server answered with an error ``Status``: its code, reason and message, the kind
    (plural) and name it names (``namespaces``/``x`` when the namespace is missing), and what was
    asked (``verb`` as RBAC says it, ``what`` the object)."""

    def __init__(
        self, code: int, reason: str, message: str, *, kind: str = "", name: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.kind = kind
        self.name = name
        self.retry_after = retry_after
        self.verb = ""
        self.what = ""

    @property
    def missing_namespace(self) -> bool:
        return self.code == NOT_FOUND and self.kind == "namespaces"

    def error(self) -> TargetError:
        """Ours, as the target says it (RBAC and kubeconfig hints; retryable or not)."""
        return refused(self.code, self.message, verb=self.verb, what=self.what, retry_after=self.retry_after)


class Objects:
    """get, list, create, replace and delete of namespaced objects. Thread-safe.

    ``access`` is called on the first request (no kubeconfig is read before). Errors: ``Refusal``
    for an answer of the API server, ``TargetError`` (``TransientTargetError`` when worth asking
    again) when there was none.
    """

    def __init__(self, access: Callable[[], ClusterAccess], *, timeout: float = 10.0) -> None:
        self._access = access
        self._timeout = timeout
        self._client: httpx2.Client | None = None
        self._opening = threading.Lock()  # one client, however many threads ask at once

    @classmethod
    def from_kubeconfig(cls, *, kubeconfig: Path | None, context: str | None, environ: Mapping[str, str]) -> Objects:
        return cls(lambda: ClusterAccess.from_kubeconfig(kubeconfig=kubeconfig, context=context, environ=environ))

    def close(self) -> None:
        with self._opening:
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- reads --------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str, *, metadata_only: bool = False) -> Obj:
        accept = _METADATA if metadata_only else "application/json"
        return self._read("get", kind.path(namespace, name), {}, accept, f"{kind.kind} {name} in namespace {namespace}")

    def find(self, kind: Kind, namespace: str, name: str, *, metadata_only: bool = False) -> Obj | None:
        """``get``, or None when there is no such object (or namespace)."""
        try:
            return self.get(kind, namespace, name, metadata_only=metadata_only)
        except Refusal as refusal:
            if refusal.code == NOT_FOUND:
                return None
            raise

    def list(self, kind: Kind, namespace: str, *, labels: str, metadata_only: bool = False) -> list[Obj]:
        """Every object matching the label selector, in name order (pages followed). A namespace
        that does not exist holds nothing, as the API server answers."""
        accept = _METADATA_LIST if metadata_only else "application/json"
        items: list[Obj] = []
        query = {"labelSelector": labels}
        what = f"{kind.plural} ({labels}) in namespace {namespace}"
        while True:
            page = self._read("list", kind.path(namespace), query, accept, what)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query = {"labelSelector": labels, "continue": token}

    # --- writes -------------------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str, body: Obj) -> Obj:
        body = {**body, "apiVersion": kind.api_version, "kind": kind.kind}
        what = f"{kind.kind} {body['metadata']['name']} in namespace {namespace}"
        return self._send("POST", kind.path(namespace), verb="create", what=what, body=body)

    def replace(self, kind: Kind, namespace: str, body: Obj) -> Obj:
        """PUT ``body``; with its ``metadata.resourceVersion`` it is a compare-and-swap (409 if stale)."""
        body = {**body, "apiVersion": kind.api_version, "kind": kind.kind}
        name = body["metadata"]["name"]
        what = f"{kind.kind} {name} in namespace {namespace}"
        return self._send("PUT", kind.path(namespace, name), verb="update", what=what, body=body)

    def delete(self, kind: Kind, namespace: str, name: str, *, resource_version: str | None = None) -> None:
        """Delete ``name`` (only at ``resource_version``, when given); nothing if it is gone."""
        options: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version is not None:
            options["preconditions"] = {"resourceVersion": resource_version}
        try:
            what = f"{kind.kind} {name} in namespace {namespace}"
            self._send("DELETE", kind.path(namespace, name), verb="delete", what=what, body=options)
        except Refusal as refusal:
            if refusal.code != NOT_FOUND:
                raise

    # --- plumbing -----------------------------------------------------------------------------

    def _http(self) -> httpx2.Client:
        with self._opening:
            if self._client is None:
                access = self._access()
                self._client = httpx2.Client(
                    base_url=access.server,
                    transport=ApiTransport(access),
                    timeout=httpx2.Timeout(self._timeout),
                    trust_env=False,
                )
            return self._client

    def _read(self, verb: str, path: str, query: Mapping[str, str], accept: str, what: str) -> Obj:
        delay = READ_BACKOFF
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return self._send("GET", path, verb=verb, what=what, query=query, accept=accept)
            except TransientTargetError as failure:
                if attempt == READ_ATTEMPTS:
                    raise
                wait = failure.retry_after if failure.retry_after is not None else delay
                time.sleep(min(wait, WAIT_CAP))
                delay *= 2
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        what: str,
        accept: str = "application/json",
        query: Mapping[str, str] | None = None,
        body: Obj | None = None,
    ) -> Obj:
        headers = {"Accept": accept}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            response = self._http().request(method, path, params=dict(query or {}), headers=headers, content=content)
        except (httpx2.HTTPError, OSError) as exc:
            raise translate(exc, verb=verb, what=what) from exc
        if response.status_code >= 400:
            refusal = _refusal(response)
            refusal.verb, refusal.what = verb, what
            if refusal.code >= 500 or refusal.code == TOO_MANY_REQUESTS:
                # Not a verdict on the request: the server was overloaded or timed out, maybe after
                # the write was done (a 504 once etcd committed it). Retryable; a writer must read back.
                raise refusal.error() from refusal
            raise refusal
        answer: Obj = response.json()
        return answer


def _refusal(response: httpx2.Response) -> Refusal:
    try:
        status = response.json()
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        details = status.get("details") or {}
        return Refusal(
            response.status_code,
            str(status.get("reason") or ""),
            str(status.get("message") or response.reason_phrase),
            kind=str(details.get("kind") or ""),
            name=str(details.get("name") or ""),
            retry_after=wait_for(response.headers.get("Retry-After")),
        )
    # not the API server's own answer (a proxy, a load balancer): its reason, and a short body
    body = response.text.strip()
    short = body if len(body) <= MAX_BODY and "\n" not in body else ""
    message = short or response.reason_phrase or f"HTTP {response.status_code}"
    return Refusal(response.status_code, "", message, retry_after=wait_for(response.headers.get("Retry-After")))
