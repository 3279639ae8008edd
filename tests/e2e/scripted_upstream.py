"""A real HTTP upstream (stdlib http.server in a thread) that misbehaves on request.

The proxy's upstream-facing behaviour (pooling, retries, timeouts, broken responses) is
tested against it; each path is one behaviour.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedUpstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers.items())))
        if getattr(self, "drop_next", False):
            # A keep-alive connection the upstream gives up on just as a request arrives:
            # it closes without answering (the race pools must survive).
            self.close_connection = True
            return
        name = url.path.rsplit("/", 1)[-1].replace("-", "_")
        handler = getattr(self, "path_" + name, self.path_echo)
        handler(query)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    # behaviours -------------------------------------------------------------------------

    def path_echo(self, query: dict[str, str]) -> None:
        body = self._read_body()
        payload = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_length": len(body),
            "body_sha": hashlib.sha256(body).hexdigest(),
        }
        self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def path_healthz(self, query: dict[str, str]) -> None:
        self._send(200 if self.server.healthy else 503, b"ok" if self.server.healthy else b"sick")

    def path_drop_next(self, query: dict[str, str]) -> None:
        self._send(200, b"the next request on this connection will be dropped")
        self.drop_next = True

    def path_slow(self, query: dict[str, str]) -> None:
        time.sleep(float(query.get("s", "2")))
        self._send(200, b"slow but sure")

    def path_malformed(self, query: dict[str, str]) -> None:
        self.wfile.write(b"HTTP/1.1 two hundred OK\r\n\r\n")
        self.close_connection = True

    def path_truncate(self, query: dict[str, str]) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        self.wfile.flush()
        self.close_connection = True

    def path_chunked(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b"hello ", b"chunked ", b"world"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def path_close_delimited(self, query: dict[str, str]) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        self.close_connection = True

    def path_hop_by_hop(self, query: dict[str, str]) -> None:
        self._send(
            200,
            b"ok",
            {"Connection": "X-Secret, keep-alive", "X-Secret": "1", "Keep-Alive": "timeout=99"},
        )

    def path_no_content(self, query: dict[str, str]) -> None:
        self.send_response(204)
        self.end_headers()

    def path_not_modified(self, query: dict[str, str]) -> None:
        self.send_response(304)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def path_big(self, query: dict[str, str]) -> None:
        size = int(query.get("n", str(8 * 1024 * 1024)))
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        block = b"z" * 65536
        sent = 0
        try:
            while sent < size:
                piece = block[: size - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            with self.server.lock:
                self.server.aborted += 1
            self.close_connection = True


class ScriptedUpstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.connections = 0
        self.aborted = 0
        self.healthy = True  # what GET /healthz answers: 200, or 503 when False
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the proxy hanging up on a misbehaving upstream is the point of these tests

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> ScriptedUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
