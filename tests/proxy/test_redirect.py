"""The redirect listener's answer, without sockets: a request head in, a 308 (or 400) out."""

from __future__ import annotations

import pytest

from proxy.http1 import RequestHead, ResponseParser
from proxy.redirect import redirect_response
from tests.proxy.wire import message, parse


def answer(*fields: bytes, line: bytes = b"GET /a?b=1 HTTP/1.1", https_port: int = 10443):
    head = parse(message(line, *fields))[0]
    assert isinstance(head, RequestHead)
    parser = ResponseParser()
    parser.start(b"GET")
    response = parser.feed(redirect_response(head, https_port))[0]
    return response.status, dict(response.headers)


@pytest.mark.parametrize(
    ("host", "port", "location"),
    [
        pytest.param(b"localhost:10080", 10443, b"https://localhost:10443/a?b=1", id="name+port"),
        pytest.param(b"Example.ORG", 443, b"https://Example.ORG/a?b=1", id="default-port"),
        pytest.param(b"127.0.0.1:80", 8443, b"https://127.0.0.1:8443/a?b=1", id="ipv4"),
        pytest.param(b"[::1]:8080", 8443, b"https://[::1]:8443/a?b=1", id="ipv6"),
    ],
)
def test_308_to_the_same_path_on_https(host, port, location):
    status, headers = answer(b"Host: " + host, https_port=port)
    assert status == 308
    assert headers[b"location"] == location
    assert headers[b"connection"] == b"close" and headers[b"content-length"] == b"0"
    assert headers[b"date"]


def test_post_is_redirected_with_308_so_the_method_is_kept():
    status, _ = answer(b"Host: a", b"Content-Length: 3", line=b"POST /login HTTP/1.1")
    assert status == 308


@pytest.mark.parametrize(
    "host",
    [
        pytest.param(b"evil.example:notaport", id="bad-port"),
        pytest.param(b"a:1:2", id="two-colons"),
        pytest.param(b"exa%6dple.org", id="percent"),
        pytest.param(b"[::1", id="open-bracket"),
        pytest.param(b"a" * 254, id="too-long"),
    ],
)
def test_a_host_that_cannot_name_the_https_site_gets_400(host):
    status, headers = answer(b"Host: " + host)
    assert status == 400 and b"location" not in headers
    assert headers[b"connection"] == b"close"


def test_http10_without_host_gets_400():
    status, _ = answer(line=b"GET / HTTP/1.0")
    assert status == 400
