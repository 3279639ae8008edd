"""The proxy's HTTP/1.1 edge against a real socket: refusals, limits, slow clients,
Expect, connection limits, graceful shutdown."""

from __future__ import annotations

import hashlib
import select
import shutil
import signal
import socket
import threading
import time
import urllib.parse

import pytest

from tests.e2e.conftest import SHIPPED_SITE, running_stack
from tests.e2e.scripted_upstream import ScriptedUpstream
from tests.support import RawClient

H = b"Host: x\r\n"


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    env = {
        "PROXY_HEADER_TIMEOUT": "1",
        "PROXY_BODY_TIMEOUT": "1",
        "PROXY_MAX_BODY_BYTES": "100000",
        "PROXY_MAX_REQUEST_LINE": "1000",
        "PROXY_MAX_HEADER_BYTES": "2000",
        "PROXY_MAX_HEADER_COUNT": "20",
    }
    with ScriptedUpstream() as upstream:
        tmp = tmp_path_factory.mktemp("edge")
        with running_stack(tmp, content_port=upstream.port, proxy_env=env) as stack:
            stack.upstream = upstream
            yield stack


def refused(stack, raw: bytes) -> tuple[int, str | None, bool]:
    with RawClient(stack.port) as client:
        client.send(raw)
        resp, _ = client.response()
        return resp.status, resp.getheader("Connection"), client.is_closed()


CASES = {
    # ambiguous framing (RFC 9112 §6.3)
    "cl-and-te": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "two-cl": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "cl-list": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab", 400),
    "cl-plus": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab", 400),
    "cl-hex": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\nab", 400),
    "cl-inner-space": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nab", 400),
    "cl-overflow": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        400,
    ),
    "cl-empty": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400),
    "te-chunked-identity": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        400,
    ),
    "te-xchunked": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    "te-twice": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "te-gzip-chunked": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    "te-http10": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "chunk-size-junk": (
        b"POST /static/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    "chunk-size-bare-lf": (
        b"POST /static/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        400,
    ),
    "chunk-missing-crlf": (
        b"POST /static/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
        400,
    ),
    "chunk-ext-ctl": (
        b"POST /static/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    # request line and header syntax (RFC 9112 §2-5)
    "bare-cr": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
    "nul": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
    "space-before-colon": (b"GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n", 400),
    "empty-name": (b"GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", 400),
    "bad-name-token": (b"GET / HTTP/1.1\r\nHost: x\r\nX(y): a\r\n\r\n", 400),
    "missing-colon": (b"GET / HTTP/1.1\r\nHost: x\r\nXyz\r\n\r\n", 400),
    "bad-method": (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "no-host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two-hosts": (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    "http2-line": (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "http12": (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 400),
    "http09": (b"GET /\r\n\r\n", 400),
    "bare-lf": (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    "absolute-form": (b"GET http://evil.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "connect": (b"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n", 501),
    "expect-other": (b"GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417),
    # sizes
    "long-request-line": (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "big-header-section": (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 3000 + b"\r\n\r\n", 431),
    "too-many-fields": (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: a\r\n" * 25 + b"\r\n", 431),
    "cl-over-limit": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n", 413),
}


@pytest.mark.parametrize("raw,status", CASES.values(), ids=CASES.keys())
def test_bad_requests_are_refused_and_closed(edge, raw, status):
    got_status, connection, closed = refused(edge, raw)
    assert (got_status, connection, closed) == (status, "close", True)


def test_refused_request_is_never_forwarded(edge):
    before = len(edge.upstream.requests)
    refused(edge, CASES["cl-and-te"][0])
    refused(edge, CASES["te-chunked-identity"][0])
    assert len(edge.upstream.requests) == before


def test_smuggled_request_after_bad_framing_is_not_parsed(edge):
    smuggle = b"GET /static/echo?smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = (
        b"POST /static/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(smuggle))
    ) + smuggle
    refused(edge, raw)
    assert not any("smuggled" in path for _, path, _ in edge.upstream.requests)


def test_chunked_body_over_the_limit_is_413_as_it_streams(edge):
    with RawClient(edge.port) as client:
        client.send(b"POST /static/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(30):  # 30 x 5000 bytes > 100000
            client.send(b"1388\r\n" + b"a" * 5000 + b"\r\n")
        resp, _ = client.response()
        assert resp.status == 413 and resp.getheader("Connection") == "close"


def test_a_refused_upload_is_read_and_dropped_so_the_413_arrives(edge):
    # RFC 9112 §9.6: closing at once would answer the rest of the upload with a reset, which
    # can destroy the 413 before the client reads it; the proxy closes its side and drops
    # what still comes instead.
    with RawClient(edge.port) as client:
        client.send(b"POST /static/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
        for _ in range(40):  # 2 MB: more than the kernels' buffers hold
            client.send(b"a" * 50000)
        resp, _ = client.response()
        assert resp.status == 413 and resp.getheader("Connection") == "close"
        assert client.is_closed()


def test_trickled_header_section_times_out_with_408(edge):
    with RawClient(edge.port) as client:
        started = time.monotonic()
        client.send(b"GET / HTTP/1.1\r\n")
        for _ in range(20):  # the deadline is not reset by each trickled field
            client.send(b"X: y\r\n")  # (after the 408, dropped: the close lingers)
            if select.select([client.sock], [], [], 0.2)[0]:
                break
        resp, body = client.response()
        assert resp.status == 408 and b"header section" in body
        assert time.monotonic() - started < 3


def test_stalled_body_times_out_with_408(edge):
    with RawClient(edge.port) as client:
        client.send(b"POST /static/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        resp, _ = client.response()
        assert resp.status == 408 and resp.getheader("Connection") == "close"
        assert client.is_closed()


def test_pipelined_requests_stay_in_order_when_the_first_is_slow(edge):
    with RawClient(edge.port) as client:
        client.send(
            b"GET /static/slow?s=0.5 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /static/echo?second HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        _first, body1 = client.response()
        _second, body2 = client.response()
    assert body1 == b"slow but sure"
    assert b"second" in body2


def test_upgrade_is_ignored_and_the_request_served(edge):
    with RawClient(edge.port) as client:
        resp, _ = client.request(
            "GET", "/static/echo", {"Connection": "Upgrade", "Upgrade": "websocket"}
        )
        assert resp.status == 200
        assert client.request("GET", "/static/echo")[0].status == 200


# Expect: 100-continue (RFC 9110 §10.1.1) ------------------------------------------------


def test_expect_continue_is_answered_then_the_body_forwarded(edge):
    body = b"userid=alice&passwd=x"
    with RawClient(edge.port) as client:
        client.send(
            b"POST /static/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert client.interim() == b"HTTP/1.1 100 Continue"
        client.send(body)
        resp, answer = client.response()
        assert resp.status == 200
        assert hashlib.sha256(body).hexdigest().encode() in answer
        assert b"expect" not in answer.lower()


def test_expect_continue_refused_without_reading_the_body(edge):
    with RawClient(edge.port) as client:
        client.send(
            b"POST /secret.html HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 50\r\n\r\n"
        )
        resp, _ = client.response()
        assert resp.status == 403 and resp.getheader("Connection") == "close"
        assert client.is_closed()


def test_expect_continue_too_large_is_413(edge):
    with RawClient(edge.port) as client:
        client.send(
            b"POST /static/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 999999999\r\n\r\n"
        )
        resp, _ = client.response()
        assert resp.status == 413
        assert client.is_closed()


# Connection limit and shutdown --------------------------------------------------------------


def test_sigterm_lets_a_large_download_finish(tmp_path):
    root = tmp_path / "site"
    shutil.copytree(SHIPPED_SITE, root)
    data = b"g" * (40 * 1024 * 1024)
    (root / "images" / "big.jpg").write_bytes(data)
    with running_stack(tmp_path, content_root=root) as stack:
        cookie = stack.login()
        received = bytearray()
        sock = socket.create_connection(("127.0.0.1", stack.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(
            b"GET /images/big.jpg HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n" % cookie.encode()
        )
        received += sock.recv(65536)

        def read_slowly() -> None:
            while chunk := sock.recv(1 << 20):
                received.extend(chunk)
                time.sleep(0.001)

        reader = threading.Thread(target=read_slowly)
        reader.start()
        stack.proxy.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", stack.port), timeout=1).close()
        reader.join(30)
        assert stack.proxy.proc.wait(15) == 0
        _, _, body = bytes(received).partition(b"\r\n\r\n")
        assert len(body) == len(data) and body == data  # whole, and then the proxy closed


def test_sigterm_closes_idle_connections_and_exits_0(tmp_path):
    with running_stack(tmp_path) as stack:
        client = RawClient(stack.port)
        client.request("GET", "/static/style.css")
        stack.proxy.proc.send_signal(signal.SIGTERM)
        assert client.is_closed(timeout=3)
        assert stack.proxy.proc.wait(5) == 0
        client.close()


def test_login_form_post_with_expect_continue(edge):
    form = urllib.parse.urlencode({"userid": edge.userid, "passwd": edge.password}).encode()
    with RawClient(edge.port) as client:
        client.send(
            b"POST /login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
            % len(form)
        )
        assert client.interim() == b"HTTP/1.1 100 Continue"
        client.send(form)
        assert client.response()[0].status == 303
