"""A real HTTP auth double (stdlib http.server in a thread) speaking the contract's /verify and
/logout, so the proxy's side of sessions is tested before and apart from the auth service.

Sessions are cookie values `<user>.<anything>`; a revoked value or user is refused with
`X-Auth-Reason: revoked`, the value `expired` with `expired`, anything else with `invalid`.
"""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedAuth

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._record()
        if self.path != "/verify":
            self._send(200, {"X-Auth-User": "leaked"}, b"auth page")
            return
        values = self._session_values()
        if not values:
            self._send(401, {"X-Auth-Reason": "missing"})
            return
        reason = self.server.refusal(values[0])
        if reason:
            self._send(401, {"X-Auth-Reason": reason})
        else:
            self._send(204, {"X-Auth-User": values[0].split(".")[0], "X-Auth-Seconds-Left": "60"})

    def do_POST(self) -> None:
        self._record()
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        headers = {"Location": "/", "Set-Cookie": f"{self.server.cookie_name}=; Max-Age=0"}
        values = self._session_values()
        if self.path == "/logout" and values:
            with self.server.lock:
                self.server.revoked_values.add(values[0])
                if form.get("everywhere") == "1":
                    user = values[0].split(".")[0]
                    self.server.revoked_users.add(user)
                    headers["X-Auth-Revoked-User"] = user
        self._send(303, headers)

    def _record(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers.items())))

    def _session_values(self) -> list[str]:
        name = self.server.cookie_name
        pairs = [p.strip().partition("=") for p in self.headers.get("Cookie", "").split(";")]
        return [value for key, _, value in pairs if key == name]

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ScriptedAuth(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cookie_name: str = "session") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cookie_name = cookie_name
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.revoked_values: set[str] = set()
        self.revoked_users: set[str] = set()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def refusal(self, value: str) -> str | None:
        with self.lock:
            if value in self.revoked_values or value.split(".")[0] in self.revoked_users:
                return "revoked"
        if value == "expired":
            return "expired"
        return None if "." in value else "invalid"

    def verifications(self) -> list[dict[str, str]]:
        with self.lock:
            return [headers for method, path, headers in self.requests if path == "/verify"]

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> ScriptedAuth:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
