"""The proxy's shared cache: responses are reused, and only ever after the access check."""

from __future__ import annotations

import re
import time

from tests.e2e.conftest import running_stack
from tests.support import RawClient


def cache_log(stack, marker: str) -> list[str]:
    time.sleep(0.2)
    return re.findall(rf'"GET [^"]*{marker}[^"]*" \d+ .* cache=(\S+)', stack.proxy_log())


def test_public_file_is_served_from_the_cache(stack):
    with RawClient(stack.port) as client:
        first, body1 = client.request("GET", "/static/style.css?probe-a")
        second, body2 = client.request("GET", "/static/style.css?probe-a")
    assert first.status == second.status == 200 and body1 == body2
    assert second.getheader("Age") is not None
    assert cache_log(stack, "probe-a") == ["miss", "hit"]


def test_if_none_match_is_answered_from_the_cache(stack):
    cookie = stack.login()
    with RawClient(stack.port) as client:
        resp, _ = client.request("GET", "/images/coast.jpg?probe-f", {"Cookie": cookie})
        etag, modified = resp.getheader("ETag"), resp.getheader("Last-Modified")
        resp, body = client.request(
            "GET", "/images/coast.jpg?probe-f", {"Cookie": cookie, "If-None-Match": etag}
        )
        assert resp.status == 304 and body == b""
        assert resp.getheader("ETag") == etag and resp.getheader("Last-Modified") == modified
        assert resp.getheader("Cache-Control") == "private, no-cache"
        assert resp.getheader("Content-Type") is None
        resp, body = client.request(
            "GET", "/images/coast.jpg?probe-f", {"Cookie": cookie, "If-None-Match": '"other"'}
        )
        assert resp.status == 200 and body.startswith(b"\xff\xd8")
        resp, _ = client.request("GET", "/images/coast.jpg?probe-f", {"If-None-Match": etag})
        assert resp.status == 403  # the access check comes first, even for a 304
    assert cache_log(stack, "probe-f") == ["miss", "hit", "hit", "-"]


def test_a_stale_entry_is_revalidated_and_a_changed_file_replaces_it(tmp_path):
    with running_stack(tmp_path, content_env={"CONTENT_MAX_AGE": "1"}) as stack:
        cookie = {"Cookie": stack.login()}
        with RawClient(stack.port) as client:
            resp, body = client.request("GET", "/images/coast.jpg", cookie)
            etag = resp.getheader("ETag")
            time.sleep(1.1)
            resp, empty = client.request(
                "GET", "/images/coast.jpg", {**cookie, "If-None-Match": etag}
            )
            assert resp.status == 304 and empty == b""
            assert client.request("GET", "/images/coast.jpg", cookie)[1] == body
            time.sleep(1.1)
            (stack.content_root / "images" / "coast.jpg").write_bytes(b"\xff\xd8 new")
            resp, new = client.request(
                "GET", "/images/coast.jpg", {**cookie, "If-None-Match": etag}
            )
            assert resp.status == 200 and new == b"\xff\xd8 new"
        # "revalidated": the upstream answered the proxy's own If-None-Match with 304.
        assert cache_log(stack, "coast") == ["miss", "revalidated", "hit", "miss"]


def test_dates_and_ranges_go_to_the_upstream(stack):
    with RawClient(stack.port) as client:
        resp, _ = client.request("GET", "/static/logo.svg?probe-b")
        modified = resp.getheader("Last-Modified")
        resp, _ = client.request("GET", "/static/logo.svg?probe-b", {"If-Modified-Since": modified})
        assert resp.status == 304
        resp, body = client.request("GET", "/static/logo.svg?probe-b", {"Range": "bytes=0-9"})
        assert resp.status == 206 and len(body) == 10
    assert cache_log(stack, "probe-b") == ["miss", "-", "-"]


def test_the_login_page_is_cached_but_never_shown_instead_of_the_secret_page(stack):
    with RawClient(stack.port) as client:
        client.request("GET", "/?probe-c")
        resp, body = client.request("GET", "/?probe-c")
        assert b'action="/login"' in body
        cookie = stack.login()
        resp, body = client.request("GET", "/?probe-c", {"Cookie": cookie})
        assert b'action="/login"' not in body and b"/images/" in body
        assert resp.getheader("Cache-Control") == "private, no-cache"
    # The logged-in request is keyed by what the upstream is asked for: the secret page.
    assert cache_log(stack, "probe-c") == ["miss", "hit", "miss"]


def test_protected_responses_are_cached_behind_the_access_check(stack):
    cookie = stack.login()
    tampered = cookie[:-5] + ("A" if cookie[-5] != "A" else "B") + cookie[-4:]
    with RawClient(stack.port) as client:
        for _ in range(2):
            resp, _ = client.request("GET", "/images/coast.jpg?probe-d", {"Cookie": cookie})
            assert resp.status == 200
            # Reused by the proxy, which checks the session first, but never by the browser
            # without revalidating, nor by any cache downstream.
            assert resp.getheader("Cache-Control") == "private, no-cache"
        assert resp.getheader("Age") is not None
        for refused in ({}, {"Cookie": tampered}):
            resp, body = client.request("GET", "/images/coast.jpg?probe-d", refused)
            assert resp.status == 403 and b"JFIF" not in body
    assert cache_log(stack, "probe-d") == ["miss", "hit", "-", "-"]


def test_head_is_answered_from_a_cached_get(stack):
    with RawClient(stack.port) as client:
        _, body = client.request("GET", "/favicon.ico?probe-e")
        client.send(b"HEAD /favicon.ico?probe-e HTTP/1.1\r\nHost: x\r\n\r\n")
        resp, empty = client.response("HEAD")
        assert empty == b"" and resp.getheader("Content-Length") == str(len(body))
        assert client.request("GET", "/static/style.css")[0].status == 200
