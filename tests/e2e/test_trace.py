"""PROXY_TRACE=1 shows every hop of a request, marked with its direction, secrets redacted."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import running_stack
from tests.support import RawClient


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """The proxy's trace of a login, then two images on one connection as curl would send
    them (the second's session answered from the verdict cache)."""
    with running_stack(tmp_path_factory.mktemp("trace"), proxy_env={"PROXY_TRACE": "1"}) as stack:
        cookie = stack.login()
        with RawClient(stack.port) as client:
            for _ in range(2):
                client.send(
                    b"GET /images/coast.jpg?password=hunter2 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"User-Agent: curl/8.5.0\r\nCookie: " + cookie.encode() + b"\r\n\r\n"
                )
                client.response()
        time.sleep(0.2)
        yield stack.proxy_log(), cookie, stack.password


def trace_blocks(log: str) -> list[str]:
    """The trace's blocks (the access log and start-up lines left out)."""
    found = []
    for block in log.split("\n\n"):
        lines = [line for line in block.strip().splitlines() if line.startswith(("[conn ", "    "))]
        if lines:
            found.append("\n".join(lines))
    return found


def blocks(log: str, number: int) -> dict[str, str]:
    """{hop: its lines} for request `number` on the images' connection."""
    conn = re.search(r"\[conn (\d+) #1\] client -> proxy\n    GET /images", log)
    assert conn is not None, log
    found = {}
    for block in trace_blocks(log):
        match = re.match(rf"\[conn {conn.group(1)} #{number}\] ([^\n]*)\n?(.*)", block, re.DOTALL)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_every_hop_in_order(trace):
    log, _, _ = trace
    hops = list(blocks(log, 1))
    assert hops == [
        "client -> proxy",
        "proxy -> auth /verify",
        "auth -> proxy /verify",
        "proxy -> content",
        "content -> proxy",
        "proxy -> client  (keep-alive budget left: 99)",
    ]


def test_the_client_request_as_sent(trace):
    request = blocks(trace[0], 1)["client -> proxy"]
    assert "GET /images/coast.jpg?password=<redacted> HTTP/1.1" in request
    assert "    Host: 127.0.0.1\n" in request  # the names as the client wrote them
    assert "    User-Agent: curl/8.5.0\n" in request


def test_the_request_to_the_upstream_has_the_forwarding_headers(trace):
    upstream = blocks(trace[0], 1)["proxy -> content"]
    assert "X-Forwarded-For: 127.0.0.1" in upstream
    assert "X-Forwarded-Proto: http" in upstream


def test_responses_carry_the_reason_phrase(trace):
    hops = blocks(trace[0], 1)
    assert hops["auth -> proxy /verify"].startswith("    HTTP/1.1 204 No Content")
    assert "x-auth-user: alice" in hops["auth -> proxy /verify"]
    assert hops["content -> proxy"].startswith("    HTTP/1.1 200 OK")
    assert hops["proxy -> client  (keep-alive budget left: 99)"].startswith("    HTTP/1.1 200 OK")


def test_cached_answers_are_said_so(trace):
    hops = list(blocks(trace[0], 2))
    assert hops == [
        "client -> proxy",
        "proxy -> auth /verify: not asked, answered from the verdict cache (alice)",
        "proxy: answered from the response cache",
        "proxy -> client  (keep-alive budget left: 98)",
    ]


def test_secrets_are_redacted(trace):
    log, cookie, password = trace
    log = "\n\n".join(trace_blocks(log))
    assert "Set-Cookie: session=<redacted>; Max-Age=30".lower() in log.lower()
    assert "Cookie: session=<redacted>" in log
    assert cookie.split("=", 1)[1] not in log
    assert password not in log
    assert "hunter2" not in log
