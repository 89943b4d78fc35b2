"""Credential sources: what goes into the ``Authorization`` header (and, from a plugin, a certificate).

One source per connection, asked before every request to the API server, the API calls' and the
health checks' alike (``access.py``). A ``Grant`` is what one request carries; after a 401 the
source is told which grant was refused, and says whether a fresh one is worth one more try:

- ``Fixed``: a static token, a username/password, or nothing (client certificates, anonymous);
  a refused one is final.
- ``TokenFile``: a token file (``tokenFile``, the pod's service account), read again every
  minute and after a 401, as the kubelet rotates it (client-go ``transport/token_source.go``,
  ``NewCachedFileTokenSource``: period one minute, leeway 10 s; a failed re-read keeps the old).
- ``ExecPlugin``: a credential plugin (``aws eks get-token``, ``kubelogin``, ``gke-gcloud-auth-plugin``),
  run the way client-go runs it (``plugin/pkg/client/auth/exec/exec.go``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from arxdeploy.errors import TargetError, TransientTargetError
from arxdeploy.targets.kubernetes.kubeconfig import Cluster, ExecConfig

Clock = Callable[[], datetime]
PLUGINS_DOC = "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins"
PLUGIN_TIMEOUT = timedelta(minutes=5)  # long enough for a device-code login someone completes in a browser
READER_GRACE = 5.0  # seconds to wait for a finished plugin's output to be read
STDERR_KEPT = 1000  # characters of a failed plugin's stderr put in the error
TOKEN_FILE_PERIOD = timedelta(seconds=50)  # client-go: re-read every minute, 10 s before it is due
EXPIRY_MARGIN = timedelta(seconds=10)  # a token this close to its expirationTimestamp is renewed first


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, eq=False)
class Grant:
    """What one request carries. Compared by identity: a source knows whether it was renewed since."""

    authorization: str | None = field(default=None, repr=False)  # the Authorization header's value
    certificate: tuple[bytes, bytes] | None = field(default=None, repr=False)  # from a plugin: PEM cert, key
    expires: datetime | None = None


class Credential(Protocol):
    """Thread-safe: the API calls and every health check thread ask the same source."""

    def grant(self) -> Grant:
        """What to send now; renews first what has expired (may run a plugin: raises ``TargetError``)."""
        ...

    def refused(self, grant: Grant) -> Grant | None:
        """The server answered 401 to ``grant``: a newer grant to try once more, or None."""
        ...


class Fixed:
    """Always the same header (or none): a static token, basic auth, a certificate alone."""

    def __init__(self, authorization: str | None = None) -> None:
        self._grant = Grant(authorization)

    @classmethod
    def bearer(cls, token: str) -> Fixed:
        return cls(f"Bearer {token}")

    @classmethod
    def basic(cls, username: str, password: str) -> Fixed:
        return cls("Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii"))

    def grant(self) -> Grant:
        return self._grant

    def refused(self, grant: Grant) -> Grant | None:
        return None


class TokenFile:
    """A bearer token read from a file, again once it is ``TOKEN_FILE_PERIOD`` old and after a 401."""

    def __init__(self, path: Path, *, now: Clock = _now) -> None:
        self.path = path
        self._now = now
        self._lock = threading.Lock()
        self._grant: Grant | None = None
        self._read_at: datetime | None = None

    def grant(self) -> Grant:
        with self._lock:
            now = self._now()
            if self._grant is None or self._read_at is None or now - self._read_at >= TOKEN_FILE_PERIOD:
                self._read(now)
            assert self._grant is not None
            return self._grant

    def refused(self, grant: Grant) -> Grant | None:
        with self._lock:
            if grant is self._grant:
                self._read(self._now())
            fresh = self._grant
        return fresh if fresh is not None and fresh.authorization != grant.authorization else None

    def _read(self, now: datetime) -> None:
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            if self._grant is not None:
                return  # keep the token we have (client-go: "Unable to rotate token")
            raise TargetError(f"cannot read the token file {self.path}: {exc}", hint="fix the kubeconfig") from exc
        if not token:
            if self._grant is not None:
                return
            raise TargetError(f"the token file {self.path} is empty", hint="fix the kubeconfig")
        if self._grant is None or self._grant.authorization != f"Bearer {token}":
            self._grant = Grant(f"Bearer {token}")
        self._read_at = now


class ExecPlugin:
    """A client-go credential plugin, run as client-go runs it.

    - Its input: our environment, the kubeconfig's ``env``, and ``KUBERNETES_EXEC_INFO``: an
      ``ExecCredential`` of its ``apiVersion`` with ``spec.interactive: false`` (arxdeploy never
      gives a plugin a terminal: ``interactiveMode: Always`` is refused) and, with
      ``provideClusterInfo``, ``spec.cluster`` (server, CA, TLS name, proxy, the cluster's exec
      extension). Plugins such as ``aws eks get-token`` and kubelogin answer in the version that
      variable names, and in ``v1beta1`` without it.
    - Its output: an ``ExecCredential`` of the same ``apiVersion`` with ``status.token`` and/or
      ``status.clientCertificateData`` + ``clientKeyData``, and maybe ``expirationTimestamp``;
      checked with client-go's messages.
    - It runs again when the credential is ``EXPIRY_MARGIN`` (at most a quarter of its lifetime)
      from its expiry, and after a 401 to the credential it gave last; one run at a time, and a
      thread that waited for a run uses its result.
    - Its stderr is passed on as it comes (a device-code login prints there), and the end of it
      goes into the error when it fails, with its exit status. A missing command shows the
      kubeconfig's ``installHint``.
    """

    def __init__(
        self,
        config: ExecConfig,
        *,
        cluster: Cluster,
        environ: Mapping[str, str],
        now: Clock = _now,
        stderr: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self._cluster = cluster
        self._environ = dict(environ)
        self._now = now
        self._stderr = stderr or _to_stderr
        self._lock = threading.Lock()
        self._grant: Grant | None = None
        self._renew_at: datetime | None = None
        self.runs = 0  # how many times the plugin ran: for figures and tests

    @property
    def name(self) -> str:
        return Path(self.config.command).name

    def grant(self) -> Grant:
        with self._lock:
            if self._grant is None or (self._renew_at is not None and self._now() >= self._renew_at):
                self._run()
            assert self._grant is not None
            return self._grant

    def refused(self, grant: Grant) -> Grant | None:
        with self._lock:
            if grant is self._grant:
                self._run()
            return self._grant if self._grant is not grant else None

    # --- one run ---------------------------------------------------------------------------

    def _run(self) -> None:
        """Run the plugin (holding the lock) and keep what it gave."""
        config = self.config
        if config.interactive_mode == "Always":
            raise TargetError(
                f"the exec credential plugin {self.name} needs a terminal (interactiveMode: Always), "
                "and arxdeploy runs plugins without one",
                hint="log in with the plugin first so it has a cached login, or set interactiveMode: IfAvailable",
            )
        path = self._resolve()
        env = {**self._environ, **dict(config.env), "KUBERNETES_EXEC_INFO": json.dumps(self._exec_info())}
        started = self._now()
        self.runs += 1
        stdout, stderr, code = self._spawn(path, env)
        if code != 0:
            tail = _tail(stderr)
            raise TransientTargetError(
                f"the exec credential plugin {self.name} failed with exit status {code}"
                + (f": {tail}" if tail else " and printed nothing on stderr"),
                hint=f"run {config.command} as the kubeconfig says to see why (an expired login, a missing profile)",
            )
        grant = self._parse(stdout)
        self._grant = grant
        self._renew_at = None
        if grant.expires is not None:
            margin = min(EXPIRY_MARGIN, max(grant.expires - started, timedelta(0)) / 4)
            self._renew_at = grant.expires - margin

    def _resolve(self) -> str:
        """The command as ``exec.Command`` finds it: a path as is, a name on our ``PATH``."""
        command = self.config.command
        found = command if os.sep in command else shutil.which(command, path=self._environ.get("PATH", os.defpath))
        if found and os.access(found, os.X_OK) and not Path(found).is_dir():
            return found
        hint = self.config.install_hint or f"install {command}, or fix users[].user.exec.command in the kubeconfig"
        raise TargetError(
            f"the exec credential plugin {command} was not found: the kubeconfig's user needs it to get a token "
            f"(see {PLUGINS_DOC})",
            hint=hint,
        )

    def _exec_info(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"interactive": False}
        if self.config.provide_cluster_info:
            cluster = self._cluster
            info: dict[str, Any] = {"server": cluster.server}
            if cluster.server_name:
                info["tls-server-name"] = cluster.server_name
            if cluster.insecure:
                info["insecure-skip-tls-verify"] = True
            if cluster.ca is not None:
                info["certificate-authority-data"] = base64.b64encode(cluster.ca).decode("ascii")
            if cluster.proxy_url:
                info["proxy-url"] = cluster.proxy_url
            if cluster.exec_config is not None:
                info["config"] = cluster.exec_config
            spec["cluster"] = info
        return {"apiVersion": self.config.api_version, "kind": "ExecCredential", "spec": spec}

    def _spawn(self, path: str, env: dict[str, str]) -> tuple[bytes, str, int]:
        """Run it without a terminal; pass its stderr on line by line; stop it (and its children) at the limit."""
        try:
            process = subprocess.Popen(
                [path, *self.config.args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: a timeout stops what it started too
            )
        except OSError as exc:
            raise TargetError(
                f"the exec credential plugin {self.config.command} could not be started: {exc.strerror}",
                hint=self.config.install_hint or "check the command in users[].user.exec of the kubeconfig",
            ) from exc
        assert process.stdout is not None and process.stderr is not None
        out, errors = process.stdout, process.stderr
        chunks: list[bytes] = []
        lines: list[str] = []

        def read() -> None:
            chunks.append(out.read())

        def relay() -> None:
            for raw in iter(errors.readline, b""):
                line = raw.decode("utf-8", "replace")
                lines.append(line)
                self._stderr(line)

        readers = [threading.Thread(target=job, name="arxdeploy-exec-io", daemon=True) for job in (read, relay)]
        for reader in readers:
            reader.start()
        try:
            process.wait(timeout=PLUGIN_TIMEOUT.total_seconds())
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise TransientTargetError(
                f"the exec credential plugin {self.name} did not finish within {PLUGIN_TIMEOUT.total_seconds():g}s",
                hint="run it by hand: it may be waiting for a login",
            ) from None
        finally:
            for reader in readers:
                reader.join(timeout=READER_GRACE)  # a child it left behind may hold the pipes open
            out.close()
            errors.close()
        return b"".join(chunks), "".join(lines), process.returncode

    def _parse(self, stdout: bytes) -> Grant:
        """The ``ExecCredential`` on stdout, checked as client-go checks it. Its content (a token)
        never goes into a message."""
        wanted = self.config.api_version
        what = f"the exec credential plugin {self.name}"
        try:
            answer = json.loads(stdout)
        except ValueError:
            raise TargetError(f"{what} did not print an ExecCredential (its output is not JSON)") from None
        if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
            raise TargetError(f"{what} did not print an ExecCredential (kind {_kind(answer)!r})")
        if answer.get("apiVersion") != wanted:
            raise TargetError(
                f"{what} is configured to use API version {wanted}, plugin returned version "
                f"{answer.get('apiVersion')!r}",
                hint="set users[].user.exec.apiVersion to the version the plugin speaks",
            )
        status = answer.get("status")
        if not isinstance(status, dict):
            raise TargetError(f"{what} didn't return a status field")
        token = status.get("token") or None
        cert, key = status.get("clientCertificateData") or None, status.get("clientKeyData") or None
        if token is None and cert is None and key is None:
            raise TargetError(f"{what} didn't return a token or cert/key pair")
        if (cert is None) != (key is None):
            raise TargetError(f"{what} returned only certificate or key, not both")
        expires = None
        if status.get("expirationTimestamp"):
            try:
                expires = datetime.fromisoformat(str(status["expirationTimestamp"]))
            except ValueError:
                raise TargetError(f"{what} returned an expirationTimestamp that is not RFC 3339") from None
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        return Grant(
            authorization=f"Bearer {token}" if token else None,
            certificate=(str(cert).encode(), str(key).encode()) if cert and key else None,
            expires=expires,
        )


def _kind(answer: object) -> object:
    return answer.get("kind") if isinstance(answer, dict) else type(answer).__name__


def _tail(stderr: str) -> str:
    text = " ".join(stderr.split())
    return text if len(text) <= STDERR_KEPT else "… " + text[-STDERR_KEPT:]


def _to_stderr(line: str) -> None:
    sys.stderr.write(line)
    sys.stderr.flush()
