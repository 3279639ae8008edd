"""Header rules: hop-by-hop stripping, identity headers, head encoding."""

from __future__ import annotations

import pytest

from proxy.headers import (
    HOP_BY_HOP,
    connection_options,
    encode_request_head,
    encode_response_head,
    get,
    has,
    strip_hop_by_hop,
    strip_identity,
)
from proxy.http1 import RequestParser, ResponseParser


def names(headers):
    return [name for name, _ in headers]


@pytest.mark.parametrize(
    "name",
    [
        b"Connection",
        b"Keep-Alive",
        b"Proxy-Connection",
        b"Proxy-Authenticate",
        b"Proxy-Authorization",
        b"TE",
        b"Trailer",
        b"Transfer-Encoding",
        b"Upgrade",
        b"UPGRADE",
        b"transfer-encoding",
    ],
)
def test_hop_by_hop_fields_are_dropped(name):
    assert strip_hop_by_hop([(b"Host", b"a"), (name, b"x")]) == [(b"Host", b"a")]


def test_hop_by_hop_list_matches_rfc_9110():
    assert {b"connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade"} <= HOP_BY_HOP
    assert all(name == name.lower() for name in HOP_BY_HOP)


def test_any_proxy_prefixed_field_is_dropped():
    assert strip_hop_by_hop([(b"Proxy-Foo", b"x")]) == []


def test_fields_named_by_connection_are_dropped():
    headers = [
        (b"Host", b"a"),
        (b"Connection", b"keep-alive, X-Private , x-other"),
        (b"X-Private", b"1"),
        (b"X-Other", b"2"),
        (b"X-Kept", b"3"),
    ]
    assert strip_hop_by_hop(headers) == [(b"Host", b"a"), (b"X-Kept", b"3")]


def test_connection_options_from_several_fields():
    headers = [(b"Connection", b"close"), (b"connection", b" A ,,b\t"), (b"X", b"c")]
    assert connection_options(headers) == {b"close", b"a", b"b"}


def test_connection_options_empty():
    assert connection_options([(b"Host", b"a")]) == frozenset()
    assert connection_options([(b"Connection", b" , ")]) == frozenset()


@pytest.mark.parametrize("name", [b"Host", b"Cookie", b"Content-Length"])
def test_connection_cannot_remove_what_the_proxy_relies_on(name):
    headers = [(b"Connection", name), (name, b"v")]
    assert strip_hop_by_hop(headers) == [(name, b"v")]


def test_identity_and_forwarding_fields_are_dropped():
    headers = [
        (b"Host", b"a"),
        (b"X-Auth-User", b"admin"),
        (b"x-auth-seconds-left", b"9999"),
        (b"X-Forwarded-For", b"10.0.0.1"),
        (b"X-Forwarded-Proto", b"https"),
        (b"X-Forwarded-Host", b"evil"),
        (b"Forwarded", b"for=1.2.3.4"),
        (b"X-Real-IP", b"1.2.3.4"),
        (b"X-Authority", b"kept: only the exact prefix counts"),
        (b"Cookie", b"session=s"),
    ]
    assert names(strip_identity(headers)) == [b"Host", b"X-Authority", b"Cookie"]


def test_get_and_has_are_case_insensitive_by_lower_case_name():
    headers = [(b"Content-Type", b"text/html"), (b"X", b"1"), (b"x", b"2")]
    assert get(headers, b"content-type") == b"text/html"
    assert get(headers, b"x") == b"1"  # the first one
    assert get(headers, b"missing") is None
    assert has(headers, b"x") and not has(headers, b"missing")


def test_encode_request_head():
    head = encode_request_head(b"GET", b"/a?b", [(b"Host", b"a"), (b"X", b"1")])
    assert head == b"GET /a?b HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n"


def test_encode_request_head_without_fields():
    assert encode_request_head(b"GET", b"/", []) == b"GET / HTTP/1.1\r\n\r\n"


def test_encode_response_head():
    head = encode_response_head(404, [(b"Content-Length", b"0")])
    assert head == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def test_encode_response_head_with_unknown_status_has_empty_reason():
    assert encode_response_head(599, []) == b"HTTP/1.1 599 \r\n\r\n"


def test_encoded_request_head_parses_back():
    fields = [(b"Host", b"a"), (b"Content-Length", b"2"), (b"X-Forwarded-For", b"1.2.3.4")]
    [head, *_] = RequestParser().feed(encode_request_head(b"POST", b"/p", fields) + b"hi")
    assert (head.method, head.target, head.headers) == (b"POST", b"/p", fields)


@pytest.mark.parametrize("status", [200, 204, 304, 403, 418, 502, 599])
def test_encoded_response_head_parses_back(status):
    parser = ResponseParser()
    parser.start(b"HEAD")
    [head, *_] = parser.feed(encode_response_head(status, [(b"Content-Length", b"0")]))
    assert head.status == status and head.headers == [(b"Content-Length", b"0")]
