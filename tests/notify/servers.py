"""Real servers on 127.0.0.1 for the notification tests: an HTTP receiver, SMTP servers, a wire tap."""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from arxdeploy.testing.kube import tls
from tests.support import free_port

# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads: nothing outlives a test

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left: writing the late answer fails, as it should


class Receiver:
    """An HTTP server that records each POST and answers from a script, then with ``default``.

    ``delay`` holds every answer that long (or until the receiver stops), to play a server that hangs.
    """

    def __init__(
        self,
        script: list[tuple[int, bytes]] | None = None,
        *,
        default: tuple[int, bytes] = (200, b"ok"),
        delay: float = 0.0,
    ) -> None:
        self.requests: list[Request] = []
        self._script = list(script or [])
        self._default = default
        self._delay = delay
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = receiver._record(Request(self.path, dict(self.headers.items()), body))
                if receiver._delay:
                    receiver._release.wait(receiver._delay)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _record(self, request: Request) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(request)
            return self._script.pop(0) if self._script else self._default

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# --- TLS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA (``ca_file``) and a server certificate for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path) -> Certificates:
    """The same throwaway CA and server certificate the Kubernetes emulator serves, as files."""
    made = tls.generate()
    certs = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    certs.ca_file.write_bytes(made.ca_pem)
    certs.cert_file.write_bytes(made.cert_pem)
    certs.key_file.write_bytes(made.key_pem)
    return certs


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What an SMTP server received and who tried to log in, with whether TLS was on at the time."""

    messages: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, bool, bool]] = field(default_factory=list)  # (user, over TLS, accepted)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = cast(bytes, envelope.original_content or envelope.content)
        self.messages.append((envelope, message_from_bytes(content, policy=policy.default)))
        return "250 OK"


class Authenticator:
    """aiosmtpd's authenticator callback: one user, one password; records each attempt."""

    def __init__(self, mailbox: Mailbox, user: str, password: str) -> None:
        self._mailbox, self._user, self._password = mailbox, user, password

    def __call__(self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        accepted = user == self._user and password == self._password
        # The transport, not session.ssl: aiosmtpd only fills that in after STARTTLS, not on implicit TLS.
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        self._mailbox.logins.append((user, over_tls, accepted))
        return AuthResult(success=accepted, handled=False)  # handled=False: aiosmtpd answers 535 itself


@contextmanager
def smtp_server(mailbox: Mailbox, **options: Any) -> Iterator[int]:
    """An aiosmtpd server on 127.0.0.1; yields its port. ``options`` go to aiosmtpd's SMTP."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# --- a wire tap ------------------------------------------------------------------------------


class Tap:
    """A TCP relay in front of a server that records every byte the client sent, as the wire saw it."""

    def __init__(self, upstream_port: int) -> None:
        self.sent = bytearray()
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> Tap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            peers: dict[socket.socket, socket.socket] = {}
            try:
                while not self._stop.is_set():
                    for key, _ in selector.select(timeout=0.05):
                        sock = cast(socket.socket, key.fileobj)
                        if sock is self._listener:
                            client, _ = sock.accept()
                            upstream = socket.create_connection(("127.0.0.1", self._upstream))
                            peers[client], peers[upstream] = upstream, client
                            selector.register(client, selectors.EVENT_READ, "client")
                            selector.register(upstream, selectors.EVENT_READ, "upstream")
                            continue
                        if sock not in peers:
                            continue  # closed earlier in this round, with its peer
                        other = peers[sock]
                        try:
                            data = sock.recv(65536)
                            if key.data == "client":
                                self.sent += data
                            if data:
                                other.sendall(data)
                                continue
                        except OSError:
                            pass  # a reset is a close, as far as the tap is concerned
                        for end in (sock, other):
                            selector.unregister(end)
                            peers.pop(end)
                            end.close()
            finally:
                for sock in peers:
                    sock.close()
