"""The internal token, security headers and request ids (issues 10 and 11)."""

from __future__ import annotations

import re
import socket
import time

import pytest

from content_service.security import CONTENT_SECURITY_POLICY, request_id, token_allows
from tests.content_service.conftest import BIG_SIZE, TOKEN, Reply, Site, fetch
from tests.support import Service

pytestmark = pytest.mark.timeout(60)

HTML_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY.decode(),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@pytest.mark.parametrize(
    ("expected", "presented", "allowed"),
    [
        pytest.param(None, None, True, id="no-token-configured"),
        pytest.param(None, b"anything", True, id="no-token-configured-any"),
        pytest.param(b"tok", b"tok", True, id="right"),
        pytest.param(b"tok", None, False, id="missing"),
        pytest.param(b"tok", b"", False, id="empty"),
        pytest.param(b"tok", b"tok2", False, id="longer"),
        pytest.param(b"tok", b"to", False, id="prefix"),
        pytest.param(b"tok", b"tok, tok", False, id="repeated"),
    ],
)
def test_token_allows(expected: bytes | None, presented: bytes | None, allowed: bool) -> None:
    assert token_allows(expected, presented) is allowed


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        pytest.param(b"abc-123._X", "abc-123._X", id="well-formed"),
        pytest.param(b"a" * 64, "a" * 64, id="longest"),
        pytest.param(b"a" * 65, "", id="too-long"),
        pytest.param(b"a b", "", id="space"),
        pytest.param(b"a\x1b[31m", "", id="escape"),
        pytest.param(b"", "", id="empty"),
        pytest.param(None, "", id="absent"),
    ],
)
def test_request_id(value: bytes | None, logged: str) -> None:
    assert request_id(value) == logged


def get(svc: Service, path: str, method: str = "GET", **headers: str) -> Reply:
    return fetch(svc.port, path, {k.replace("_", "-"): v for k, v in headers.items()}, method)


def authorized(svc: Service, path: str, method: str = "GET", **headers: str) -> Reply:
    return get(svc, path, method, X_Gatehouse_Token=TOKEN, **headers)


# --- the internal token --------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/big.bin", "/missing"])
@pytest.mark.parametrize(
    "token",
    [None, "", "wrong", TOKEN + "x", TOKEN[:-1]],
    ids=["none", "empty", "wrong", "long", "short"],
)
def test_without_the_token_403(guarded: Service, path: str, token: str | None) -> None:
    r = get(guarded, path) if token is None else get(guarded, path, X_Gatehouse_Token=token)
    assert r.status == 403
    assert b"only the Gatehouse proxy" in r.body
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.header("Cache-Control") == "no-store"
    assert b"Hello, traveller" not in r.body


@pytest.mark.parametrize("method", ["HEAD", "POST", "DELETE"])
def test_other_methods_without_the_token_403(guarded: Service, method: str) -> None:
    r = get(guarded, "/index.html", method)
    assert r.status == 403
    assert (r.body == b"") is (method == "HEAD")


def test_with_the_token(guarded: Service, site: Site) -> None:
    assert authorized(guarded, "/hello.txt").body == (site.root / "hello.txt").read_bytes()
    assert authorized(guarded, "/big.bin", Range="bytes=0-9").body == site.big[:10]
    assert authorized(guarded, "/missing").status == 404
    assert authorized(guarded, "/index.html", "POST").status == 405


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_health_and_metrics_need_no_token(guarded: Service, path: str, method: str) -> None:
    r = get(guarded, path, method)
    assert r.status == 200
    assert r.header("X-Content-Type-Options") == "nosniff"


def test_no_token_configured_lets_everyone_in_and_warns_once(service: Service) -> None:
    assert get(service, "/hello.txt").status == 200
    assert service.output().count("INTERNAL_TOKEN is not set") == 1


def test_token_configured_no_warning(guarded: Service) -> None:
    assert "INTERNAL_TOKEN" not in guarded.output()


# --- security headers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/index.html", 200), ("/docs/", 200), ("/missing", 404), ("/.env", 404)],
)
def test_html_responses_carry_security_headers(guarded: Service, path: str, status: int) -> None:
    for r in (authorized(guarded, path), authorized(guarded, path, Accept_Encoding="gzip")):
        assert r.status == status
        assert {name: r.header(name) for name in HTML_HEADERS} == HTML_HEADERS


def test_403_and_206_pages_carry_security_headers(guarded: Service) -> None:
    for r in (get(guarded, "/index.html"), authorized(guarded, "/index.html", Range="bytes=0-5")):
        assert {name: r.header(name) for name in HTML_HEADERS} == HTML_HEADERS


@pytest.mark.parametrize(
    "path", ["/static/style.css", "/images/photo.jpg", "/big.bin", "/hello.txt", "/healthz"]
)
def test_other_responses_are_nosniff_only(guarded: Service, path: str) -> None:
    r = authorized(guarded, path)
    assert r.status == 200
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Content-Security-Policy") is None


def test_policy_allows_what_the_shipped_pages_use() -> None:
    policy = dict(
        (d.split()[0], d.split()[1:]) for d in CONTENT_SECURITY_POLICY.decode().split("; ")
    )
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY.decode()
    for directive in ("default-src", "style-src", "img-src", "media-src", "form-action"):
        assert "'self'" in policy[directive]


# --- logs ---------------------------------------------------------------------------


def test_start_up_line(guarded: Service) -> None:
    lines = [line for line in guarded.output().splitlines() if "listening on" in line]
    assert len(lines) == 1
    assert lines[0].endswith(f"content_service listening on http://127.0.0.1:{guarded.port}")


def test_log_lines_carry_the_request_id(guarded: Service) -> None:
    get(guarded, "/index.html", X_Request_ID="req-403-abc")
    get(guarded, "/hello.txt", X_Request_ID="bad id\twith tab")
    authorized(guarded, "/hello.txt", X_Request_ID="req-200-abc")  # success: no line
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # leave mid-way
        sock.connect(("127.0.0.1", guarded.port))
        sock.sendall(
            b"GET /big.bin HTTP/1.1\r\nHost: x\r\nX-Request-ID: req-cut-abc\r\n"
            + f"X-Gatehouse-Token: {TOKEN}\r\n\r\n".encode()
        )
        sock.recv(65536)
    refused = r"WARNING refused GET {}: no valid X-Gatehouse-Token"
    cut = rf"INFO client went away after \d+ of {BIG_SIZE} bytes request_id=req-cut-abc$"
    deadline = time.monotonic() + 10
    while not re.search(cut, guarded.output(), re.M):
        assert time.monotonic() < deadline, guarded.output()
        time.sleep(0.05)
    log = guarded.output()
    assert re.search(refused.format("/index.html") + " request_id=req-403-abc$", log, re.M)
    assert re.search(refused.format("/hello.txt") + "$", log, re.M)  # a malformed id: none
    assert "req-200-abc" not in log
