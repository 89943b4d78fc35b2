"""An upstream for router tests: answers every request with what it received, as JSON.

``/big?bytes=N`` answers N bytes with chunked transfer encoding (to test streaming);
``/close-delimited`` answers without a length and ends the answer by closing the connection;
``/cut`` announces 1000 bytes, sends 10 and closes; after ``/drop-next`` the next request on the
same connection is read and dropped unanswered (as a server whose keep-alive timed out does).
HEAD answers carry the headers of the GET answer. A version with ``crash`` in its name
(``ARXDEPLOY_VERSION``) exits with status 1 as soon as it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    drop_next = False

    def handle_one(self) -> None:
        if self.drop_next:
            self.close_connection = True
            return None
        if self.path.startswith("/big"):
            return self.big(int(self.path.partition("bytes=")[2] or "0"))
        if self.path == "/close-delimited":
            return self.close_delimited()
        if self.path == "/cut":
            return self.cut()
        self.drop_next = self.path == "/drop-next"
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.read_chunked()
        else:
            body = self.rfile.read(length)
        answer = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_length": len(body),
                "body_start": body[:64].decode("latin-1"),
                "replica": os.environ.get("ARXDEPLOY_REPLICA"),
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Set-Cookie", "session=from-upstream")
        self.send_header("X-Upstream", "echo")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)
        return None

    def close_delimited(self) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"until the end of the connection\n" * 1000)
        self.close_connection = True

    def cut(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.close_connection = True

    def big(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        while size > 0:
            part = chunk[: min(size, len(chunk))]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            size -= len(part)
        self.wfile.write(b"0\r\n\r\n")

    def read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self.rfile.readline().strip(), 16)
            if size == 0:
                self.rfile.readline()
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_one

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    if "crash" in os.environ.get("ARXDEPLOY_VERSION", ""):
        print("crashing on purpose", file=sys.stderr)
        sys.exit(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    server = ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Echo)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
