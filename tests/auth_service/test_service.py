"""Behaviour of the real service: `python -m auth_service` on a free port, over real sockets.

The shared service has no INTERNAL_TOKEN, so it believes X-Forwarded-For: each regulation
test logs in from an address of its own and does not disturb the others.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from auth_service.sessions import SessionSigner, new_session_id
from auth_service.store import Store
from tests.auth_service.test_passwords import old_scrypt
from tests.support import REPO, Service, free_port

SECRET = "test-secret-key-for-auth-service"
USERID, PASSWORD = "alice", "correct horse battery staple"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FAST = {"AUTH_ARGON2_TIME_COST": "1", "AUTH_ARGON2_MEMORY_KIB": "1024"}
_addresses = (f"10.1.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def new_address() -> str:
    return next(_addresses)


def start(tmp: Path, **extra: str) -> Service:
    port = free_port()
    env = {
        "SECRET_KEY": SECRET,
        "AUTH_BIND": "127.0.0.1",
        "AUTH_PORT": str(port),
        "AUTH_DATABASE_URL": f"sqlite:///{tmp / 'auth.db'}",
        "DEMO_USERID": USERID,
        "DEMO_PASSWORD": PASSWORD,
        **FAST,
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


def login(
    svc: Service,
    userid: str = USERID,
    passwd: str = PASSWORD,
    headers: Mapping[str, str] | None = None,
):
    body = urllib.parse.urlencode({"userid": userid, "passwd": passwd})
    return request(svc, "POST", "/login", body, {**FORM, **(headers or {})})


def session_value(resp: http.client.HTTPResponse) -> str:
    cookie = resp.getheader("Set-Cookie", "")
    return cookie.split(";", 1)[0].split("=", 1)[1]


def verify(
    svc: Service, cookie: str | None, headers: Mapping[str, str] | None = None
) -> http.client.HTTPResponse:
    fields = {"Cookie": cookie} if cookie is not None else {}
    return request(svc, "GET", "/verify", headers={**fields, **(headers or {})})[0]


def logout(svc: Service, cookie: str, **form: str) -> http.client.HTTPResponse:
    body = urllib.parse.urlencode(form)
    return request(svc, "POST", "/logout", body, {**FORM, "Cookie": cookie})[0]


def metrics(svc: Service) -> dict[str, float]:
    """Every sample of /metrics, keyed like `name{label="value"}`, parsed by prometheus_client."""
    resp, body = request(svc, "GET", "/metrics")
    assert resp.status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


# --- login, verify, the cookie page ------------------------------------------------------


def test_login_success_sets_exact_cookie(svc):
    resp, _ = login(svc)
    assert resp.status == 303
    assert resp.getheader("Location") == "/secret.html"
    assert resp.getheader("Cache-Control") == "no-store"
    cookies = resp.headers.get_all("Set-Cookie")
    assert len(cookies) == 1
    value = session_value(resp)
    assert cookies[0] == f"session={value}; Max-Age=30; Path=/; HttpOnly; SameSite=Lax"
    assert USERID not in value  # an opaque session id, not the user


def test_login_over_https_sets_a_host_prefixed_secure_cookie(svc):
    resp, _ = login(svc, headers={"X-Forwarded-Proto": "https"})
    value = session_value(resp)
    assert resp.getheader("Set-Cookie") == (
        f"__Host-session={value}; Max-Age=30; Path=/; Secure; HttpOnly; SameSite=Lax"
    )
    https = {"X-Forwarded-Proto": "https"}
    assert verify(svc, f"__Host-session={value}", https).status == 204
    # Over TLS only the __Host- cookie counts: a plain one may have been planted.
    assert verify(svc, f"session={value}", https).getheader("X-Auth-Reason") == "missing"


def test_login_multipart_works_too(svc):
    boundary = "gatehouse-boundary"
    body = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in (("userid", USERID), ("passwd", PASSWORD))
        )
        + f"--{boundary}--\r\n"
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    assert request(svc, "POST", "/login", body, headers)[0].status == 303


def test_wrong_password_and_unknown_user_look_the_same(svc):
    wrong, wrong_body = login(svc, USERID, "wrong", {"X-Forwarded-For": new_address()})
    unknown, unknown_body = login(svc, "mallory", PASSWORD, {"X-Forwarded-For": new_address()})
    for resp in (wrong, unknown):
        assert resp.status == 401
        assert resp.getheader("Set-Cookie") is None
        assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    # Identical but for the user id each one typed, which the form keeps.
    assert wrong_body.replace(USERID.encode(), b"") == unknown_body.replace(b"mallory", b"")
    assert b'<p class="error" role="alert">Wrong user ID or password.</p>' in wrong_body


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
    assert b'<p class="error" role="alert">' in page


def test_verify_valid_session(svc):
    value = session_value(login(svc)[0])
    resp = verify(svc, f"theme=dark; session={value}")
    assert resp.status == 204
    assert resp.getheader("X-Auth-User") == USERID
    assert 28 <= int(resp.getheader("X-Auth-Seconds-Left")) <= 30
    assert resp.getheader("Cache-Control") == "no-store"


@pytest.mark.parametrize(
    ("cookie", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("other=1", "missing"),
        ("session=", "invalid"),
        ("session=alice.x.y", "invalid"),
    ],
)
def test_verify_without_valid_cookie_is_401_with_reason(svc, cookie, reason):
    resp = verify(svc, cookie)
    assert resp.status == 401
    assert resp.getheader("X-Auth-Reason") == reason
    assert resp.getheader("Cache-Control") == "no-store"
    assert resp.getheader("X-Auth-User") is None


def test_verify_refuses_tampered_and_forged(svc):
    value = session_value(login(svc)[0])
    tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    assert verify(svc, f"session={tampered}").getheader("X-Auth-Reason") == "invalid"
    forged = SessionSigner(["some-other-key"], 30).sign(new_session_id())
    assert verify(svc, f"session={forged}").getheader("X-Auth-Reason") == "invalid"


def test_verify_refuses_old_cookie_even_if_client_keeps_it(svc):
    # Signed with the right key, but 31 s ago: only the server-side age check stops it.
    old = SessionSigner([SECRET], 30, now=lambda: time.time() - 31).sign(new_session_id())
    assert verify(svc, f"session={old}").getheader("X-Auth-Reason") == "expired"


def test_a_signed_id_the_store_does_not_know_is_refused(svc):
    unknown = SessionSigner([SECRET], 30).sign(new_session_id())
    assert verify(svc, f"session={unknown}").getheader("X-Auth-Reason") == "revoked"


def test_only_the_first_two_session_values_are_looked_at(svc):
    value = session_value(login(svc)[0])
    assert verify(svc, f"session=x; session={value}").status == 204
    assert verify(svc, f"session=x; session=y; session={value}").status == 401
    stuffed = "; ".join(["session=junk"] * 280 + [f"session={value}"])
    assert verify(svc, stuffed).status == 401


def test_cookie_page(svc):
    value = session_value(login(svc)[0])
    resp, page = request(svc, "GET", "/cookie.html", headers={"Cookie": f"session={value}"})
    assert resp.status == 200
    assert resp.getheader("Cache-Control") == "no-store"
    text = page.decode()
    assert f"Hello {USERID}" in text
    assert " seconds left until your cookie expires." in text
    assert "Log out everywhere" in text
    head, head_body = request(svc, "HEAD", "/cookie.html", headers={"Cookie": f"session={value}"})
    assert head.status == 200 and head_body == b""


def test_cookie_page_without_session_is_403(svc):
    resp, page = request(svc, "GET", "/cookie.html")
    assert resp.status == 403
    assert b'<a href="/">' in page
    assert b"missing or invalid" in page


# --- logout ------------------------------------------------------------------------------


def test_logout_revokes_the_session(svc):
    value = session_value(login(svc)[0])
    copied = f"session={value}"
    resp = logout(svc, copied)
    assert resp.status == 303
    assert resp.getheader("Location") == "/"
    assert resp.headers.get_all("Set-Cookie") == [
        "session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    ]
    assert resp.getheader("X-Auth-Revoked-User") is None
    # A copy of the cookie is refused from now on, not only when its TTL runs out.
    refused = verify(svc, copied)
    assert (refused.status, refused.getheader("X-Auth-Reason")) == (401, "revoked")
    page = request(svc, "GET", "/cookie.html", headers={"Cookie": copied})[1]
    assert b"Your session has expired; log in again." in page


def test_logout_everywhere_revokes_all_of_the_users_sessions(svc):
    first, second = (f"session={session_value(login(svc)[0])}" for _ in range(2))
    resp = logout(svc, first, everywhere="1")
    assert resp.status == 303
    assert resp.getheader("X-Auth-Revoked-User") == USERID
    assert verify(svc, first).getheader("X-Auth-Reason") == "revoked"
    assert verify(svc, second).getheader("X-Auth-Reason") == "revoked"
    assert verify(svc, f"session={session_value(login(svc)[0])}").status == 204  # new ones work


def test_logout_without_session_just_clears_the_cookie(svc):
    resp, _ = request(svc, "POST", "/logout", headers={"Content-Length": "0"})
    assert resp.status == 303
    assert resp.getheader("Set-Cookie").startswith("session=; Max-Age=0;")


# --- regulation ------------------------------------------------------------------------


def guess(svc: Service, userid: str, address: str, passwd: str = "wrong") -> int:
    return login(svc, userid, passwd, {"X-Forwarded-For": address})[0].status


def test_ban_after_max_retries_with_429_and_retry_after(svc):
    address = new_address()
    assert [guess(svc, "bob", address) for _ in range(5)] == [401] * 5
    resp, page = login(svc, USERID, PASSWORD, {"X-Forwarded-For": address})
    assert resp.status == 429
    assert 295 <= int(resp.getheader("Retry-After")) <= 300
    assert resp.getheader("Set-Cookie") is None
    assert b"Too many failed logins" in page
    assert b"try again in 5 min" in page or b"try again in 4 min" in page


def test_no_password_is_hashed_while_banned(svc):
    address = new_address()
    for _ in range(5):
        guess(svc, "carol", address)
    before = metrics(svc)["gatehouse_auth_password_checks_total"]
    assert [guess(svc, "carol", address) for _ in range(5)] == [429] * 5
    assert metrics(svc)["gatehouse_auth_password_checks_total"] == before


def test_success_resets_the_run(svc):
    address = new_address()
    for _ in range(3):  # someone who mistypes now and then is never banned
        assert [guess(svc, USERID, address) for _ in range(4)] == [401] * 4
        assert guess(svc, USERID, address, PASSWORD) == 303


def test_unknown_user_is_banned_exactly_like_a_known_one(svc):
    assert cli(svc, "adduser", "erin", "--password-stdin", stdin="pw\n").returncode == 0
    a, b = new_address(), new_address()
    known = [guess(svc, "erin", a) for _ in range(6)]
    unknown = [guess(svc, "no-such-user-ever", b) for _ in range(6)]
    assert known == unknown == [401] * 5 + [429]


def test_a_banned_user_id_is_banned_from_every_address(svc):
    for _ in range(5):
        guess(svc, "frank", new_address())
    assert guess(svc, "frank", new_address()) == 429


def test_audit_lines_never_hold_the_password(svc):
    address = new_address()
    login(svc, USERID, "hunter2-secret", {"X-Forwarded-For": address, "X-Request-ID": "req-42"})
    login(svc, USERID, PASSWORD, {"X-Forwarded-For": address})
    log = svc.output()
    assert f"login user='alice' address={address} outcome=wrong request_id=req-42" in log
    assert f"login user='alice' address={address} outcome=ok" in log
    assert "hunter2-secret" not in log and PASSWORD not in log


# --- CSRF and headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 303),  # curl: neither header
        ({"Origin": "http://{host}"}, 303),
        ({"Referer": "http://{host}/"}, 303),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "https://{host}"}, 403),  # another scheme is another site
        ({"Referer": "http://evil.example/page"}, 403),
        ({"Origin": "http://evil.example", "Referer": "http://{host}/"}, 403),
    ],
    ids=[
        "none",
        "same-origin",
        "same-referer",
        "other-origin",
        "null",
        "scheme",
        "other-ref",
        "both",
    ],
)
def test_csrf_origin_check_on_login_and_logout(svc, headers, status):
    host = f"127.0.0.1:{svc.port}"
    filled = {k: v.format(host=host) for k, v in headers.items()}
    assert login(svc, headers=filled)[0].status == status
    cookie = f"session={session_value(login(svc)[0])}"
    resp = request(svc, "POST", "/logout", "", {**FORM, "Cookie": cookie, **filled})[0]
    assert resp.status == status
    assert verify(svc, cookie).status == (401 if status == 303 else 204)


def test_security_headers_on_every_html_page(svc):
    cookie = f"session={session_value(login(svc)[0])}"
    pages = [
        request(svc, "GET", "/cookie.html", headers={"Cookie": cookie})[0],
        request(svc, "GET", "/cookie.html")[0],
        login(svc, USERID, "wrong", {"X-Forwarded-For": new_address()})[0],
        request(svc, "POST", "/login", "", FORM)[0],
    ]
    for resp in pages:
        assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
        csp = resp.getheader("Content-Security-Policy")
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp
        assert resp.getheader("X-Content-Type-Options") == "nosniff"
        assert resp.getheader("Referrer-Policy") == "same-origin"
        assert resp.getheader("X-Frame-Options") == "DENY"


# --- health, metrics, 404/405 ------------------------------------------------------------


def test_health_ready_404_405(svc):
    assert request(svc, "GET", "/healthz")[1] == b"ok"
    resp, body = request(svc, "GET", "/readyz")
    assert (resp.status, body) == (200, b"ok")
    assert request(svc, "GET", "/nope")[0].status == 404
    assert request(svc, "GET", "/login")[0].status == 405
    assert request(svc, "POST", "/verify")[0].status == 405


def test_metrics_move_with_traffic(svc):
    before = metrics(svc)
    cookie = f"session={session_value(login(svc)[0])}"
    verify(svc, cookie)
    verify(svc, None)
    login(svc, USERID, "wrong", {"X-Forwarded-For": new_address()})
    request(svc, "POST", "/login", "", FORM)
    after = metrics(svc)

    def moved(name: str) -> float:
        return after[name] - before.get(name, 0)

    assert moved('gatehouse_auth_logins_total{outcome="ok"}') == 1
    assert moved('gatehouse_auth_logins_total{outcome="wrong"}') == 1
    assert moved('gatehouse_auth_logins_total{outcome="malformed"}') == 1
    assert moved('gatehouse_auth_verifications_total{result="ok"}') == 1
    assert moved('gatehouse_auth_verifications_total{result="missing"}') == 1
    assert after["gatehouse_auth_active_sessions"] >= 1
    assert 'gatehouse_auth_bans_total{kind="user"}' in after


# --- the running service and the CLI -------------------------------------------------------


def cli(svc: Service, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **FAST, "AUTH_DATABASE_URL": f"sqlite:///{svc.log.parent / 'auth.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "auth_service", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )


def test_a_running_service_sees_cli_changes_at_once(svc):
    address = new_address()
    assert cli(svc, "adduser", "grace", "--password-stdin", stdin="pw1\n").returncode == 0
    resp, _ = login(svc, "grace", "pw1", {"X-Forwarded-For": address})
    assert resp.status == 303
    cookie = f"session={session_value(resp)}"
    assert cli(svc, "passwd", "grace", "--password-stdin", stdin="pw2\n").returncode == 0
    assert verify(svc, cookie).getheader("X-Auth-Reason") == "revoked"
    assert guess(svc, "grace", address, "pw1") == 401
    assert guess(svc, "grace", address, "pw2") == 303
    assert cli(svc, "deluser", "grace").returncode == 0
    assert guess(svc, "grace", address, "pw2") == 401


def test_an_imported_scrypt_hash_logs_in_and_becomes_argon2id(svc):
    old = svc.log.parent / "old-users.json"
    old.write_text(json.dumps({"heidi": old_scrypt("s3cret")}))
    assert cli(svc, "import-users", str(old)).returncode == 0
    assert guess(svc, "heidi", new_address(), "s3cret") == 303
    store = Store.open(f"sqlite:///{svc.log.parent / 'auth.db'}")
    try:
        assert store.password_hash("heidi").startswith("$argon2id$")
    finally:
        store.close()


def test_startup_line(svc):
    assert f"auth_service listening on http://127.0.0.1:{svc.port}" in svc.output()
    assert "INTERNAL_TOKEN is not set" in svc.output()


# --- separate services: token, rotation, expiry, config errors ---------------------------


def test_internal_token(tmp_path):
    svc = start(tmp_path, INTERNAL_TOKEN="s3cret-token")
    try:
        good = {"X-Gatehouse-Token": "s3cret-token"}
        for headers in ({}, {"X-Gatehouse-Token": "wrong"}, {"X-Gatehouse-Token": ""}):
            assert verify(svc, None, headers).status == 403
            assert login(svc, headers=headers)[0].status == 403
            assert request(svc, "GET", "/cookie.html", headers=headers)[0].status == 403
        for path in ("/healthz", "/readyz", "/metrics"):
            assert request(svc, "GET", path)[0].status == 200
        assert verify(svc, None, good).status == 401  # through: missing cookie
        # With the token, the proxy's X-Forwarded-For is the client's address.
        resp, _ = login(svc, headers={**good, "X-Forwarded-For": "192.0.2.7"})
        assert resp.status == 303
        assert "address=192.0.2.7 outcome=ok" in svc.output()
        assert "INTERNAL_TOKEN is not set" not in svc.output()
    finally:
        svc.stop()


def test_key_rotation_keeps_listed_keys_and_drops_retired_ones(tmp_path):
    """Sign with `old`; then SECRET_KEYS=new,old still accepts it; new,newer does not."""
    svc = start(tmp_path, SECRET_KEY="old-key", SESSION_TTL="600")
    try:
        cookie = f"session={session_value(login(svc)[0])}"
    finally:
        svc.stop()
    svc = start(tmp_path, SECRET_KEYS="new-key,old-key", SESSION_TTL="600")
    try:
        assert verify(svc, cookie).status == 204
        fresh = f"session={session_value(login(svc)[0])}"
    finally:
        svc.stop()
    svc = start(tmp_path, SECRET_KEYS="newer-key,new-key", SESSION_TTL="600")
    try:
        assert verify(svc, cookie).getheader("X-Auth-Reason") == "invalid"
        assert verify(svc, fresh).status == 204
    finally:
        svc.stop()


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
        assert verify(svc, cookie).getheader("X-Auth-Reason") == "expired"
    finally:
        svc.stop()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SESSION_TTL": "soon"}, "setting SESSION_TTL: must be a whole number (got 'soon')"),
        ({"AUTH_DATABASE_URL": "mysql://x"}, "setting AUTH_DATABASE_URL:"),
    ],
)
def test_bad_config_exits_2_with_message(tmp_path, env, message):
    with pytest.raises(RuntimeError, match="exited with 2"):
        start(tmp_path, **env)
    assert message in (tmp_path / "auth.log").read_text()


def test_busy_port_is_named(tmp_path):
    svc = start(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="exited with 2"):
            Service(
                "auth_service",
                free_port(),  # waited on, never bound: the process must exit first
                {"SECRET_KEY": "k", "AUTH_PORT": str(svc.port), **FAST},
                tmp_path / "second.log",
            )
        assert "setting AUTH_PORT:" in (tmp_path / "second.log").read_text()
    finally:
        svc.stop()


# --- PostgreSQL: replicas sharing one store ---------------------------------------------


def test_two_replicas_on_postgresql_share_sessions_and_bans(tmp_path, postgres_url):
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    env = {"AUTH_DATABASE_URL": postgres_url}
    first, second = start(first_dir, **env), start(second_dir, **env)
    try:
        cookie = f"session={session_value(login(first)[0])}"
        assert verify(second, cookie).status == 204
        assert logout(second, cookie).status == 303
        assert verify(first, cookie).getheader("X-Auth-Reason") == "revoked"
        address = new_address()
        for replica in (first, second, first, second, first):
            assert guess(replica, "ivan", address) == 401
        assert guess(second, "ivan", address) == 429
    finally:
        first.stop()
        second.stop()


def test_readyz_is_503_when_the_store_is_gone(tmp_path, postgres_server):
    import psycopg

    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE doomed")
    svc = start(tmp_path, AUTH_DATABASE_URL=postgres_server.rsplit("/", 1)[0] + "/doomed")
    try:
        assert request(svc, "GET", "/readyz")[0].status == 200
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute("DROP DATABASE doomed WITH (FORCE)")
        resp, body = request(svc, "GET", "/readyz")
        assert resp.status == 503
        assert body.startswith(b"store down: ")
        assert request(svc, "GET", "/healthz")[0].status == 200  # alive, just not ready
        assert verify(svc, "session=x").status == 401  # bad signature: no store needed
        cookie = SessionSigner([SECRET], 30).sign(new_session_id())
        assert verify(svc, f"session={cookie}").status == 503
    finally:
        svc.stop()
