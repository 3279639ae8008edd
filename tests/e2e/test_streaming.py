"""Bodies through the proxy: a 50 MB file byte-exact with bounded memory, every framing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import SHIPPED_SITE, running_stack
from tests.e2e.scripted_upstream import ScriptedUpstream
from tests.support import RawClient

BIG = 50 * 1024 * 1024


def rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("big")
    root = tmp / "site"
    shutil.copytree(SHIPPED_SITE, root)
    data = os.urandom(1024 * 1024) * (BIG // (1024 * 1024))
    (root / "images" / "huge.jpg").write_bytes(data)
    with running_stack(tmp, content_root=root) as stack:
        stack.big_sha = hashlib.sha256(data).hexdigest()
        yield stack


def test_fifty_megabytes_pass_byte_exact_with_bounded_memory(big_stack):
    cookie = big_stack.login()
    before = rss_peak_kib(big_stack.proxy.proc.pid)
    with RawClient(big_stack.port, timeout=60) as client:
        resp, body = client.request("GET", "/images/huge.jpg", {"Cookie": cookie})
        assert resp.status == 200
        assert len(body) == BIG
        assert hashlib.sha256(body).hexdigest() == big_stack.big_sha
        # The connection is still good for another request afterwards.
        resp, _ = client.request("GET", "/static/style.css")
        assert resp.status == 200
    growth_mib = (rss_peak_kib(big_stack.proxy.proc.pid) - before) / 1024
    assert growth_mib < 32, f"proxy peak RSS grew {growth_mib:.1f} MiB for a 50 MB body"


def test_range_in_the_middle_of_the_big_file(big_stack):
    cookie = big_stack.login()
    with RawClient(big_stack.port) as client:
        resp, body = client.request(
            "GET", "/images/huge.jpg", {"Cookie": cookie, "Range": "bytes=30000000-30000099"}
        )
    assert resp.status == 206 and len(body) == 100
    assert resp.getheader("Content-Range") == f"bytes 30000000-30000099/{BIG}"


def test_head_of_the_big_file_has_length_but_no_body(big_stack):
    cookie = big_stack.login()
    with RawClient(big_stack.port) as client:
        client.send(
            b"HEAD /images/huge.jpg HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n" % cookie.encode()
        )
        resp, body = client.response("HEAD")
        assert resp.status == 200 and body == b""
        assert resp.getheader("Content-Length") == str(BIG)
        resp, _ = client.request("GET", "/static/style.css")  # the connection is still in sync
        assert resp.status == 200


def test_client_leaving_mid_download_leaks_nothing(big_stack):
    cookie = big_stack.login()
    pid = big_stack.proxy.proc.pid
    with RawClient(big_stack.port) as warm:
        warm.request("GET", "/static/style.css")
    fds_before = open_fds(pid)
    for _ in range(3):
        client = RawClient(big_stack.port)
        client.send(
            b"GET /images/huge.jpg HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n" % cookie.encode()
        )
        client.sock.recv(65536)
        client.close()
    with RawClient(big_stack.port) as client:
        resp, _ = client.request("GET", "/static/style.css")
        assert resp.status == 200
    import time

    deadline = time.monotonic() + 5
    while open_fds(pid) > fds_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_fds(pid) <= fds_before


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    with ScriptedUpstream() as upstream:
        tmp = tmp_path_factory.mktemp("scripted")
        with running_stack(tmp, content_port=upstream.port) as stack:
            stack.upstream = upstream
            yield stack


def echo(resp_body: bytes) -> dict:
    return json.loads(resp_body)


def test_content_length_request_body_is_relayed(scripted):
    body = os.urandom(300_000)
    with RawClient(scripted.port) as client:
        resp, answer = client.request("POST", "/static/echo", {}, body)
    assert resp.status == 200
    assert echo(answer)["body_sha"] == hashlib.sha256(body).hexdigest()


def test_chunked_request_body_is_relayed(scripted):
    parts = [os.urandom(n) for n in (1, 5000, 70000, 3)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    with RawClient(scripted.port) as client:
        client.send(
            b"POST /static/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
        )
        resp, answer = client.response()
    assert resp.status == 200
    assert echo(answer)["body_sha"] == hashlib.sha256(b"".join(parts)).hexdigest()


def test_chunked_response_is_relayed(scripted):
    with RawClient(scripted.port) as client:
        resp, body = client.request("GET", "/static/chunked")
        assert resp.status == 200 and body == b"hello chunked world"
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert client.request("GET", "/static/echo")[0].status == 200


def test_close_delimited_response_is_rechunked_for_http11(scripted):
    with RawClient(scripted.port) as client:
        resp, body = client.request("GET", "/static/close-delimited")
        assert body == b"until the end"
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.getheader("Connection") == "keep-alive"
        assert client.request("GET", "/static/echo")[0].status == 200


def test_close_delimited_response_closes_an_http10_client(scripted):
    with RawClient(scripted.port) as client:
        client.send(b"GET /static/close-delimited HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp, body = client.response()
        assert body == b"until the end"
        assert resp.getheader("Connection") == "close"
        assert client.is_closed()


@pytest.mark.parametrize(
    "path,status", [("/static/no-content", 204), ("/static/not-modified", 304)]
)
def test_bodiless_statuses_keep_both_connections_usable(scripted, path, status):
    with RawClient(scripted.port) as client:
        resp, body = client.request("GET", path)
        assert resp.status == status and body == b""
        assert client.request("GET", "/static/echo")[0].status == 200


def test_head_with_content_length_keeps_connections_usable(scripted):
    with RawClient(scripted.port) as client:
        for _ in range(3):
            client.send(b"HEAD /static/echo HTTP/1.1\r\nHost: x\r\n\r\n")
            resp, body = client.response("HEAD")
            assert resp.status == 200 and body == b""
            assert int(resp.getheader("Content-Length")) > 0
        assert client.request("GET", "/static/echo")[0].status == 200
