"""The proxy's upstream side: headers it sends and strips, pooling, retries, faults."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.e2e.conftest import running_stack
from tests.e2e.scripted_upstream import ScriptedUpstream
from tests.support import RawClient, free_port


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    with ScriptedUpstream() as upstream:
        tmp = tmp_path_factory.mktemp("upstreams")
        env = {"UPSTREAM_READ_TIMEOUT": "1"}
        with running_stack(tmp, content_port=upstream.port, proxy_env=env) as stack:
            stack.upstream = upstream
            yield stack


def seen_headers(stack, path: str = "/static/echo", headers: dict | None = None) -> dict:
    with RawClient(stack.port) as client:
        resp, body = client.request("GET", path, headers)
    assert resp.status == 200, body
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def test_forwarding_headers_are_set(scripted):
    headers = seen_headers(scripted, headers={"Host": "example.test:10080"})
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "example.test:10080"
    assert headers["host"] == "example.test:10080"


def test_client_forwarding_and_identity_claims_are_replaced(scripted):
    headers = seen_headers(
        scripted,
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=6.6.6.6",
            "X-Auth-User": "admin",
        },
    )
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert "forwarded" not in headers
    assert "x-auth-user" not in headers  # public path, no session: no identity at all


def test_logged_in_identity_comes_from_the_session(scripted):
    cookie = scripted.login()
    headers = seen_headers(scripted, "/private/echo", {"Cookie": cookie, "X-Auth-User": "admin"})
    assert headers["x-auth-user"] == scripted.userid
    assert 0 < int(headers["x-auth-seconds-left"]) <= 30


def test_connection_header_cannot_strip_what_the_proxy_adds(scripted):
    headers = seen_headers(
        scripted, headers={"Connection": "X-Forwarded-For, X-Custom", "X-Custom": "1"}
    )
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "x-custom" not in headers  # listed in Connection: hop-by-hop, dropped


@pytest.mark.parametrize(
    "name", ["Keep-Alive", "TE", "Upgrade", "Proxy-Authorization", "Proxy-Connection"]
)
def test_hop_by_hop_request_headers_are_not_forwarded(scripted, name):
    assert name.lower() not in seen_headers(scripted, headers={name: "x"})


def test_hop_by_hop_response_headers_are_not_relayed(scripted):
    with RawClient(scripted.port) as client:
        resp, body = client.request("GET", "/static/hop-by-hop")
    assert body == b"ok"
    assert resp.getheader("X-Secret") is None
    assert resp.getheader("Keep-Alive") == "timeout=5, max=99"


def test_upstream_connections_are_pooled(scripted):
    before = scripted.upstream.connections
    with RawClient(scripted.port) as client:
        for _ in range(20):
            assert client.request("GET", "/static/echo")[0].status == 200
    assert scripted.upstream.connections - before <= 1


def test_stale_pooled_connection_is_retried_for_idempotent_requests(scripted):
    with RawClient(scripted.port) as client:
        assert client.request("GET", "/static/drop-next")[0].status == 200
        resp, _ = client.request("GET", "/static/echo")
        assert resp.status == 200


def test_stale_pooled_connection_is_not_retried_for_post(scripted):
    with RawClient(scripted.port) as client:
        assert client.request("GET", "/static/drop-next")[0].status == 200
        resp, body = client.request("POST", "/static/echo", {}, b"x=1")
        assert resp.status == 502
        assert b"<html" in body


def test_slow_upstream_is_504(scripted):
    with RawClient(scripted.port) as client:
        started = time.monotonic()
        resp, body = client.request("GET", "/static/slow?s=3")
        assert resp.status == 504 and b"taking too long" in body
        assert time.monotonic() - started < 2.5
        assert client.request("GET", "/static/echo")[0].status == 200


def test_malformed_upstream_response_is_502(scripted):
    with RawClient(scripted.port) as client:
        resp, _ = client.request("GET", "/static/malformed")
        assert resp.status == 502
        assert client.request("GET", "/static/echo")[0].status == 200


def test_upstream_closing_mid_body_aborts_the_client(scripted):
    with RawClient(scripted.port) as client:
        client.send(b"GET /static/truncate HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = None
        import http.client

        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            resp, _ = client.response()
        assert resp is None
    with RawClient(scripted.port) as client:
        assert client.request("GET", "/static/echo")[0].status == 200


def test_content_service_down_is_502_page(tmp_path):
    with running_stack(tmp_path, content_port=free_port()) as stack:
        with RawClient(stack.port) as client:
            resp, body = client.request("GET", "/")
            assert resp.status == 502
            assert b"<style>" in body and b"502" in body
            assert resp.getheader("Connection") == "keep-alive"
            resp, _ = client.request("GET", "/static/style.css")
            assert resp.status == 502


def test_auth_service_down_is_502_for_protected_pages(tmp_path):
    with running_stack(tmp_path) as stack:
        cookie = stack.login()
        stack.auth.stop()
        with RawClient(stack.port) as client:
            time.sleep(1.1)  # past the verdict cache
            resp, _ = client.request("GET", "/secret.html", {"Cookie": cookie})
            assert resp.status == 502
            resp, _ = client.request("GET", "/static/style.css")
            assert resp.status == 200


def test_upstream_that_never_accepts_is_504(tmp_path):
    # A listener that never accepts, its backlog already full: further SYNs are dropped, so
    # connecting hangs, which is what an unresponsive host looks like.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    env = {"UPSTREAM_CONNECT_TIMEOUT": "0.5"}
    try:
        with running_stack(tmp_path, content_port=port, proxy_env=env) as stack:
            with RawClient(stack.port) as client:
                started = time.monotonic()
                resp, body = client.request("GET", "/static/style.css")
                assert resp.status == 504 and b"in time" in body
                assert time.monotonic() - started < 3
    finally:
        for sock in [*fillers, listener]:
            sock.close()
