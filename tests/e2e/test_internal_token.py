"""Issue 10: the services answer only the proxy. Another local process that goes around the
proxy to the services' own ports gets 403, for pages and for /verify alike; health and
metrics stay open to operators."""

from __future__ import annotations

import http.client

import pytest


def get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("service", "path"),
    [
        pytest.param("content", "/secret.html", id="content-page"),
        pytest.param("content", "/images/coast.jpg", id="content-image"),
        pytest.param("auth", "/verify", id="auth-verify"),
        pytest.param("auth", "/cookie.html", id="auth-cookie-page"),
    ],
)
def test_a_request_around_the_proxy_is_refused(stack, service, path):
    cookie = stack.login()
    port = getattr(stack, service).port
    assert get(port, path, {"Cookie": cookie}) == 403
    assert get(port, path, {"Cookie": cookie, "X-Gatehouse-Token": "a-guess"}) == 403


@pytest.mark.parametrize("service", ["auth", "content"])
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_and_metrics_need_no_token(stack, service, path):
    assert get(getattr(stack, service).port, path) == 200


def test_the_same_requests_through_the_proxy_pass(stack):
    cookie = stack.login()
    conn = stack.connect()
    for path in ("/secret.html", "/images/coast.jpg", "/cookie.html"):
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, path
    conn.close()
