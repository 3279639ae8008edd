"""Slow and vanishing clients (issue 9): the send deadline measures progress, a trickled body
must keep a minimum rate, and the access log tells how each response ended."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import time

import pytest

from tests.e2e.conftest import SHIPPED_SITE, running_stack
from tests.e2e.scripted_upstream import ScriptedUpstream
from tests.support import RawClient, recv_until_closed

MIB = 1024 * 1024
# Short deadlines, so that every transfer below outlasts them several times over.
SHORT = {
    "PROXY_SEND_TIMEOUT": "0.5",
    "UPSTREAM_READ_TIMEOUT": "0.5",
    "PROXY_BODY_TIMEOUT": "1",
    "PROXY_BODY_MIN_RATE": "500",
}


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    with ScriptedUpstream() as upstream:
        tmp = tmp_path_factory.mktemp("slow")
        with running_stack(tmp, content_port=upstream.port, proxy_env=SHORT) as stack:
            yield stack


def small_window_socket(port: int) -> socket.socket:
    """A client whose kernel receive buffer is small, so the proxy's sending really waits
    for our reads instead of filling the kernel's buffers."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def read_head(sock: socket.socket) -> tuple[bytes, bytearray]:
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed before the response head"
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, bytearray(rest)


def read_at(sock: socket.socket, body: bytearray, size: int, rate: float) -> bytearray:
    """Read until `size` body bytes at a steady `rate` (bytes/s), like a slow link."""
    start = time.monotonic() - len(body) / rate
    while len(body) < size:
        chunk = sock.recv(min(16384, size - len(body)))
        if not chunk:
            break
        body += chunk
        ahead = len(body) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    return body


def log_line(stack, marker: str, timeout: float = 10.0) -> str:
    """The access-log line for the request whose target contains `marker` (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in stack.proxy_log().splitlines() if marker in line]
        if lines or time.monotonic() > deadline:
            assert lines, f"no access-log line for {marker}"
            return lines[-1]
        time.sleep(0.05)


def logged_bytes(line: str) -> int:
    match = re.search(r'" (\d{3}) (\d+) ', line)
    assert match, line
    return int(match.group(2))


def get(sock: socket.socket, target: str, cookie: str = "") -> None:
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())


def test_slow_steady_reader_gets_every_byte(slow):
    # 9 MiB in 6 s: twelve send timeouts and upstream read timeouts, and several times what
    # the proxy and the kernel buffer (the client's receive buffer is tiny; the proxy's
    # socket send buffer grows to at most 4 MB, net.ipv4.tcp_wmem). The upstream is paused
    # most of the time, waiting for this client: that is not silence.
    size = 9 * MIB
    with small_window_socket(slow.port) as sock:
        get(sock, f"/static/big?n={size}&steady")
        head, body = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200")
        body = read_at(sock, body, size, rate=1.5 * MIB)
    assert len(body) == size and body.count(b"z") == size
    line = log_line(slow, "steady")
    assert "aborted=" not in line and logged_bytes(line) == size


def test_client_that_stops_reading_is_cut_after_the_send_timeout(slow):
    size = 64 * MIB
    with small_window_socket(slow.port) as sock:
        get(sock, f"/static/big?n={size}&stalled")
        line = log_line(slow, "stalled")  # appears once the proxy gave up on us
        assert line.endswith("aborted=timeout")
        received = 0
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += len(chunk)
            raise ConnectionResetError("closed")  # a FIN instead of a reset: also cut
    assert received < size
    assert 0 < logged_bytes(line) < size


def test_client_leaving_mid_download_still_gets_its_log_line(slow):
    with small_window_socket(slow.port) as sock:
        get(sock, f"/static/big?n={64 * MIB}&leaving")
        read_head(sock)
        sock.recv(65536)
    line = log_line(slow, "leaving")
    assert line.endswith("aborted=client")
    assert logged_bytes(line) < 64 * MIB


def test_upstream_cut_mid_body_is_marked(slow):
    with RawClient(slow.port) as client:
        client.send(b"GET /static/truncate?cut HTTP/1.1\r\nHost: x\r\n\r\n")
        received = recv_until_closed(client.sock)
    assert received.partition(b"\r\n\r\n")[2] == b"x" * 1000
    line = log_line(slow, "truncate?cut")
    assert line.endswith("aborted=upstream") and logged_bytes(line) == 1000


def test_complete_response_is_logged_whole(slow):
    with RawClient(slow.port) as client:
        resp, body = client.request("GET", "/static/echo?whole")
    assert resp.status == 200
    line = log_line(slow, "echo?whole")
    assert "aborted" not in line and logged_bytes(line) == len(body)


def trickle(port: int, target: str, size: int, piece: int, pause: float) -> bytes:
    """POST a `size`-byte body in `piece`-byte writes `pause` seconds apart; return what the
    proxy answered (as soon as it answers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        sock.setblocking(False)
        answer = bytearray()
        for _ in range(0, size, piece):
            try:
                sock.sendall(b"a" * piece)
            except (BlockingIOError, ConnectionError):
                break
            time.sleep(pause)
            try:
                if chunk := sock.recv(65536):
                    answer += chunk
                    break
            except BlockingIOError:
                pass
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
        return bytes(answer)


def test_body_trickled_below_the_minimum_rate_is_408(slow):
    # 10 bytes/s never stalls for the 1 s body timeout, but is far below 500 bytes/s.
    answer = trickle(slow.port, "/static/echo?trickled", 10_000, piece=1, pause=0.1)
    assert answer.startswith(b"HTTP/1.1 408")
    assert "408" in log_line(slow, "echo?trickled")


def test_body_at_a_fair_rate_is_forwarded(slow):
    # 5,000 bytes/s for 1.2 s: past the body timeout, above the minimum rate.
    answer = trickle(slow.port, "/static/echo?fair", 6000, piece=1000, pause=0.2)
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.fixture(scope="module")
def fifty(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fifty")
    root = tmp / "site"
    shutil.copytree(SHIPPED_SITE, root)
    data = os.urandom(MIB) * 50
    (root / "images" / "fifty.jpg").write_bytes(data)
    with running_stack(tmp, content_root=root, proxy_env=SHORT) as stack:
        stack.sha = hashlib.sha256(data).hexdigest()
        yield stack


def test_fifty_megabytes_read_slowly_arrive_byte_exact(fifty):
    cookie = fifty.login()
    size = 50 * MIB  # at 25 MiB/s: 2 s, four times the send timeout
    with small_window_socket(fifty.port) as sock:
        get(sock, "/images/fifty.jpg", cookie)
        head, body = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200")
        body = read_at(sock, body, size, rate=25 * MIB)
    assert len(body) == size and hashlib.sha256(body).hexdigest() == fifty.sha


def test_shutdown_grace_over_is_marked(tmp_path):
    with ScriptedUpstream() as upstream:
        env = {"PROXY_SHUTDOWN_GRACE": "0.5"}
        with running_stack(tmp_path, content_port=upstream.port, proxy_env=env) as stack:
            with small_window_socket(stack.port) as sock:
                get(sock, f"/static/big?n={64 * MIB}&shutdown")
                read_head(sock)
                stack.proxy.proc.send_signal(signal.SIGTERM)
                assert stack.proxy.proc.wait(10) == 0
            line = log_line(stack, "shutdown")
    assert line.endswith("aborted=shutdown") and logged_bytes(line) < 64 * MIB
