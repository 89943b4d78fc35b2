"""One way into the API server for every request: the API calls (lightkube) and the health checks (httpx).

``ClusterAccess`` holds what a request needs: the server's TLS trust and our client certificate
(one ``ssl.SSLContext``), the credential source (``credentials.py``), the server's TLS name and
the HTTP proxy. Two thin adapters hand it to the two HTTP stacks through their own hooks:

- ``ProbeAuth``, an ``httpx.Auth``, for the health checks (and the loopback door the check
  scripts use), which go through the API server's service and pod proxies;
- ``ApiTransport``, an ``httpx2`` transport, for lightkube: its ``Client`` takes a transport but no
  auth, and lightkube 1.0.1's own exec support refuses ``client.authentication.k8s.io/v1``, passes
  no ``KUBERNETES_EXEC_INFO`` and ignores ``expirationTimestamp``.

Both put the grant on the request, and after a 401 from the API server itself (a ``Status``, not an
app's own 401 behind the proxy) ask the source for a fresh grant and send the request once more.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import httpx2

from arxdeploy.errors import TargetError
from arxdeploy.targets.kubernetes import kubeconfig as kubeconfigs
from arxdeploy.targets.kubernetes import tls
from arxdeploy.targets.kubernetes.credentials import Clock, Credential, ExecPlugin, Fixed, Grant, TokenFile
from arxdeploy.targets.kubernetes.kubeconfig import Found

UNAUTHORIZED = 401


class ClusterAccess:
    """Thread-safe. ``grant()`` before a request, ``refused(grant)`` after the API server's 401."""

    def __init__(
        self,
        *,
        server: str,
        context: ssl.SSLContext,
        credential: Credential,
        origin: str,
        server_name: str | None = None,
        proxy: str | None = None,
        certificate_expires: datetime | None = None,
        now: Clock | None = None,
    ) -> None:
        self.server = server
        self.context = context
        self.credential = credential
        self.origin = origin
        self.server_name = server_name
        self.proxy = proxy
        self._certificate_expires = certificate_expires
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._certificate: tuple[bytes, bytes] | None = None  # the plugin's, once loaded
        self.generation = 0  # bumped when a plugin hands over a new certificate

    @classmethod
    def from_kubeconfig(
        cls,
        *,
        kubeconfig: Path | None,
        context: str | None,
        environ: Mapping[str, str],
        service_account: Path = kubeconfigs.SERVICE_ACCOUNT,
    ) -> ClusterAccess:
        """The access of ``context`` in the kubeconfig kubectl would use (``kubeconfig.find``)."""
        found = kubeconfigs.find(
            kubeconfig=kubeconfig, context=context, environ=environ, service_account=service_account
        )
        return cls.build(found, environ)

    @classmethod
    def build(cls, found: Found, environ: Mapping[str, str]) -> ClusterAccess:
        cluster, user = found.cluster, found.user
        context = tls.context(ca=cluster.ca, insecure=cluster.insecure)
        expires = None
        if user.certificate is not None and user.key is not None:
            tls.load_client_certificate(context, certificate=user.certificate, key=user.key, what=found.origin)
            expires = tls.not_after(user.certificate)
        credential: Credential
        if user.token_file is not None:
            credential = TokenFile(user.token_file)
        elif user.token is not None:
            credential = Fixed.bearer(user.token)
        elif user.username is not None or user.password is not None:
            credential = Fixed.basic(user.username or "", user.password or "")
        elif user.exec is not None and user.certificate is None:
            # client-go runs a plugin only for a user with no token, password or certificate
            credential = ExecPlugin(user.exec, cluster=cluster, environ=environ)
        else:
            credential = Fixed()
        return cls(
            server=cluster.server,
            context=context,
            credential=credential,
            origin=found.origin,
            server_name=cluster.server_name,
            proxy=cluster.proxy_url or proxy_for(cluster.server, environ),
            certificate_expires=expires,
        )

    def grant(self) -> Grant:
        grant = self.credential.grant()
        if grant.authorization is None and grant.certificate is None:
            self._check_certificate()
        self._use_certificate(grant)
        return grant

    def refused(self, grant: Grant) -> Grant | None:
        fresh = self.credential.refused(grant)
        if fresh is not None:
            self._use_certificate(fresh)
        return fresh

    def prepare(self, request: httpx.Request | httpx2.Request, grant: Grant) -> None:
        """Put ``grant`` on ``request`` (replacing whatever it carried) and the server's TLS name."""
        if grant.authorization is not None:
            request.headers["Authorization"] = grant.authorization
        elif "Authorization" in request.headers:
            del request.headers["Authorization"]
        if self.server_name:
            request.extensions["sni_hostname"] = self.server_name

    def _check_certificate(self) -> None:
        """A client certificate alone that has expired: say so, rather than a bare 401 or TLS error."""
        expires = self._certificate_expires
        if expires is not None and self._now() >= expires:
            raise TargetError(
                f"the client certificate of {self.origin} expired at {expires:%Y-%m-%d %H:%M:%S} UTC",
                hint="get a new kubeconfig (kind: `kind export kubeconfig --name CLUSTER`; "
                "kubeadm: `kubeadm certs renew admin.conf`)",
            )

    def _use_certificate(self, grant: Grant) -> None:
        """A plugin's certificate goes into the shared context: new connections present it."""
        if grant.certificate is None:
            return
        with self._lock:
            if grant.certificate is self._certificate:
                return
            cert, key = grant.certificate
            tls.load_client_certificate(self.context, certificate=cert, key=key, what=self.origin)
            self._certificate = grant.certificate
            self.generation += 1

    @property
    def plugin_runs(self) -> int:
        """How often the exec plugin ran (0 without one)."""
        return self.credential.runs if isinstance(self.credential, ExecPlugin) else 0


def refused_by_api_server(status: int, content_type: str, body: bytes) -> bool:
    """A 401 the API server itself gave (a ``Status``), not one from an app behind its proxy."""
    if status != UNAUTHORIZED:
        return False
    if "json" not in content_type:
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("kind") == "Status"


class ProbeAuth(httpx.Auth):
    """The cluster's credentials on every health check (httpx)."""

    requires_response_body = True  # to tell the API server's 401 from the app's

    def __init__(self, access: ClusterAccess) -> None:
        self._access = access

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        grant = self._access.grant()
        self._access.prepare(request, grant)
        response = yield request
        if refused_by_api_server(response.status_code, response.headers.get("content-type", ""), response.content):
            fresh = self._access.refused(grant)
            if fresh is not None:
                self._access.prepare(request, fresh)
                yield request


class ApiTransport(httpx2.BaseTransport):
    """lightkube's way to the API server: our TLS context, proxy and credentials on every call."""

    def __init__(self, access: ClusterAccess) -> None:
        self._access = access
        self._lock = threading.Lock()
        self._generation = access.generation
        self._inner = self._new()
        self._retired: list[httpx2.HTTPTransport] = []

    def _new(self) -> httpx2.HTTPTransport:
        return httpx2.HTTPTransport(verify=self._access.context, proxy=self._access.proxy, trust_env=False)

    def _current(self) -> httpx2.HTTPTransport:
        """Pooled connections present the certificate they were opened with: after a plugin's new
        certificate, new connections (client-go closes the old ones; these are closed at the end)."""
        with self._lock:
            if self._generation != self._access.generation:
                self._retired.append(self._inner)
                self._inner = self._new()
                self._generation = self._access.generation
            return self._inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        grant = self._access.grant()
        self._access.prepare(request, grant)
        response = self._current().handle_request(request)
        if response.status_code != UNAUTHORIZED:
            return response
        body = response.read()
        if not refused_by_api_server(response.status_code, response.headers.get("content-type", ""), body):
            return response
        fresh = self._access.refused(grant)
        if fresh is None:
            return response
        response.close()
        self._access.prepare(request, fresh)
        return self._current().handle_request(request)

    def close(self) -> None:
        with self._lock:
            for transport in [*self._retired, self._inner]:
                transport.close()
            self._retired.clear()


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The HTTP proxy for ``url`` as Go's ``http.ProxyFromEnvironment`` picks it (client-go's default):
    ``HTTPS_PROXY`` (``HTTP_PROXY`` for http), never for loopback, not for ``NO_PROXY`` matches."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    secure = parts.scheme == "https"
    names = ("HTTPS_PROXY", "https_proxy") if secure else ("HTTP_PROXY", "http_proxy")
    proxy = next((environ[name] for name in names if environ.get(name)), None)
    if not proxy or _loopback(host):
        return None
    port = parts.port or (443 if secure else 80)
    for entry in (environ.get("NO_PROXY") or environ.get("no_proxy") or "").split(","):
        if _bypassed(host, port, entry.strip().lower()):
            return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bypassed(host: str, port: int, entry: str) -> bool:
    if not entry:
        return False
    if entry == "*":
        return True
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    else:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    name, _, wanted = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
    if wanted and wanted.isdigit() and int(wanted) != port:
        return False
    name = name.removeprefix("*")
    if name.startswith("."):
        return host.endswith(name)
    return host == name or host.endswith("." + name)
