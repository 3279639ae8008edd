"""A full connection table (issue 9): the longest-idle keep-alive connection makes room, an
optional cap per client address, and a connection limit that fits the descriptors; whoever
is over a limit gets the 503 page, never a silent close."""

from __future__ import annotations

import resource
import select
import socket
import time

from tests.e2e.conftest import running_stack
from tests.support import RawClient, recv_until_closed

STYLE = "/static/style.css"


def busy(port: int) -> RawClient:
    """A connection in the middle of sending a request head: not idle, not reclaimable."""
    client = RawClient(port)
    client.send(f"GET {STYLE} HTTP/1.1\r\n".encode())
    return client


def finish(client: RawClient) -> int:
    client.send(b"Host: x\r\n\r\n")
    return client.response()[0].status


def refused(client: RawClient) -> bool:
    resp, _ = client.response()
    return resp.status == 503 and bool(resp.getheader("Retry-After")) and client.is_closed()


def test_full_table_closes_the_longest_idle_connection_for_a_newcomer(tmp_path):
    with running_stack(tmp_path, proxy_env={"PROXY_MAX_CONNECTIONS": "3"}) as stack:
        idle = [RawClient(stack.port) for _ in range(3)]
        for client in idle:
            assert client.request("GET", STYLE)[0].status == 200
        with RawClient(stack.port) as newcomer:
            assert newcomer.request("GET", STYLE)[0].status == 200
        assert idle[0].is_closed()
        assert idle[2].request("GET", STYLE)[0].status == 200
        for client in idle:
            client.close()


def test_full_table_without_idle_connections_answers_503(tmp_path):
    with running_stack(tmp_path, proxy_env={"PROXY_MAX_CONNECTIONS": "3"}) as stack:
        # Fresh connections, their requests perhaps not read yet: not idle keep-alive ones.
        held = [busy(stack.port) for _ in range(3)]
        with RawClient(stack.port) as extra:
            assert refused(extra)
        assert [finish(client) for client in held] == [200, 200, 200]
        for client in held:
            client.close()


def get_from(port: int, source_ip: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5, source_address=(source_ip, 0)) as s:
        s.sendall(f"GET {STYLE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return recv_until_closed(s)


def test_per_address_cap_refuses_only_that_address(tmp_path):
    env = {"PROXY_MAX_CONNECTIONS_PER_IP": "2"}
    with running_stack(tmp_path, proxy_env=env) as stack:
        held = [RawClient(stack.port) for _ in range(2)]
        for client in held:
            assert client.request("GET", STYLE)[0].status == 200
        with RawClient(stack.port) as third:
            assert refused(third)
        assert get_from(stack.port, "127.0.0.2").startswith(b"HTTP/1.1 200")
        held.pop().close()
        time.sleep(0.2)
        assert get_from(stack.port, "127.0.0.1").startswith(b"HTTP/1.1 200")
        held[0].close()


def few_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_connection_limit_fits_the_descriptor_limit(tmp_path):
    """64 descriptors cannot hold the default 10,000 connections: the proxy lowers its limit
    and says so, and every connection over it gets the 503 page."""
    env = {"UPSTREAM_POOL_MAX_IDLE": "2", "PROXY_HEADER_TIMEOUT": "60"}
    with running_stack(tmp_path, proxy_env=env, proxy_preexec=few_descriptors) as stack:
        # The port is bound (and accepts) before the proxy has set itself up: wait for the line.
        deadline = time.monotonic() + 10
        while "PROXY_MAX_CONNECTIONS lowered" not in stack.proxy_log():
            assert time.monotonic() < deadline, stack.proxy_log()
            time.sleep(0.05)
        assert "PROXY_MAX_CONNECTIONS lowered from 10000" in stack.proxy_log()
        clients = [busy(stack.port) for _ in range(60)]
        answered, held = [], []
        for client in clients:
            if select.select([client.sock], [], [], 0.5)[0]:
                answered.append(client.response()[0].status)
            else:
                held.append(client)
        assert held and answered and set(answered) == {503}
        assert len(held) + len(answered) == 60  # no silent close
        assert finish(held[0]) == 200
        for client in clients:
            client.close()
