"""The site through the proxy: public pages, access control, login, cookies, logout."""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse

import pytest

from tests.e2e.conftest import Stack, running_stack

IMAGES = ["/images/coast.jpg", "/images/mountains.jpg", "/images/harbour.jpg", "/images/sunset.jpg"]


def get(stack: Stack, path: str, cookie: str | None = None, method: str = "GET"):
    conn = stack.connect()
    conn.request(method, path, headers={"Cookie": cookie} if cookie else {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def text(body: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body.decode()))


@pytest.mark.parametrize("path", ["/", "/index.html", "/static/style.css", "/favicon.ico"])
def test_public_paths_need_no_session(stack, path):
    resp, _ = get(stack, path)
    assert resp.status == 200


def test_login_page_has_the_form(stack):
    resp, body = get(stack, "/")
    assert resp.getheader("Content-Type").startswith("text/html")
    assert b'action="/login"' in body and b'name="userid"' in body and b'name="passwd"' in body


@pytest.mark.parametrize(
    "path",
    ["/secret.html", *IMAGES, "/cookie.html", "/no-such-file.html", "/static/../secret.html"],
)
def test_everything_else_is_403_without_a_session(stack, path):
    resp, body = get(stack, path)
    assert resp.status == 403
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b"403" in body and b'href="/"' in body


def test_login_sets_the_session_cookie(stack):
    conn = stack.connect()
    form = urllib.parse.urlencode({"userid": stack.userid, "passwd": stack.password})
    conn.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 303
    assert resp.getheader("Location") == "/secret.html"
    cookie = resp.getheader("Set-Cookie")
    assert re.fullmatch(r"session=[^;]+; Max-Age=30; Path=/; HttpOnly; SameSite=Lax", cookie)


def test_wrong_password_is_401_without_cookie(stack):
    conn = stack.connect()
    form = urllib.parse.urlencode({"userid": stack.userid, "passwd": "wrong"})
    conn.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 401
    assert resp.getheader("Set-Cookie") is None
    assert b"Wrong user ID or password" in body


def test_session_shows_the_secret_page_and_images(stack):
    cookie = stack.login()
    for path in ["/", "/index.html", "/secret.html"]:
        resp, body = get(stack, path, cookie)
        assert resp.status == 200, path
        for image in IMAGES:
            assert image.encode() in body
    for image in IMAGES:
        resp, body = get(stack, image, cookie)
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "image/jpeg"
        assert body[:3] == b"\xff\xd8\xff"


def test_home_page_depends_on_the_session_so_caches_must_not_share_it(stack):
    resp, _ = get(stack, "/", stack.login())
    assert resp.getheader("Vary") and "Cookie" in resp.getheader("Vary")
    assert "no-cache" in resp.getheader("Cache-Control") or "no-store" in resp.getheader(
        "Cache-Control"
    )


def test_cookie_page_shows_user_and_seconds_left(stack):
    resp, body = get(stack, "/cookie.html", stack.login())
    assert resp.status == 200
    page = text(body)
    assert f"Hello {stack.userid}" in page
    seconds = int(re.search(r"(\d+) seconds left until your cookie expires", page).group(1))
    assert 0 < seconds <= 30


def test_missing_file_with_session_is_404_page(stack):
    resp, body = get(stack, "/no-such-file.html", stack.login())
    assert resp.status == 404
    assert resp.getheader("Content-Type").startswith("text/html")
    assert b'href="/"' in body


@pytest.mark.parametrize(
    "mangle",
    [
        # A middle character: the last base64 one carries spare bits, so changing it may not
        # change the signature at all.
        pytest.param(lambda v: v[:-5] + ("A" if v[-5] != "A" else "B") + v[-4:], id="signature"),
        pytest.param(lambda v: "mallory" + v[v.index(".") :], id="userid"),
        pytest.param(lambda v: "", id="empty"),
    ],
)
def test_tampered_cookie_is_refused(stack, mangle):
    value = stack.login().split("=", 1)[1]
    resp, _ = get(stack, "/secret.html", "session=" + mangle(value))
    assert resp.status == 403


def test_client_cannot_claim_an_identity(stack):
    conn = stack.connect()
    conn.request("GET", "/secret.html", headers={"X-Auth-User": stack.userid})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 403


def test_auth_service_internals_are_not_reachable(stack):
    resp, _ = get(stack, "/verify", stack.login())
    assert resp.status == 404  # routed to the content service, which has no such page


def test_logout_clears_the_cookie(stack):
    cookie = stack.login()
    conn = stack.connect()
    conn.request("POST", "/logout", headers={"Cookie": cookie, "Content-Length": "0"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 303
    assert resp.getheader("Location") == "/"
    assert resp.getheader("Set-Cookie").startswith("session=; Max-Age=0; Path=/")


def test_expired_session_is_refused_even_if_the_client_keeps_the_cookie(tmp_path):
    with running_stack(tmp_path, auth_env={"SESSION_TTL": "2"}) as stack:
        cookie = stack.login()
        assert get(stack, "/secret.html", cookie)[0].status == 200
        time.sleep(2.2)
        assert get(stack, "/secret.html", cookie)[0].status == 403
        assert get(stack, "/cookie.html", cookie)[0].status == 403


def test_head_request_through_the_proxy(stack):
    resp, body = get(stack, "/", method="HEAD")
    assert resp.status == 200 and body == b""
    assert int(resp.getheader("Content-Length")) > 0


def test_conditional_and_range_requests_through_the_proxy(stack):
    cookie = stack.login()
    resp, body = get(stack, IMAGES[0], cookie)
    etag, size = resp.getheader("ETag"), len(body)
    assert etag and resp.getheader("Last-Modified")

    conn = stack.connect()
    conn.request("GET", IMAGES[0], headers={"Cookie": cookie, "If-None-Match": etag})
    resp = conn.getresponse()
    assert resp.status == 304 and resp.read() == b""
    conn.request("GET", IMAGES[0], headers={"Cookie": cookie, "Range": "bytes=10-19"})
    resp = conn.getresponse()
    assert resp.status == 206
    assert resp.getheader("Content-Range") == f"bytes 10-19/{size}"
    assert resp.read() == body[10:20]
    conn.close()


def test_error_pages_are_html_of_the_proxy(stack):
    resp, body = get(stack, "/secret.html")
    assert b"<style>" in body  # inline CSS: renders even with the content service down
    assert isinstance(resp, http.client.HTTPResponse)
