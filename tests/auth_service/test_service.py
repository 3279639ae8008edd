"""Behaviour of the real service: `python -m auth_service` on a free port, over real sockets."""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from auth_service.sessions import SessionManager
from tests.support import Service, free_port

SECRET = "test-secret-key-for-auth-service"
USERID, PASSWORD = "alice", "correct horse battery staple"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def start(tmp: Path, **extra: str) -> Service:
    port = free_port()
    env = {
        "SECRET_KEY": SECRET,
        "AUTH_BIND": "127.0.0.1",
        "AUTH_PORT": str(port),
        "USERS_FILE": str(tmp / "users.json"),
        "DEMO_USERID": USERID,
        "DEMO_PASSWORD": PASSWORD,
        **extra,
    }
    return Service("auth_service", port, env, tmp / "auth.log")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start(tmp_path_factory.mktemp("auth"))
    yield service
    service.stop()


def request(
    svc: Service,
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
    try:
        conn.request(method, path, body, dict(headers or {}))
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def login(svc: Service, userid: str = USERID, passwd: str = PASSWORD):
    body = urllib.parse.urlencode({"userid": userid, "passwd": passwd})
    return request(svc, "POST", "/login", body, FORM)


def session_value(resp: http.client.HTTPResponse) -> str:
    cookie = resp.getheader("Set-Cookie", "")
    return cookie.split(";", 1)[0].removeprefix("session=")


def verify(svc: Service, cookie: str | None) -> http.client.HTTPResponse:
    headers = {"Cookie": cookie} if cookie is not None else {}
    return request(svc, "GET", "/verify", headers=headers)[0]


def test_login_success_sets_exact_cookie(svc):
    resp, _ = login(svc)
    assert resp.status == 303
    assert resp.getheader("Location") == "/secret.html"
    assert resp.getheader("Cache-Control") == "no-store"
    cookies = resp.headers.get_all("Set-Cookie")
    assert len(cookies) == 1
    value = session_value(resp)
    assert value.startswith(f"{USERID}.")
    assert cookies[0] == f"session={value}; Max-Age=30; Path=/; HttpOnly; SameSite=Lax"


def test_login_multipart_works_too(svc):
    boundary = "gatehouse-boundary"
    body = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in (("userid", USERID), ("passwd", PASSWORD))
        )
        + f"--{boundary}--\r\n"
    )
    resp, _ = request(
        svc,
        "POST",
        "/login",
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert resp.status == 303


def test_wrong_password_and_unknown_user_look_the_same(svc):
    wrong, wrong_body = login(svc, USERID, "wrong")
    unknown, unknown_body = login(svc, "mallory", PASSWORD)
    for resp in (wrong, unknown):
        assert resp.status == 401
        assert resp.getheader("Set-Cookie") is None
        assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    # Identical but for the user id each one typed, which the form keeps.
    assert wrong_body.replace(USERID.encode(), b"") == unknown_body.replace(b"mallory", b"")
    assert b'<p class="error" role="alert">Wrong user ID or password.</p>' in wrong_body
    assert b'<form class="login" method="post" action="/login">' in wrong_body


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("userid=alice", FORM),
        ("passwd=x", FORM),
        ("userid=&passwd=", FORM),
        ("", FORM),
        ('{"userid": "alice"}', {"Content-Type": "application/json"}),
        ("garbage", {"Content-Type": "multipart/form-data; boundary=x"}),
    ],
)
def test_missing_fields_or_malformed_body_is_400(svc, body, headers):
    resp, page = request(svc, "POST", "/login", body, headers)
    assert resp.status == 400
    assert resp.getheader("Set-Cookie") is None
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b'<p class="error" role="alert">' in page


def test_verify_valid_session(svc):
    value = session_value(login(svc)[0])
    resp = verify(svc, f"theme=dark; session={value}")
    assert resp.status == 204
    assert resp.getheader("X-Auth-User") == USERID
    assert 28 <= int(resp.getheader("X-Auth-Seconds-Left")) <= 30
    assert resp.getheader("Cache-Control") == "no-store"


@pytest.mark.parametrize("cookie", [None, "", "session=", "other=1", "session=alice.x.y"])
def test_verify_without_valid_cookie_is_401(svc, cookie):
    resp = verify(svc, cookie)
    assert resp.status == 401
    assert resp.getheader("Cache-Control") == "no-store"
    assert resp.getheader("X-Auth-User") is None


def test_verify_refuses_tampered_and_forged(svc):
    value = session_value(login(svc)[0])
    assert verify(svc, "session=admin" + value[len(USERID) :]).status == 401
    assert (
        verify(svc, "session=" + value[:-2] + ("AA" if value[-2:] != "AA" else "BB")).status == 401
    )
    forged = SessionManager("some-other-key", 30).issue(USERID)
    assert verify(svc, f"session={forged}").status == 401


def test_verify_refuses_old_cookie_even_if_client_keeps_it(svc):
    # Signed with the right key, but 31 s ago: only the server-side age check stops it.
    old = SessionManager(SECRET, 30, now=lambda: time.time() - 31).issue(USERID)
    assert verify(svc, f"session={old}").status == 401


def test_cookie_page(svc):
    value = session_value(login(svc)[0])
    resp, page = request(svc, "GET", "/cookie.html", headers={"Cookie": f"session={value}"})
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert resp.getheader("Cache-Control") == "no-store"
    text = page.decode()
    assert f"Hello {USERID}" in text
    assert " seconds left until your cookie expires." in text
    assert '<form class="logout" method="post" action="/logout">' in text

    head, head_body = request(svc, "HEAD", "/cookie.html", headers={"Cookie": f"session={value}"})
    assert head.status == 200 and head_body == b""


def test_cookie_page_without_session_is_403(svc):
    resp, page = request(svc, "GET", "/cookie.html")
    assert resp.status == 403
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b'<a href="/">' in page


def test_logout(svc):
    resp, _ = request(svc, "POST", "/logout")
    assert resp.status == 303
    assert resp.getheader("Location") == "/"
    assert resp.headers.get_all("Set-Cookie") == [
        "session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    ]


def test_healthz_404_405(svc):
    resp, body = request(svc, "GET", "/healthz")
    assert (resp.status, body) == (200, b"ok")
    assert request(svc, "GET", "/nope")[0].status == 404
    assert request(svc, "GET", "/login")[0].status == 405
    assert request(svc, "POST", "/verify")[0].status == 405


def test_demo_user_file_not_rewritten_on_restart(tmp_path):
    first = start(tmp_path)
    first.stop()
    users_file = tmp_path / "users.json"
    before = (users_file.read_text(), users_file.stat().st_mtime_ns)
    second = start(tmp_path)
    try:
        assert login(second)[0].status == 303
    finally:
        second.stop()
    assert (users_file.read_text(), users_file.stat().st_mtime_ns) == before


def test_session_expires_after_ttl(tmp_path):
    """The one real-time test: a replayed cookie stops working once SESSION_TTL passes.

    TTL 2, not 1: timestamps are whole seconds and a cookie is refused once
    now - issued >= TTL, so with TTL 1 the very first check could already fail.
    """
    svc = start(tmp_path, SESSION_TTL="2")
    try:
        resp, _ = login(svc)
        assert "Max-Age=2;" in resp.getheader("Set-Cookie")
        cookie = f"session={session_value(resp)}"
        assert verify(svc, cookie).status == 204
        time.sleep(2.05)
        assert verify(svc, cookie).status == 401
    finally:
        svc.stop()


def test_bad_config_exits_2_with_message(tmp_path):
    port = free_port()
    with pytest.raises(RuntimeError, match="exited with 2"):
        start(tmp_path, SESSION_TTL="soon", AUTH_PORT=str(port))
    assert "SESSION_TTL must be a whole number" in (tmp_path / "auth.log").read_text()
