"""A stalled download holds at most one chunk in the process (issue 9, item 5).

What the service handed to the server for a download (its response-bytes counter)
minus what the kernel holds for it (the server socket's send queue and the client's
unread receive queue) is what waits inside the process. It must stay within one
chunk; before the fix it was up to two 256 KiB chunks plus uvloop's 64 KiB mark.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from content_service.stream import CHUNK
from tests.content_service.conftest import BIG_SIZE, TOKEN, fetch
from tests.support import Service

pytestmark = pytest.mark.timeout(60)


def handed_over(svc: Service) -> tuple[float, int]:
    """The response-bytes counter, and the length of this scrape's own body."""
    body = fetch(svc.port, "/metrics").body
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "gatehouse_content_response_bytes_total":
                return sample.value, len(body)
    raise AssertionError("no gatehouse_content_response_bytes_total")


def send_queue(local_port: int, remote_port: int) -> int:
    """Bytes in the kernel's send queue of one IPv4 loopback connection (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if local.endswith(f":{local_port:04X}") and remote.endswith(f":{remote_port:04X}"):
            return int(fields[4].split(":")[0], 16)
    raise AssertionError("connection not found in /proc/net/tcp")


def unread(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]


def test_stalled_download_holds_at_most_one_chunk(guarded: Service) -> None:
    start, scraped = handed_over(guarded)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # stall early
        sock.connect(("127.0.0.1", guarded.port))
        sock.sendall(
            f"GET /big.bin HTTP/1.1\r\nHost: x\r\nX-Gatehouse-Token: {TOKEN}\r\n\r\n".encode()
        )
        # Wait until the service stops handing over bytes: the download has stalled.
        seen: list[float] = []
        deadline = time.monotonic() + 20
        while len(seen) < 3 or len(set(seen[-3:])) > 1:
            assert time.monotonic() < deadline, "the download never stalled"
            time.sleep(0.2)
            total, body = handed_over(guarded)
            seen.append(total - start - scraped)
            scraped += body
        handed = seen[-1]
        in_kernel = unread(sock) + send_queue(guarded.port, sock.getsockname()[1])
        assert 0 < handed < BIG_SIZE, (handed, in_kernel)  # stalled before the end
        # The kernel counts the response head too; the counter only counts the body.
        held = handed - in_kernel
        assert -1024 < held <= CHUNK, (handed, in_kernel)
