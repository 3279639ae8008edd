"""Persistent connections (RFC 9112 §9.3): the countdown, idle close, close requests, pipelining."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import running_stack
from tests.support import RawClient

PAGE = "/static/style.css"


def test_hundred_requests_count_down_then_close(stack):
    with RawClient(stack.port) as client:
        for n in range(1, 100):
            resp, _ = client.request("GET", PAGE)
            assert resp.status == 200
            assert resp.getheader("Connection") == "keep-alive", n
            assert resp.getheader("Keep-Alive") == f"timeout=5, max={100 - n}", n
        resp, _ = client.request("GET", PAGE)
        assert resp.status == 200
        assert resp.getheader("Connection") == "close"
        assert resp.getheader("Keep-Alive") is None
        assert client.is_closed()


def test_client_connection_close_is_honoured(stack):
    with RawClient(stack.port) as client:
        resp, _ = client.request("GET", PAGE, {"Connection": "close"})
        assert resp.status == 200
        assert resp.getheader("Connection") == "close"
        assert client.is_closed()


def test_http10_without_keep_alive_closes(stack):
    with RawClient(stack.port) as client:
        client.send(f"GET {PAGE} HTTP/1.0\r\n\r\n".encode())
        resp, body = client.response()
        assert resp.status == 200 and body
        assert resp.getheader("Connection") == "close"
        assert client.is_closed()


def test_http10_with_keep_alive_stays_open(stack):
    with RawClient(stack.port) as client:
        for n in (1, 2):
            client.send(f"GET {PAGE} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
            resp, _ = client.response()
            assert resp.status == 200
            assert resp.getheader("Keep-Alive") == f"timeout=5, max={100 - n}"


def test_pipelined_requests_are_answered_in_order(stack):
    paths = ["/", PAGE, "/favicon.ico", "/secret.html", PAGE]
    with RawClient(stack.port) as client:
        client.send(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths))
        answers = [client.response() for _ in paths]
    types = [resp.getheader("Content-Type").split(";")[0] for resp, _ in answers]
    assert types == ["text/html", "text/css", "image/x-icon", "text/html", "text/css"]
    assert [resp.status for resp, _ in answers] == [200, 200, 200, 403, 200]
    assert [resp.getheader("Keep-Alive") for resp, _ in answers] == [
        f"timeout=5, max={100 - n}" for n in range(1, 6)
    ]


def test_access_log_shows_connection_reuse(stack):
    with RawClient(stack.port) as client:
        for _ in range(3):
            client.request("GET", PAGE + "?log-probe")
    time.sleep(0.2)
    lines = [line for line in stack.proxy_log().splitlines() if "log-probe" in line]
    ids = {re.search(r"conn=(\d+)", line).group(1) for line in lines}
    numbers = [int(re.search(r"req=(\d+)", line).group(1)) for line in lines]
    assert len(ids) == 1 and numbers == [1, 2, 3]
    assert re.search(r'"GET /static/style.css\?log-probe HTTP/1.1" 200 \d+ [\d.]+ms', lines[0])


def test_idle_connection_is_closed_after_the_keep_alive_timeout(tmp_path):
    with running_stack(tmp_path, proxy_env={"KEEPALIVE_TIMEOUT": "1"}) as stack:
        with RawClient(stack.port) as client:
            resp, _ = client.request("GET", PAGE)
            assert resp.getheader("Keep-Alive") == "timeout=1, max=99"
            assert not client.is_closed(timeout=0.3)
            resp, _ = client.request("GET", PAGE)  # still usable: activity restarts the timer
            assert resp.status == 200
            assert client.is_closed(timeout=3)


@pytest.mark.slow
def test_default_idle_timeout_is_five_seconds(stack):
    with RawClient(stack.port) as client:
        client.request("GET", PAGE)
        started = time.monotonic()
        assert client.is_closed(timeout=8)
        assert time.monotonic() - started > 4  # not before its announced timeout=5
