"""Trace mode without sockets: redaction, the client's heads as sent, and the hops."""

import asyncio
import io

import pytest

from proxy import trace
from proxy.http1 import Framing, ResponseHead
from proxy.trace import Tracer, redact, redact_head, redact_target


@pytest.mark.parametrize(
    "name,value,expected",
    [
        (b"Cookie", b"session=abc.def; theme=dark", b"session=<redacted>; theme=<redacted>"),
        (
            b"Set-Cookie",
            b"session=abc.def; Max-Age=30; Path=/; HttpOnly",
            b"session=<redacted>; Max-Age=30; Path=/; HttpOnly",
        ),
        (b"Authorization", b"Basic dXNlcjpwYXNz", b"<redacted>"),
        (b"X-Gatehouse-Token", b"s3cret", b"<redacted>"),
        (b"Host", b"example.test", b"example.test"),
    ],
    ids=["cookie", "set-cookie", "authorization", "internal-token", "host-untouched"],
)
def test_redact(name, value, expected):
    assert redact(name, value) == expected


def test_password_in_query_is_redacted():
    assert redact_target(b"/login?userid=a&passwd=hunter2") == b"/login?userid=a&passwd=<redacted>"


def test_redact_head():
    head = b"POST /login?passwd=x HTTP/1.1\r\nHost: a\r\nCookie: session=v\r\n\r\n"
    assert redact_head(head) == [
        "POST /login?passwd=<redacted> HTTP/1.1",
        "Host: a",
        "Cookie: session=<redacted>",
    ]


def test_client_heads_are_shown_as_sent_even_split_and_pipelined():
    out = io.StringIO()
    tracer = Tracer(out)
    raw = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-MiXeD: 1\r\n\r\nhello"
        b"GET /b HTTP/1.0\r\nHOST: x\r\n\r\n"
    )
    for i in range(0, len(raw), 7):
        tracer.client_bytes(7, raw[i : i + 7])
    assert out.getvalue() == (
        "[conn 7 #1] client -> proxy\n"
        "    POST /a HTTP/1.1\n    Host: x\n    Content-Length: 5\n    X-MiXeD: 1\n\n"
        "[conn 7 #2] client -> proxy\n"
        "    GET /b HTTP/1.0\n    HOST: x\n\n"
    )


def test_garbage_stops_the_client_trace_quietly():
    out = io.StringIO()
    tracer = Tracer(out)
    tracer.client_bytes(1, b"\x00\x01 nonsense\r\n\r\n")
    tracer.client_bytes(1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.getvalue() == ""


def test_response_to_the_client_with_reason_and_budget():
    out = io.StringIO()
    Tracer(out).response(7, 2, b"HTTP/1.1 200 OK\r\nSet-Cookie: session=new; Path=/\r\n\r\n", 98)
    assert out.getvalue() == (
        "[conn 7 #2] proxy -> client  (keep-alive budget left: 98)\n"
        "    HTTP/1.1 200 OK\n    Set-Cookie: session=<redacted>; Path=/\n\n"
    )


def test_upstream_hops_are_traced_under_the_request_being_served():
    out = io.StringIO()
    tracer = Tracer(out)
    response = ResponseHead(204, [(b"x-auth-user", b"demo")], True, Framing.NONE)

    async def serve() -> None:
        tracer.serving(3, 1)
        trace.verify_request(b"GET /verify HTTP/1.1\r\nCookie: session=v\r\n\r\n")
        trace.verify_response(response)
        trace.verify_cached(b"demo")
        trace.upstream_request("content", b"GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n")
        trace.upstream_response("content", response)

    asyncio.run(serve())
    trace.upstream_request("content", b"GET / HTTP/1.1\r\n\r\n")  # not serving: no trace
    assert out.getvalue().split("\n\n")[:-1] == [
        "[conn 3 #1] proxy -> auth /verify\n"
        "    GET /verify HTTP/1.1\n    Cookie: session=<redacted>",
        "[conn 3 #1] auth -> proxy /verify\n    HTTP/1.1 204 No Content\n    x-auth-user: demo",
        "[conn 3 #1] proxy -> auth /verify: not asked, answered from the verdict cache (demo)",
        "[conn 3 #1] proxy -> content\n    GET / HTTP/1.1\n    X-Forwarded-For: 1.2.3.4",
        "[conn 3 #1] content -> proxy\n    HTTP/1.1 204 No Content\n    x-auth-user: demo",
    ]


def test_a_closed_connections_parser_is_dropped():
    tracer = Tracer(io.StringIO())
    tracer.client_bytes(3, b"GET / HT")
    tracer.client_closed(3)
    tracer.client_closed(3)  # once more: nothing left
    assert tracer._clients == {}
