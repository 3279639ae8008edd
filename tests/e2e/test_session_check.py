"""The proxy's side of sessions against scripted services: the internal token, one question per
request, the session cookie kept from the content service, logout clearing the verdict cache,
and what never reaches a client.

The verdict cache lives a minute here, so anything refused after a logout was refused because
the logout cleared it, not because it ran out.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy import devcerts
from tests.e2e.scripted_auth import ScriptedAuth
from tests.e2e.scripted_upstream import ScriptedUpstream
from tests.support import RawClient, Service, free_port

TOKEN = "internal-token-for-tests"
EXPIRED = "Your session has expired; log in again."


class Proxy:
    def __init__(
        self,
        service: Service,
        auth: ScriptedAuth,
        content: ScriptedUpstream,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.service, self.auth, self.content, self.tls = service, auth, content, tls

    def get(self, path: str, headers: dict[str, str] | None = None):
        with RawClient(self.service.port, tls=self.tls) as client:
            return client.request("GET", path, headers)

    def post(self, path: str, cookie: str, body: str = ""):
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        with RawClient(self.service.port, tls=self.tls) as client:
            return client.request("POST", path, headers, body.encode())


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with scripted_proxy(tmp_path_factory.mktemp("session-check")) as p:
        yield p


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with scripted_proxy(tmp_path_factory.mktemp("session-check-tls"), tls=True) as p:
        yield p


@contextlib.contextmanager
def scripted_proxy(tmp: Path, *, tls: bool = False) -> Iterator[Proxy]:
    log = tmp / "proxy.log"
    port = free_port()
    tls_env, context = {}, None
    if tls:
        certs = devcerts.write(tmp / "tls")
        tls_env = {"PROXY_TLS_CERT": str(certs.cert), "PROXY_TLS_KEY": str(certs.key)}
        context = ssl.create_default_context(cafile=str(certs.ca))
    cookie_name = "__Host-session" if tls else "session"
    with ScriptedAuth(cookie_name) as auth, ScriptedUpstream() as content:
        env = {
            "PROXY_HOST": "127.0.0.1",
            "PROXY_PORT": str(port),
            "AUTH_HOST": "127.0.0.1",
            "AUTH_PORT": str(auth.port),
            "CONTENT_HOST": "127.0.0.1",
            "CONTENT_PORT": str(content.port),
            "INTERNAL_TOKEN": TOKEN,
            "AUTH_CACHE_TTL": "60",
            **tls_env,
        }
        service = Service("proxy", port, env, log)
        try:
            yield Proxy(service, auth, content, context)
        finally:
            service.stop()


def echoed_headers(body: bytes) -> dict[str, str]:
    return {name.lower(): value for name, value in json.loads(body)["headers"]}


def test_token_goes_to_both_services_and_never_to_the_client(proxy):
    resp, body = proxy.get(
        "/echo", {"Cookie": "session=tom.1", "X-Gatehouse-Token": "forged by the client"}
    )
    assert resp.status == 200
    assert echoed_headers(body)["x-gatehouse-token"] == TOKEN
    assert proxy.auth.verifications()[-1]["X-Gatehouse-Token"] == TOKEN
    assert resp.getheader("X-Gatehouse-Token") is None


def test_content_service_never_sees_the_session_cookie(proxy):
    resp, body = proxy.get("/echo", {"Cookie": "theme=dark; session=ann.1; lang=en"})
    assert resp.status == 200
    assert echoed_headers(body)["cookie"] == "theme=dark; lang=en"


def test_one_question_per_session_whatever_else_the_cookie_header_holds(proxy):
    before = len(proxy.auth.verifications())
    stuffed = "; ".join(["session=bob.1"] * 280)
    for other in ("a=1", "a=2; b=3", "c=4"):
        resp, _ = proxy.get("/echo", {"Cookie": f"{other}; {stuffed}"})
        assert resp.status == 200
    [asked] = proxy.auth.verifications()[before:]
    assert asked["Cookie"] == "session=bob.1; session=bob.1"
    assert asked["X-Forwarded-Proto"] == "http"


def test_logout_ends_the_cached_session_at_once(proxy):
    cookie = "session=carol.1"
    assert proxy.get("/echo", {"Cookie": cookie})[0].status == 200  # now cached for a minute
    resp, _ = proxy.post("/logout", cookie)
    assert resp.status == 303
    resp, page = proxy.get("/echo", {"Cookie": cookie})
    assert resp.status == 403
    assert EXPIRED in page.decode()


def test_logout_everywhere_ends_every_cached_session_of_the_user(proxy):
    for cookie in ("session=dave.1", "session=dave.2", "session=erin.1"):
        assert proxy.get("/echo", {"Cookie": cookie})[0].status == 200
    resp, _ = proxy.post("/logout", "session=dave.1", "everywhere=1")
    assert resp.status == 303
    assert resp.getheader("X-Auth-Revoked-User") is None  # for the proxy only
    assert proxy.get("/echo", {"Cookie": "session=dave.2"})[0].status == 403
    assert proxy.get("/echo", {"Cookie": "session=erin.1"})[0].status == 200


def test_auth_headers_never_reach_the_client(proxy):
    resp, _ = proxy.get("/cookie.html", {"Cookie": "session=fay.1"})
    assert resp.status == 200
    assert [name for name, _ in resp.getheaders() if name.lower().startswith("x-auth-")] == []


@pytest.mark.parametrize(
    ("cookie", "says"),
    [
        pytest.param("session=expired", EXPIRED, id="expired"),
        pytest.param("session=nodot", "Log in first", id="invalid"),
        pytest.param("theme=dark", "Log in first", id="no-session"),
    ],
)
def test_refusal_pages(proxy, cookie, says):
    resp, page = proxy.get("/secret.html", {"Cookie": cookie})
    assert resp.status == 403
    assert says in page.decode()
    assert resp.getheader("Content-Security-Policy").endswith("frame-ancestors 'none'")
    assert resp.getheader("X-Frame-Options") == "DENY"
    assert resp.getheader("Date")


def test_over_tls_only_the_host_prefixed_cookie_is_asked_about(tls_proxy):
    before = len(tls_proxy.auth.verifications())
    resp, body = tls_proxy.get(
        "/echo", {"Cookie": "session=mallory.1; __Host-session=gil.1; theme=dark"}
    )
    assert resp.status == 200
    [asked] = tls_proxy.auth.verifications()[before:]
    assert asked["Cookie"] == "__Host-session=gil.1"
    assert asked["X-Forwarded-Proto"] == "https"
    echoed = echoed_headers(body)
    assert echoed["x-forwarded-proto"] == "https"
    assert echoed["x-auth-user"] == "gil"
    assert echoed["cookie"] == "theme=dark"  # neither session cookie reaches the content


def test_over_tls_a_plain_session_cookie_is_not_a_session(tls_proxy):
    resp, page = tls_proxy.get("/echo", {"Cookie": "session=mallory.1"})
    assert resp.status == 403 and "Log in first" in page.decode()


def test_over_tls_logout_ends_the_cached_session_at_once(tls_proxy):
    cookie = "__Host-session=hal.1"
    assert tls_proxy.get("/echo", {"Cookie": cookie})[0].status == 200
    assert tls_proxy.post("/logout", cookie)[0].status == 303
    resp, page = tls_proxy.get("/echo", {"Cookie": cookie})
    assert resp.status == 403 and EXPIRED in page.decode()
    assert resp.getheader("Strict-Transport-Security") == "max-age=31536000"
