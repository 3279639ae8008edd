"""The proxy's own error pages, and the error hierarchy they are built from."""

from __future__ import annotations

import base64
import hashlib
import re
from email.utils import parsedate_to_datetime

import pytest

from proxy import errors
from proxy.http1 import ResponseParser
from proxy.http1.writer import encode_response_head
from proxy.pages import error_response, render

KEEP = [(b"Connection", b"keep-alive"), (b"Keep-Alive", b"timeout=5, max=99")]
CLOSE = [(b"Connection", b"close")]


def get(headers, name: bytes) -> bytes | None:
    """The first value of a field the proxy wrote (in its own spelling), by lower-case name."""
    return next((value for key, value in headers if key.lower() == name), None)


def test_403_page():
    page = render(403, "Log in first.").decode()
    assert page.startswith("<!doctype html>")
    assert "403 Forbidden" in page and "Members only" in page
    assert "Log in first." in page and "Go to the login page" in page


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (404, "Page not found"),
        (502, "The site is having trouble"),
        (503, "Too busy right now"),
        (504, "The site is taking too long"),
        (400, "Bad Request"),
        (431, "Request Header Fields Too Large"),
    ],
)
def test_titles(status, title):
    page = render(status, "x").decode()
    assert f"<h1>{title}</h1>" in page and f'<p class="code">{status}</p>' in page


def test_detail_is_escaped():
    page = render(400, '<script>alert("x")</script> & more').decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page


def test_unknown_status_has_no_phrase():
    assert "<title>599  · Gatehouse</title>" in render(599, "x").decode()


def test_page_needs_no_stylesheet_from_upstream():
    page = render(502, "down").decode()
    assert "<style>" in page and "stylesheet" not in page


def test_error_response_headers_and_body():
    headers, body = error_response(errors.Forbidden("Log in first."), KEEP)
    assert body == render(403, "Log in first.")
    assert get(headers, b"content-type") == b"text/html; charset=utf-8"
    assert get(headers, b"content-length") == b"%d" % len(body)
    assert get(headers, b"cache-control") == b"no-store"
    assert get(headers, b"retry-after") is None
    assert headers[-2:] == KEEP


def test_503_says_when_to_retry():
    headers, _ = error_response(errors.ServiceUnavailable(), CLOSE)
    assert get(headers, b"retry-after") == b"1"
    assert headers[-1] == (b"Connection", b"close")


def test_error_response_does_not_change_the_connection_headers_passed_in():
    connection = list(CLOSE)
    error_response(errors.BadRequest(), connection)
    assert connection == list(CLOSE)


@pytest.mark.parametrize(
    "error",
    [
        errors.BadRequest(),
        errors.Forbidden(),
        errors.PayloadTooLarge(),
        errors.HeaderFieldsTooLarge(),
        errors.BadGateway("x"),
        errors.ServiceUnavailable(),
    ],
    ids=lambda e: str(e.status),
)
def test_error_response_parses_as_one_complete_response(error):
    headers, body = error_response(error, CLOSE)
    parser = ResponseParser()
    parser.start(b"GET")
    events = parser.feed(encode_response_head(error.status, headers) + body)
    assert events[0].status == error.status
    assert b"".join(e.data for e in events[1:-1]) == body and parser.complete


# --------------------------------------------------------------------------------------------
# errors.py: the status each error is answered with, and whether the connection survives
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "status", "close"),
    [
        (errors.BadRequest, 400, True),
        (errors.Forbidden, 403, False),
        (errors.RequestTimeout, 408, True),
        (errors.PayloadTooLarge, 413, True),
        (errors.URITooLong, 414, True),
        (errors.ExpectationFailed, 417, True),
        (errors.HeaderFieldsTooLarge, 431, True),
        (errors.NotImplementedByProxy, 501, True),
        (errors.BadGateway, 502, False),
        (errors.ServiceUnavailable, 503, True),
        (errors.GatewayTimeout, 504, False),
        (errors.VersionNotSupported, 505, True),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_error_status_and_close(cls, status, close):
    error = cls()
    assert (error.status, error.close) == (status, close)
    assert isinstance(error, errors.ProxyError)
    assert error.detail  # every error has a human sentence for its page


def test_detail_defaults_to_the_docstring():
    assert errors.Forbidden().detail == "You need to log in to see this page."
    assert errors.Forbidden("Custom.").detail == "Custom."
    assert str(errors.Forbidden("Custom.")) == "Custom."


def test_error_pages_carry_the_security_headers_and_a_date():
    headers, _ = error_response(errors.Forbidden(), list(CLOSE))
    assert get(headers, b"x-content-type-options") == b"nosniff"
    assert get(headers, b"referrer-policy") == b"same-origin"
    assert get(headers, b"x-frame-options") == b"DENY"
    assert parsedate_to_datetime(get(headers, b"date").decode()).tzname() == "UTC"


def test_csp_allows_exactly_the_inline_style_and_nothing_else():
    headers, body = error_response(errors.BadGateway(), list(CLOSE))
    csp = dict(
        d.strip().split(" ", 1)
        for d in get(headers, b"content-security-policy").decode().split(";")
    )
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert "script-src" not in csp and "unsafe-inline" not in str(csp)
    [style] = re.findall(rb"<style>(.*?)</style>", body, re.S)
    digest = base64.b64encode(hashlib.sha256(style).digest()).decode()
    assert csp["style-src"] == f"'sha256-{digest}'"
    assert b"<script" not in body and b" style=" not in body
