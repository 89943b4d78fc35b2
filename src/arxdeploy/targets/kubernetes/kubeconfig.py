"""Where the cluster is and who we are: a kubeconfig (or several), or the pod's service account.

Read the way client-go reads them, so that arxdeploy reaches the cluster kubectl reaches:

- ``target.kubernetes.kubeconfig`` if set (that file alone); else every file of ``$KUBECONFIG``
  (``:``-separated, missing ones skipped), merged: the first file to name a cluster, user or
  context wins it, and the first ``current-context`` wins; else ``~/.kube/config``
  (client-go ``tools/clientcmd/loader.go``, ``ClientConfigLoadingRules.Load``);
- when no file exists, the pod's service account: ``KUBERNETES_SERVICE_HOST``/``_PORT``, the
  token file and ``ca.crt`` under ``/var/run/secrets/kubernetes.io/serviceaccount``
  (``rest.InClusterConfig``; ``DeferredLoadingClientConfig.ClientConfig`` falls back to it only
  when the kubeconfig is empty);
- relative paths (certificate files, token files, an exec ``command`` with a ``/``) are relative
  to the file that names them (``ResolveLocalPaths``, ``GetAuthInfoFileReferences``);
- a user's methods are checked as ``validateAuthInfo`` checks them: one of token and
  username/password, a certificate with its key, an exec plugin's ``apiVersion`` and
  ``interactiveMode`` (defaulted to ``IfAvailable`` for ``v1beta1`` only, ``api/v1/defaults.go``).

Nothing here talks to the cluster or runs a plugin: it reads files into plain data.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from arxdeploy.errors import TargetError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_EXTENSION = "client.authentication.k8s.io/exec"  # a cluster's extension passed to exec plugins
EXEC_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
_HINT = "fix the kubeconfig, or point target.kubernetes.kubeconfig (or KUBECONFIG) at another one"
# What replaced each auth provider client-go dropped in 1.26 (only oidc is left there, deprecated).
_PROVIDER_HINTS = {
    "gcp": "install gke-gcloud-auth-plugin and run `gcloud container clusters get-credentials` again",
    "azure": "convert the kubeconfig to an exec plugin: `kubelogin convert-kubeconfig -l azurecli`",
    "oidc": "use an exec plugin instead, e.g. int128/kubelogin: `kubectl oidc-login setup`",
}


@dataclass(frozen=True)
class ExecConfig:
    """``users[].user.exec``: a credential plugin (client-go ``api.ExecConfig``)."""

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold keys: never printed
    interactive_mode: str = "IfAvailable"
    provide_cluster_info: bool = False
    install_hint: str | None = None


@dataclass(frozen=True)
class User:
    """Who we are. ``repr`` shows which methods are set, never their values."""

    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    certificate: bytes | None = field(default=None, repr=False)  # PEM
    key: bytes | None = field(default=None, repr=False)  # PEM
    exec: ExecConfig | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Cluster:
    server: str
    ca: bytes | None = None  # PEM; None: the system's trust store
    insecure: bool = False  # insecure-skip-tls-verify
    server_name: str | None = None  # tls-server-name: the name the server's certificate must carry
    proxy_url: str | None = None
    exec_config: Any = None  # extensions[client.authentication.k8s.io/exec], passed to exec plugins


@dataclass(frozen=True)
class Found:
    """The cluster and user one context names, and where they were read."""

    cluster: Cluster
    user: User
    origin: str  # "context kind-arxdeploy in /home/ana/.kube/config", "the pod's service account"


def find(
    *,
    kubeconfig: Path | None,
    context: str | None,
    environ: Mapping[str, str],
    service_account: Path = SERVICE_ACCOUNT,
) -> Found:
    """The cluster and user to use, as kubectl would find them with ``--context context``."""
    if kubeconfig is not None:
        if not kubeconfig.is_file():
            raise TargetError(f"kubeconfig {kubeconfig} does not exist", hint="fix target.kubernetes.kubeconfig")
        files = [kubeconfig]
    else:
        listed = environ.get("KUBECONFIG", "")
        home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
        candidates = [Path(p).expanduser() for p in listed.split(os.pathsep) if p] or [home / ".kube" / "config"]
        files = [path for path in candidates if path.is_file()]
    if not files:
        if _in_cluster_possible(environ, service_account):
            if context:
                raise TargetError(
                    f"context {context!r} was asked for, but there is no kubeconfig: only the pod's service account",
                    hint="drop --context (and target.kubernetes.context) in a pod, or give it a kubeconfig",
                )
            return _in_cluster(environ, service_account)
        raise TargetError(
            "no kubeconfig found, and not running in a pod with a service account",
            hint="set target.kubernetes.kubeconfig or KUBECONFIG, or create ~/.kube/config",
        )
    return _select(_merge(files), context, files)


# --- kubeconfig files -------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    body: dict[str, Any]
    origin: Path  # the file it came from: relative paths in it are relative to its folder


@dataclass
class _Merged:
    clusters: dict[str, _Entry] = field(default_factory=dict)
    users: dict[str, _Entry] = field(default_factory=dict)
    contexts: dict[str, _Entry] = field(default_factory=dict)
    current: str | None = None


def _merge(files: list[Path]) -> _Merged:
    merged = _Merged()
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise TargetError(f"cannot read kubeconfig {path}: {exc}", hint=_HINT) from exc
        if not isinstance(data, dict):
            raise TargetError(f"kubeconfig {path} is not a kubeconfig (no mapping at the top)", hint=_HINT)
        for section, key, into in (
            ("clusters", "cluster", merged.clusters),
            ("users", "user", merged.users),
            ("contexts", "context", merged.contexts),
        ):
            for item in data.get(section) or []:
                if isinstance(item, dict) and item.get("name") and str(item["name"]) not in into:
                    into[str(item["name"])] = _Entry(dict(item.get(key) or {}), path)
        if merged.current is None and data.get("current-context"):
            merged.current = str(data["current-context"])
    return merged


def _select(merged: _Merged, context: str | None, files: list[Path]) -> Found:
    where = ", ".join(str(f) for f in files)
    name = context or merged.current
    if not name:
        raise TargetError(f"kubeconfig {where} has no current-context", hint="pass --context NAME")
    chosen = merged.contexts.get(name)
    if chosen is None:
        known = ", ".join(merged.contexts) or "none"
        raise TargetError(f"no context {name!r} in kubeconfig {where} (known: {known})", hint="pass --context NAME")
    cluster_name = str(chosen.body.get("cluster") or "")
    cluster = merged.clusters.get(cluster_name)
    if cluster is None:
        raise TargetError(f"context {name!r} names cluster {cluster_name!r}, which {where} lacks", hint=_HINT)
    user_name = chosen.body.get("user")
    user = User()
    if user_name:
        entry = merged.users.get(str(user_name))
        if entry is None:
            raise TargetError(f"context {name!r} names user {user_name!r}, which {where} lacks", hint=_HINT)
        user = _user(str(user_name), entry)
    return Found(cluster=_cluster(cluster_name, cluster), user=user, origin=f"context {name} in {cluster.origin}")


def _cluster(name: str, entry: _Entry) -> Cluster:
    body = entry.body
    server = str(body.get("server") or "").rstrip("/")
    if not server:
        raise TargetError(f"cluster {name!r} in {entry.origin} has no server", hint=_HINT)
    ca = _data_or_file(body, "certificate-authority", entry, f"cluster {name!r}")
    insecure = bool(body.get("insecure-skip-tls-verify"))
    if insecure and ca is not None:
        # client-go: "specifying a root certificates file with the insecure flag is not allowed"
        raise TargetError(f"cluster {name!r} in {entry.origin} has both a CA and insecure-skip-tls-verify", hint=_HINT)
    extensions = {str(e.get("name")): e.get("extension") for e in body.get("extensions") or [] if isinstance(e, dict)}
    return Cluster(
        server=server,
        ca=ca,
        insecure=insecure,
        server_name=str(body["tls-server-name"]) if body.get("tls-server-name") else None,
        proxy_url=str(body["proxy-url"]) if body.get("proxy-url") else None,
        exec_config=extensions.get(EXEC_EXTENSION),
    )


def _user(name: str, entry: _Entry) -> User:
    body = entry.body
    what = f"user {name!r} in {entry.origin}"
    provider = body.get("auth-provider")
    if provider:
        kind = str(provider.get("name", "")) if isinstance(provider, dict) else ""
        raise TargetError(
            f"{what} uses the auth provider {kind or '(unnamed)'!r}, which arxdeploy does not run",
            hint=_PROVIDER_HINTS.get(kind, "use an exec credential plugin instead (client-go dropped auth providers)"),
        )
    if body.get("as") or body.get("as-groups") or body.get("as-uid") or body.get("as-user-extra"):
        raise TargetError(f"{what} impersonates another user (as:), which arxdeploy does not do", hint=_HINT)
    token = str(body["token"]) if body.get("token") else None
    token_file = _path(body.get("tokenFile"), entry)
    if token_file is not None and not token_file.is_file():
        raise TargetError(f"{what}: its tokenFile {token_file} does not exist", hint=_HINT)
    username, password = body.get("username"), body.get("password")
    if (token or token_file) and (username or password):
        raise TargetError(f"{what} has both a token and a username/password: only one is allowed", hint=_HINT)
    certificate = _data_or_file(body, "client-certificate", entry, what)
    key = _data_or_file(body, "client-key", entry, what)
    if (certificate is None) != (key is None):
        missing = "client-key(-data)" if key is None else "client-certificate(-data)"
        raise TargetError(f"{what} has a client certificate without its key: {missing} is missing", hint=_HINT)
    return User(
        token=token,
        token_file=token_file,
        certificate=certificate,
        key=key,
        exec=_exec(body.get("exec"), entry, what),
        username=str(username) if username else None,
        password=str(password) if password else None,
    )


def _exec(body: Any, entry: _Entry, what: str) -> ExecConfig | None:
    if not body:
        return None
    if not isinstance(body, dict):
        raise TargetError(f"{what}: exec is not a mapping", hint=_HINT)
    version = str(body.get("apiVersion") or "")
    if version not in EXEC_VERSIONS:
        raise TargetError(
            f"{what}: exec plugin apiVersion {version or '(none)'!r} is not supported",
            hint=f"use {' or '.join(EXEC_VERSIONS)} (client-go removed v1alpha1)",
        )
    command = str(body.get("command") or "")
    if not command:
        raise TargetError(f"{what}: exec plugin has no command", hint=_HINT)
    if os.sep in command and not Path(command).is_absolute():
        command = str(entry.origin.parent / command)  # as client-go: only commands that are paths
    mode = body.get("interactiveMode") or ("IfAvailable" if version.endswith("/v1beta1") else None)
    if mode not in INTERACTIVE_MODES:
        raise TargetError(
            f"{what}: exec plugin interactiveMode {mode!r} is not one of {', '.join(INTERACTIVE_MODES)}"
            if mode
            else f"{what}: an exec plugin of {version} must say its interactiveMode",
            hint="add interactiveMode: Never (arxdeploy never gives a plugin a terminal)",
        )
    env = []
    for item in body.get("env") or []:
        if not isinstance(item, dict) or not item.get("name"):
            raise TargetError(f"{what}: an exec plugin env entry has no name", hint=_HINT)
        env.append((str(item["name"]), str(item.get("value") or "")))
    return ExecConfig(
        api_version=version,
        command=command,
        args=tuple(str(a) for a in body.get("args") or []),
        env=tuple(env),
        interactive_mode=str(mode),
        provide_cluster_info=bool(body.get("provideClusterInfo")),
        install_hint=str(body["installHint"]).strip() if body.get("installHint") else None,
    )


def _data_or_file(body: dict[str, Any], key: str, entry: _Entry, what: str) -> bytes | None:
    """``key-data`` (base64, wins as in client-go) or the file ``key`` names, as bytes."""
    data = body.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise TargetError(f"{what}: {key}-data is not base64", hint=_HINT) from exc
    path = _path(body.get(key), entry)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TargetError(f"{what}: cannot read {key} {path}: {exc.strerror}", hint=_HINT) from exc


def _path(value: Any, entry: _Entry) -> Path | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else entry.origin.parent / path


# --- in a pod ---------------------------------------------------------------------------


def _in_cluster_possible(environ: Mapping[str, str], folder: Path) -> bool:
    """client-go ``inClusterClientConfig.Possible``: both variables set and a token file there."""
    token = folder / "token"
    return bool(environ.get("KUBERNETES_SERVICE_HOST") and environ.get("KUBERNETES_SERVICE_PORT")) and token.is_file()


def _in_cluster(environ: Mapping[str, str], folder: Path) -> Found:
    host, port = environ["KUBERNETES_SERVICE_HOST"], environ["KUBERNETES_SERVICE_PORT"]
    try:
        ipaddress.IPv6Address(host)
        host = f"[{host}]"  # net.JoinHostPort
    except ValueError:
        pass
    try:
        ca: bytes | None = (folder / "ca.crt").read_bytes()
    except OSError:
        ca = None  # client-go logs it and goes on with the system's trust store
    return Found(
        cluster=Cluster(server=f"https://{host}:{port}", ca=ca),
        user=User(token_file=folder / "token"),  # read again as the kubelet rotates it
        origin="the pod's service account",
    )
