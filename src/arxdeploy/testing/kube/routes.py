"""The HTTP face of the emulator: authentication, discovery, CRUD, watch, subresources, the
proxies (proxy.py) and the exec credential issuer (auth.py).

Paths are parsed by hand rather than with one aiohttp route per resource: the API server's URL
grammar (optional ``namespaces/{ns}``, optional ``watch/`` prefix, ``name:port`` proxy targets)
reads more plainly as one function.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from aiohttp import ClientSession, web

from arxdeploy.testing.kube import events as event_views
from arxdeploy.testing.kube import logs, openapi, proxy, scale
from arxdeploy.testing.kube.auth import Authenticator, User
from arxdeploy.testing.kube.credential import ISSUER_PATH
from arxdeploy.testing.kube.endpoints import endpoints
from arxdeploy.testing.kube.errors import ApiError, bad_request, method_not_allowed, not_found
from arxdeploy.testing.kube.patch import PatchError, json_patch, merge_patch, strategic_merge
from arxdeploy.testing.kube.resources import RESOURCES, Resource, by_name, groups, lookup
from arxdeploy.testing.kube.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from arxdeploy.testing.kube.store import PATCH_TYPES, Obj, Store

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-arxdeploy-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_PUBLIC = {"/version", "/version/", "/healthz", "/livez", "/readyz"}
_SERVICES = by_name("services")
_PODS = by_name("pods")
_ENDPOINTS = by_name("endpoints")
_EVENTS = by_name("events")
USER: web.RequestKey[User | None] = web.RequestKey("user", User)


@dataclass
class Context:
    store: Store
    auth: Authenticator
    issuer: bool = False  # the exec credential issuer answers (auth mode exec)
    backends: proxy.Backends = field(default_factory=proxy.Backends)
    calls: Counter[str] = field(default_factory=Counter)
    calls_lock: threading.Lock = field(default_factory=threading.Lock)
    session: ClientSession | None = None
    transports: weakref.WeakSet[asyncio.BaseTransport] = field(default_factory=weakref.WeakSet)
    faults: list[Fault] = field(default_factory=list)  # guarded by calls_lock
    unauthorized: Counter[str] = field(default_factory=Counter)  # 401 answers by "METHOD /path"; calls_lock


@dataclass
class Fault:
    """The next ``times`` requests matching ``method`` and ``path`` (a substring) fail with
    ``status``, as a real API server's do when etcd is slow (503, 504) or when API Priority and
    Fairness sheds load (429 with ``Retry-After``)."""

    status: int
    times: int
    method: str | None = None
    path: str | None = None
    retry_after: int | None = None
    after: bool = False  # carry the request out, then answer with the failure

    def matches(self, request: web.Request) -> bool:
        return (self.method in (None, request.method)) and (self.path is None or self.path in request.path)


_FAULT_REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def _injected(ctx: Context, request: web.Request) -> Fault | None:
    with ctx.calls_lock:
        fault = next((f for f in ctx.faults if f.times > 0 and f.matches(request)), None)
        if fault is not None:
            fault.times -= 1
        return fault


def _failure(fault: Fault) -> web.Response:
    reason = _FAULT_REASONS.get(fault.status, "InternalError")
    response = _json(ApiError(fault.status, reason, f"injected: {reason}").status(), fault.status)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def _json(body: Any, status: int = 200) -> web.Response:
    raw = json.dumps(body, separators=(",", ":")).encode()
    # aiohttp warns of a large body given as bytes (it could hold up the loop): a file object is streamed
    payload: bytes | io.BytesIO = io.BytesIO(raw) if len(raw) > _LARGE_BODY else raw
    return web.Response(body=payload, status=status, content_type="application/json")


_LARGE_BODY = 1 << 20


def build_app(ctx: Context) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.transport is not None:
            ctx.transports.add(request.transport)
        if ctx.issuer and request.path == ISSUER_PATH:
            return await _issue(ctx, request)  # not an API call: neither counted nor authenticated
        with ctx.calls_lock:
            ctx.calls[f"{request.method} {request.path}"] += 1
        user = ctx.auth.authenticate(request.headers.get("Authorization"), _peer_certificate(request))
        if user is None and request.path not in _PUBLIC:
            with ctx.calls_lock:
                ctx.unauthorized[f"{request.method} {request.path}"] += 1
            return _json(ApiError(401, "Unauthorized", "Unauthorized").status(), 401)
        request[USER] = user
        fault = _injected(ctx, request)
        if fault is not None and not fault.after:
            return _failure(fault)
        try:
            response: web.StreamResponse = await handler(request)
        except ApiError as error:
            response = _json(error.status(), error.code)
        return _failure(fault) if fault is not None else response

    async def dispatch(request: web.Request) -> web.StreamResponse:
        return await _dispatch(ctx, request)

    app = web.Application(middlewares=[guard], client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _peer_certificate(request: web.Request) -> bytes | None:
    """The client certificate the TLS layer verified (DER), if the client sent one."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    certificate: bytes | None = ssl_object.getpeercert(binary_form=True)
    return certificate


async def _issue(ctx: Context, request: web.Request) -> web.Response:
    """The exec plugin's token issuer: mints a token (the plugin's ``ExecCredential``) for the key holder."""
    if request.method != "POST":
        refused = method_not_allowed()
        return _json(refused.status(), refused.code)
    if not ctx.auth.issuer_allows(request.headers.get("Authorization")):
        return _json(ApiError(401, "Unauthorized", "Unauthorized").status(), 401)
    try:
        body = json.loads(await request.read() or b"{}")
        credential = ctx.auth.mint(str(body.get("apiVersion", "")), body.get("execInfo"))
    except (ValueError, AttributeError) as error:
        failure = bad_request(f"cannot issue a token: {error}")
        return _json(failure.status(), failure.code)
    return _json(credential)


async def _dispatch(ctx: Context, request: web.Request) -> web.StreamResponse:
    parts = [p for p in request.path.split("/") if p]
    if request.path in {"/healthz", "/livez", "/readyz"}:
        return web.Response(text="ok")
    if parts == ["version"]:
        return _json(VERSION)
    if parts[:2] == ["openapi", "v3"]:
        return _openapi(parts[2:])
    if parts[:1] == ["api"] and len(parts) <= 2:
        return _core_discovery(parts)
    if parts[:1] == ["apis"] and len(parts) <= 3:
        return _group_discovery(parts)
    if parts[:2] == ["api", "v1"]:
        return await _resource_request(ctx, request, "", "v1", parts[2:])
    if parts[:1] == ["apis"]:
        return await _resource_request(ctx, request, parts[1], parts[2], parts[3:])
    raise not_found_path(request.path)


def _openapi(parts: list[str]) -> web.Response:
    if not parts:
        return _json(openapi.index())
    group, version = ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else (parts[-2], parts[-1])
    doc = openapi.document(group, version) if len(parts) in {2, 3} else None
    if doc is None:
        raise not_found_path("/openapi/v3/" + "/".join(parts))
    return _json(doc)


def not_found_path(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})", {})


def _core_discovery(parts: list[str]) -> web.Response:
    if len(parts) == 1:
        address = [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
        return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": address})
    if parts[1] != "v1":
        raise not_found_path("/" + "/".join(parts))
    return _json(_resource_list("", "v1"))


def _resource_list(group: str, version: str) -> dict[str, Any]:
    resources = [entry for r in RESOURCES if (r.group, r.version) == (group, version) for entry in r.discovery()]
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def _group_discovery(parts: list[str]) -> web.Response:
    known = {name: versions for name, versions in groups().items() if name}
    if len(parts) == 1:
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(n, v) for n, v in known.items()]})
    if parts[1] not in known:
        raise not_found_path("/" + "/".join(parts))
    if len(parts) == 2:
        return _json({"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], known[parts[1]])})
    if parts[2] not in known[parts[1]]:
        raise not_found_path("/" + "/".join(parts))
    return _json(_resource_list(parts[1], parts[2]))


@dataclass
class _Target:
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str
    rest: str  # the path after /proxy
    legacy_watch: bool


def _parse(group: str, version: str, parts: list[str]) -> _Target:
    legacy_watch = parts[:1] == ["watch"]
    if legacy_watch:
        parts = parts[1:]
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        inner = lookup(group, version, parts[2])
        if inner is not None and inner.namespaced:
            namespace, parts = parts[1], parts[2:]
    if not parts:
        raise not_found_path(f"/{group}/{version}")
    resource = lookup(group, version, parts[0])
    if resource is None:
        raise not_found_path("/".join([group, version, *parts]))
    name = parts[1] if len(parts) > 1 else None
    subresource = parts[2] if len(parts) > 2 else ""
    rest = "/".join(parts[3:])
    if resource.namespaced and namespace is None and name is not None:
        raise not_found_path("/".join([group, version, *parts]))
    known = {"status"} if resource.status else set()
    known |= {"scale"} if resource.scale else set()
    known |= {"proxy"} if resource in (_SERVICES, _PODS) else set()
    known |= {"log"} if resource is _PODS else set()
    if subresource and subresource not in known:
        raise not_found_path("/".join([group, version, *parts]))
    if len(parts) > 3 and subresource != "proxy":
        raise not_found_path("/".join([group, version, *parts]))
    return _Target(resource, namespace, name, subresource, rest, legacy_watch)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    mime = request.content_type  # parameters such as charset are already split off
    try:
        if "yaml" in mime:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as error:
        raise bad_request(f"the request body could not be decoded: {error}") from error


@contextlib.asynccontextmanager
async def _writing(store: Store, request: web.Request) -> AsyncIterator[None]:
    """Hold the store's lock; with ``?dryRun=All`` compute the result but keep nothing."""
    dry = request.query.get("dryRun")
    if dry not in (None, "", "All"):
        raise bad_request(f"unsupported dryRun value {dry!r}: only All is")
    async with store.lock:
        with store.dry_run(dry == "All"):
            yield


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"true", "1"}


async def _resource_request(
    ctx: Context, request: web.Request, group: str, version: str, parts: list[str]
) -> web.StreamResponse:
    target = _parse(group, version, parts)
    if target.subresource == "proxy":
        forward = proxy.pod_proxy if target.resource is _PODS else proxy.service_proxy
        return await forward(
            request, ctx.store, ctx.backends, ctx.session, target.namespace or "default", target.name or "", target.rest
        )
    if not target.resource.stored:
        return _self_review(request, target)
    if target.resource.view_of:
        return await _view_request(ctx, request, target)
    query = request.query
    method = request.method
    store = ctx.store
    resource, namespace, name = target.resource, target.namespace, target.name
    if resource is _ENDPOINTS:
        return await _endpoints(ctx, request, target)
    if name is None:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), resource.field_labels)
        if method == "GET" and (target.legacy_watch or _flag(query.get("watch"))):
            return await _watch(ctx, request, resource, namespace, labels, fields)
        if method == "GET":
            partial = _partial_view(request, listing=True)
            listed = _list(ctx, resource, namespace, labels, fields, query.get("limit"), query.get("continue"), partial)
            return _json(_as_partial_list(listed, partial) if partial else listed)
        if method == "POST":
            body = await _body(request)
            if resource.namespaced and namespace is None:
                raise method_not_allowed()
            async with _writing(store, request):
                return _json(store.create(resource, namespace, body), 201)
        if method == "DELETE" and "deletecollection" in resource.verbs:
            async with _writing(store, request):
                deleted = store.delete_collection(resource, namespace, labels, fields)
            return _json(_list_body(resource, deleted, store.resource_version))
        raise method_not_allowed()
    if target.subresource == "scale":
        return await _scale(ctx, request, target)
    if target.subresource == "log":
        if method != "GET":
            raise method_not_allowed()
        async with store.lock:
            pod = store.get(resource, namespace, name)
        return web.Response(text=logs.log_text(pod, dict(request.query)), content_type="text/plain")
    sub = target.subresource
    if method == "GET":
        partial = _partial_view(request, listing=False)
        async with store.lock:
            found = store.get(resource, namespace, name)
        return _json(_as_partial(found["metadata"], partial) if partial else found)
    if method == "PUT":
        body = await _body(request)
        async with _writing(store, request):
            return _json(store.update(resource, namespace, name, body, sub))
    if method == "PATCH":
        content_type = request.content_type
        if content_type not in PATCH_TYPES:
            raise ApiError(
                415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
            )
        if content_type == "application/strategic-merge-patch+json" and resource.custom:
            # apiextensions-apiserver serves custom resources without strategic merge (no patch
            # strategies in a CRD's schema): kubectl falls back to a merge patch for them
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            )
        if content_type == "application/apply-patch+yaml" and not query.get("fieldManager"):
            raise bad_request("PATCH requests with apply-patch+yaml must set fieldManager")
        body = await _body(request)
        async with _writing(store, request):
            existed = store.find(resource, namespace, name) is not None
            result = store.patch(resource, namespace, name, content_type, body, sub)
        return _json(result, 200 if existed else 201)
    if method == "DELETE" and not sub:
        options = await _body(request)
        options = options if isinstance(options, dict) else {}
        if "propagationPolicy" in query:  # allowed as a query parameter as well as in DeleteOptions
            options["propagationPolicy"] = query["propagationPolicy"]
        async with _writing(store, request):
            gone = store.delete(resource, namespace, name, options)
        details = {"name": name, "kind": resource.plural, "uid": gone["metadata"]["uid"]}
        if resource.group:
            details["group"] = resource.group
        if resource is _PODS:
            return _json(gone)  # pods answer with the object, other kinds with a Status
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
    raise method_not_allowed()


async def _endpoints(ctx: Context, request: web.Request, target: _Target) -> web.Response:
    if request.method != "GET" or _flag(request.query.get("watch")) or target.legacy_watch:
        raise method_not_allowed("endpoints are computed from Services and Pods: only get and list")
    async with ctx.store.lock:
        if target.name is not None:
            service = ctx.store.find(_SERVICES, target.namespace, target.name)
            if service is None:
                raise not_found(_ENDPOINTS, target.name)
            return _json(endpoints(ctx.store, service))
        labels = parse_label_selector(request.query.get("labelSelector"))
        items = [endpoints(ctx.store, s) for s in ctx.store.select(_SERVICES, target.namespace, labels)]
        return _json(_list_body(_ENDPOINTS, items, ctx.store.resource_version))


def _list_body(resource: Resource, items: list[Obj], resource_version: int, cont: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(resource_version)}
    if cont:
        meta["continue"] = cont
    return {"kind": f"{resource.kind}List", "apiVersion": resource.api_version, "metadata": meta, "items": items}


def _list(
    ctx: Context,
    resource: Resource,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
    limit: str | None,
    cont: str | None,
    metadata_only: str | None = None,
) -> dict[str, Any]:
    # lists read a consistent snapshot: no await happens between select and resourceVersion
    items = ctx.store.select(resource, namespace, labels, fields, metadata_only=bool(metadata_only))
    start = int(cont) if cont and cont.isdigit() else 0
    size = int(limit) if limit and limit.isdigit() and int(limit) > 0 else len(items)
    page = items[start : start + size]
    more = str(start + size) if start + size < len(items) else ""
    return _list_body(resource, page, ctx.store.resource_version, more)


# The metadata-only views a client may ask for in its Accept header, as the API server offers
# them (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/response.go, doTransformObject):
# ``application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`` for a list,
# ``...;as=PartialObjectMetadata;...`` for one object. Tables (kubectl get) are not served: a
# client that asks for one lists a plain fallback after it, which is answered.
_PARTIAL = {"PartialObjectMetadata", "PartialObjectMetadataList"}
_META_VERSIONS = {"v1", "v1beta1"}


def _partial_view(request: web.Request, *, listing: bool) -> str | None:
    """The meta.k8s.io version of the metadata-only view asked for, or None for the object itself."""
    for media in request.headers.get("Accept", "").split(","):
        kind, params = media.split(";")[0].strip(), dict(_parameters(media))
        wanted = params.get("as")
        if wanted is None:
            if kind in {"application/json", "application/*", "*/*", ""}:
                return None
            continue
        if wanted not in _PARTIAL or params.get("g") != "meta.k8s.io" or params.get("v") not in _META_VERSIONS:
            continue  # a Table, or another conversion: the next media type may be served
        if listing and wanted == "PartialObjectMetadata":
            raise ApiError(
                406, "NotAcceptable", "you requested PartialObjectMetadata, but the requested object is a list"
            )
        if not listing and wanted == "PartialObjectMetadataList":
            raise ApiError(
                406,
                "NotAcceptable",
                "you requested PartialObjectMetadataList, but the requested object is not a list",
            )
        return params["v"]
    return None


def _parameters(media: str) -> list[tuple[str, str]]:
    found = []
    for part in media.split(";")[1:]:
        key, _, value = part.partition("=")
        found.append((key.strip(), value.strip()))
    return found


def _as_partial(metadata: Obj, version: str) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": metadata}


def _as_partial_list(listed: dict[str, Any], version: str) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": listed["metadata"],
        "items": [_as_partial(item["metadata"], version) for item in listed["items"]],
    }


async def _watch(
    ctx: Context,
    request: web.Request,
    resource: Resource,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
    *,
    convert: Callable[[Obj], Obj] | None = None,
) -> web.StreamResponse:
    timeout_text = request.query.get("timeoutSeconds")
    timeout = float(timeout_text) if timeout_text and timeout_text.isdigit() else 1800.0
    watcher = ctx.store.watch(resource, namespace, labels, fields, request.query.get("resourceVersion"))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await response.prepare(request)
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    event = await watcher.queue.get()
            except TimeoutError:
                break
            if event is None:
                break
            if convert is not None and event["type"] != "ERROR":
                event = {"type": event["type"], "object": convert(event["object"])}
            await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away; its watcher is dropped below
    finally:
        ctx.store.unwatch(watcher)
    return response


async def _scale(ctx: Context, request: web.Request, target: _Target) -> web.Response:
    store, resource, namespace, name = ctx.store, target.resource, target.namespace, target.name or ""
    if request.method not in {"GET", "PUT", "PATCH"}:
        raise method_not_allowed()
    body = await _body(request) if request.method != "GET" else None
    async with _writing(store, request):
        current = scale.of(store.get(resource, namespace, name))
        if request.method == "GET":
            return _json(current)
        if request.method == "PATCH":
            patchers = {
                "application/json-patch+json": json_patch,
                "application/strategic-merge-patch+json": strategic_merge,
            }
            try:
                body = patchers.get(request.content_type, merge_patch)(current, body)
            except PatchError as error:
                raise ApiError(422, "Invalid", str(error)) from error
        if not isinstance(body, dict):
            raise bad_request("the request body must be a Scale object")
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        replicas = (body.get("spec") or {}).get("replicas", 0)
        return _json(scale.write(store, resource, namespace, name, replicas, wanted))


def _self_review(request: web.Request, target: _Target) -> web.Response:
    """``SelfSubjectReview`` (``kubectl auth whoami``): the caller as the authenticators saw it."""
    if request.method != "POST" or target.name is not None:
        raise method_not_allowed()
    user = request.get(USER)
    info = user.info() if user is not None else {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
    review = {
        "kind": "SelfSubjectReview",
        "apiVersion": target.resource.api_version,
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": info},
    }
    return _json(review, 201)


async def _view_request(ctx: Context, request: web.Request, target: _Target) -> web.StreamResponse:
    """``events.k8s.io/v1``: the stored ``v1`` Events, converted both ways (events.py)."""
    store, view, namespace, name = ctx.store, target.resource, target.namespace, target.name
    query, method = request.query, request.method
    if name is None:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), view.field_labels)
        if method == "GET" and (target.legacy_watch or _flag(query.get("watch"))):
            return await _watch(ctx, request, _EVENTS, namespace, labels, fields, convert=event_views.to_events_v1)
        if method == "GET":
            listed = _list(ctx, _EVENTS, namespace, labels, fields, query.get("limit"), query.get("continue"))
            items = [event_views.to_events_v1(e) for e in listed["items"]]
            return _json(_list_body(view, items, store.resource_version, listed["metadata"].get("continue", "")))
        if method == "POST" and namespace is not None:
            body = event_views.from_events_v1(await _body(request))
            async with _writing(store, request):
                return _json(event_views.to_events_v1(store.create(_EVENTS, namespace, body)), 201)
        if method == "DELETE":
            async with _writing(store, request):
                gone = store.delete_collection(_EVENTS, namespace, labels, fields)
            return _json(_list_body(view, [event_views.to_events_v1(e) for e in gone], store.resource_version))
        raise method_not_allowed()
    if target.subresource:
        raise not_found_path(request.path)
    if method == "GET":
        async with store.lock:
            return _json(event_views.to_events_v1(_found(store, view, namespace, name)))
    if method in {"PUT", "PATCH"}:
        body = await _body(request)
        async with _writing(store, request):
            current = event_views.to_events_v1(_found(store, view, namespace, name))
            if method == "PATCH":
                patchers = {"application/json-patch+json": json_patch, "application/merge-patch+json": merge_patch}
                try:
                    body = patchers.get(request.content_type, strategic_merge)(current, body)
                except PatchError as error:
                    raise ApiError(422, "Invalid", str(error)) from error
            updated = store.update(_EVENTS, namespace, name, event_views.from_events_v1(body))
            return _json(event_views.to_events_v1(updated))
    if method == "DELETE":
        async with _writing(store, request):
            _found(store, view, namespace, name)
            removed = store.delete(_EVENTS, namespace, name)
        details = {"name": name, "group": view.group, "kind": view.plural, "uid": removed["metadata"]["uid"]}
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
    raise method_not_allowed()


def _found(store: Store, view: Resource, namespace: str | None, name: str) -> Obj:
    found = store.find(_EVENTS, namespace, name)
    if found is None:
        raise not_found(view, name)
    return found


async def close(ctx: Context) -> None:
    """Before the runner's cleanup: end watches so their handlers return, close the proxy client."""
    ctx.store.close_watchers()
    if ctx.session is not None:
        await ctx.session.close()
        ctx.session = None


async def drop_connections(ctx: Context) -> None:
    """After the runner's cleanup: abort what is left. A TLS close waits for the peer's reply,
    which a client blocked elsewhere never sends; aborted, the loop can close cleanly."""
    for transport in list(ctx.transports):
        if isinstance(transport, asyncio.Transport):
            transport.abort()
    for _ in range(3):  # connection_lost callbacks run on the next loop iterations
        await asyncio.sleep(0)
