"""A real OCI registry on this machine, with authentication on, for the image digest gate's tests.

``oci_registry()`` starts Debian's ``docker-registry`` (the reference implementation of the
distribution API) on a loopback port of its own, its storage in a temporary folder, with basic
auth from an htpasswd file (bcrypt, the only hash it takes) or, with ``token=True``, with the
token flow of https://distribution.github.io/distribution/spec/auth/token/: a small token server
here signs JWTs (RS256, the signing certificate in the ``x5c`` header) that the registry checks
against that certificate. ``push`` builds a one-layer image as an OCI layout (a tar, a config and
a manifest written here) and copies it with ``skopeo``; different ``content`` gives another
digest, so a test moves a tag by pushing again. ``MissingTool`` when either program is missing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import secrets
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from arxdeploy.testing.objectstores import MissingTool, _free_port, _server, _wait, tool

USER = "ci"
SERVICE = "arx-registry"
ISSUER = "arx-token-server"
PUSH_TIMEOUT = 120.0  # seconds; skopeo is quick, the machine may be busy


@dataclass
class RegistryServer:
    host: str  # 127.0.0.1:PORT
    password: str
    root: Path
    token_realm: str | None = None  # set when the registry uses the token flow

    def image(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"

    def docker_config(self, *, password: str | None = None) -> dict[str, Any]:
        """A docker config's JSON with this registry's login (or another password)."""
        auth = base64.b64encode(f"{USER}:{password or self.password}".encode()).decode()
        return {"auths": {self.host: {"auth": auth}}}

    def push(self, repository: str, tag: str, *, content: bytes) -> str:
        """Push a one-layer image holding ``content`` as ``repository:tag``; its manifest's digest."""
        skopeo = tool("skopeo")
        if skopeo is None:
            raise MissingTool("no `skopeo`: apt-get install skopeo")
        with tempfile.TemporaryDirectory(prefix="arx-oci-", dir=self.root) as folder:
            layout = Path(folder)
            digest = write_layout(layout, tag, content)
            done = subprocess.run(
                [
                    str(skopeo), "--insecure-policy", "copy", "--quiet", f"oci:{layout}:{tag}",
                    f"docker://{self.image(repository, tag)}", "--dest-tls-verify=false", "--preserve-digests",
                    "--dest-creds", f"{USER}:{self.password}",
                ],
                capture_output=True, text=True, timeout=PUSH_TIMEOUT, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"skopeo copy failed: {done.stderr[-2000:]}")
        return digest


def write_layout(folder: Path, tag: str, content: bytes) -> str:
    """An OCI image layout with one image tagged ``tag`` whose one layer holds ``content``; the manifest's digest."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes, media_type: str) -> dict[str, Any]:
        hexdigest = hashlib.sha256(data).hexdigest()
        (blobs / hexdigest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{hexdigest}", "size": len(data)}

    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("app/content")
        info.size, info.mtime = len(content), 0
        archive.addfile(info, io.BytesIO(content))
    layer = blob(tar.getvalue(), "application/vnd.oci.image.layer.v1.tar")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    }
    config_blob = blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_blob,
        "layers": [layer],
    }
    described = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    index = {
        "schemaVersion": 2,
        "manifests": [{**described, "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return str(described["digest"])


@contextlib.contextmanager
def oci_registry(*, token: bool = False) -> Iterator[RegistryServer]:
    """``docker-registry`` on loopback with one user (``USER``, a random password), basic auth or tokens."""
    binary = tool("docker-registry")
    if binary is None:
        raise MissingTool("no `docker-registry`: apt-get install docker-registry")
    import bcrypt

    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="arx-registry-") as folder, contextlib.ExitStack() as stack:
        root = Path(folder)
        port = _free_port()
        host = f"127.0.0.1:{port}"
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info"},
            "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
            "http": {"addr": host, "secret": secrets.token_hex(16)},
        }
        realm = None
        if token:
            issuer = stack.enter_context(_token_server(password))
            realm = issuer.realm
            (root / "token.crt").write_bytes(issuer.certificate_pem)
            config["auth"] = {
                "token": {
                    "realm": realm, "service": SERVICE, "issuer": ISSUER,
                    "rootcertbundle": str(root / "token.crt"),
                }
            }  # fmt: skip
        else:
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
            (root / "htpasswd").write_text(f"{USER}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": "arx", "path": str(root / "htpasswd")}}
        (root / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        log = root / "registry.log"
        with _server([str(binary), "serve", str(root / "config.yml")], log, None) as process:
            server = RegistryServer(host=host, password=password, root=root, token_realm=realm)
            _wait(process, log, lambda: _answers(host), "docker-registry")
            yield server


def _answers(host: str) -> None:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"http://{host}/v2/", timeout=2).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 401:  # up, and asking for credentials
            raise


# --- a token server of the registry token spec ---------------------------------------------------


@dataclass
class _Issuer:
    realm: str
    certificate_pem: bytes


@contextlib.contextmanager
def _token_server(password: str) -> Iterator[_Issuer]:
    """Issues a pull-and-push token to ``USER`` with ``password`` (basic auth on the token request)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    expected = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def sign(scope: str | None) -> str:
        access = []
        if scope:
            kind, repository, actions = scope.split(":", 2)
            access.append({"type": kind, "name": repository, "actions": actions.split(",")})
        issued = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        claims = {
            "iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": issued + 300, "nbf": issued - 10,
            "iat": issued, "jti": secrets.token_hex(8), "access": access,
        }  # fmt: skip
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.end_headers()
                return
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            scope = query["scope"][0] if query.get("scope") else None
            body = json.dumps({"token": sign(scope)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Issuer(
            realm=f"http://127.0.0.1:{server.server_address[1]}/token",
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        )
    finally:
        server.shutdown()
        server.server_close()
