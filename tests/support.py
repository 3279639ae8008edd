"""Helpers shared by the tests: free ports, real service processes, raw sockets."""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Service:
    """A real service started as `python -m <module>` in its own process group."""

    def __init__(
        self,
        module: str,
        port: int,
        env: Mapping[str, str],
        log: Path,
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        self.module, self.port, self.log = module, port, log
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        if module == "proxy":
            # Its admin listener, off the default port so that tests can run side by side.
            full_env.setdefault("PROXY_ADMIN_PORT", str(free_port()))
            self.admin_port = int(full_env["PROXY_ADMIN_PORT"])
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO,
            env=full_env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,  # e.g. lower a resource limit for the child only
        )
        try:
            wait_for_port(port, self.proc)
        except Exception:
            self.stop()
            raise

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def service(module: str, port: int, env: Mapping[str, str], log: Path) -> Iterator[Service]:
    svc = Service(module, port, env, log)
    try:
        yield svc
    finally:
        svc.stop()


def recv_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read everything the peer sends until it closes (or `timeout` passes)."""
    sock.settimeout(timeout)
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


class RawClient:
    """A client on one raw socket: send any bytes, read responses strictly in order.

    Responses are parsed by http.client from one shared buffered reader, so pipelined
    responses that arrive in a single segment are not lost between reads.
    """

    def __init__(self, port: int, timeout: float = 10.0, tls: ssl.SSLContext | None = None) -> None:
        """With `tls`, the socket speaks TLS (the certificate must name 127.0.0.1)."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self._file = self.sock.makefile("rb")

    def makefile(self, *args: object, **kwargs: object) -> object:
        return _Unclosable(self._file)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self, method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
        resp = http.client.HTTPResponse(self, method=method)  # type: ignore[arg-type]
        resp.begin()
        return resp, resp.read()

    def interim(self) -> bytes:
        """Read a 1xx interim response (http.client skips them); return its status line."""
        status = self._file.readline().rstrip(b"\r\n")
        while self._file.readline() not in (b"\r\n", b""):
            pass
        return status

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> tuple[http.client.HTTPResponse, bytes]:
        fields = {"Host": "127.0.0.1", **(headers or {})}
        if body:
            fields.setdefault("Content-Length", str(len(body)))
        head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        self.send(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
        return self.response(method)

    def is_closed(self, timeout: float = 2.0) -> bool:
        """True if the server closed the connection (EOF or reset) within `timeout`."""
        if isinstance(self.sock, ssl.SSLSocket):
            # TLS sockets cannot peek; nothing more is expected, so read: b"" is the end.
            self.sock.settimeout(timeout)
            try:
                return self._file.read1(1) == b""
            except TimeoutError:
                return False
            except (ConnectionResetError, ssl.SSLError):
                return True
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if not readable:
            return False
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self._file.close()
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Unclosable:
    """The shared reader, as seen by one HTTPResponse: closing the response keeps it open."""

    def __init__(self, file: object) -> None:
        self._file = file

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)

    def close(self) -> None:
        pass
