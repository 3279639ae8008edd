"""Header rules: hop-by-hop stripping, identity headers, head encoding.

`request_fields` and `response_fields` take lower-case names, as the parsers produce them;
the tests that start from raw bytes check the whole path, parser included.
"""

from __future__ import annotations

import pytest

from proxy.http1 import RequestHead, RequestParser, ResponseParser, headers
from proxy.http1.headers import HOP_BY_HOP, connection_options, get, request_fields, response_fields
from proxy.http1.writer import encode_request_head, encode_response_head
from tests.proxy.wire import message

NO_OPTIONS: frozenset[bytes] = frozenset()
FIELDS = (request_fields, response_fields)


def names(headers):
    return [name for name, _ in headers]


def parsed(*lines: bytes) -> RequestHead:
    [head, *_] = RequestParser().feed(message(b"GET / HTTP/1.1", b"Host: a", *lines))
    assert isinstance(head, RequestHead)
    return head


# --------------------------------------------------------------------------------------------
# Hop-by-hop fields, both directions
# --------------------------------------------------------------------------------------------

HOP_BY_HOP_NAMES = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
]


@pytest.mark.parametrize("fields", FIELDS)
@pytest.mark.parametrize("name", HOP_BY_HOP_NAMES)
def test_hop_by_hop_fields_are_dropped(fields, name):
    headers = [(b"accept", b"a"), (name, b"x")]
    assert fields(headers, NO_OPTIONS) == [(b"accept", b"a")]


@pytest.mark.parametrize(
    "line",
    [
        b"Connection: keep-alive",
        b"Keep-Alive: timeout=5",
        b"Proxy-Connection: keep-alive",
        b"Proxy-Authorization: Basic eA==",
        b"TE: trailers",
        b"Trailer: X",
        b"UPGRADE: websocket",
        b"transfer-ENCODING: chunked",
    ],
)
def test_hop_by_hop_fields_are_dropped_whatever_their_case_on_the_wire(line):
    head = parsed(line)
    assert request_fields(head.headers, head.connection) == []


def test_hop_by_hop_list_matches_rfc_9110():
    assert {b"connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade"} <= HOP_BY_HOP
    assert all(name == name.lower() for name in HOP_BY_HOP)
    assert set(HOP_BY_HOP_NAMES) == HOP_BY_HOP


@pytest.mark.parametrize("fields", FIELDS)
def test_any_proxy_prefixed_field_is_dropped(fields):
    assert fields([(b"proxy-foo", b"x"), (b"proxyish", b"y")], NO_OPTIONS) == [(b"proxyish", b"y")]


@pytest.mark.parametrize("fields", FIELDS)
def test_fields_named_by_connection_are_dropped(fields):
    headers = [
        (b"accept", b"a"),
        (b"connection", b"keep-alive, X-Private , x-other"),
        (b"x-private", b"1"),
        (b"x-other", b"2"),
        (b"x-kept", b"3"),
    ]
    options = connection_options([b"keep-alive, X-Private , x-other"])
    assert fields(headers, options) == [(b"accept", b"a"), (b"x-kept", b"3")]


def test_fields_named_by_connection_are_dropped_from_a_parsed_request():
    head = parsed(b"Connection: X-Private", b"X-Private: 1", b"connection: X-OTHER", b"X-Other: 2")
    assert head.connection == {b"x-private", b"x-other"}
    assert request_fields(head.headers, head.connection) == []


def test_connection_options_from_several_fields():
    assert connection_options([b"close", b" A ,,b\t"]) == {b"close", b"a", b"b"}


def test_remembered_connection_options_are_bounded():
    for n in range(200):
        assert connection_options([b"close, x-%d" % n]) == {b"close", b"x-%d" % n}
    assert len(headers._options_of) <= 64


def test_connection_options_empty():
    assert connection_options([]) == frozenset()
    assert connection_options([b" , "]) == frozenset()
    assert connection_options([b""]) == frozenset()


@pytest.mark.parametrize("name", [b"cookie", b"content-length"])
def test_connection_cannot_remove_what_the_proxy_relies_on_in_a_request(name):
    assert request_fields([(name, b"v")], frozenset({name})) == [(name, b"v")]


@pytest.mark.parametrize("name", [b"host", b"cookie", b"content-length"])
def test_connection_cannot_remove_what_the_proxy_relies_on_in_a_response(name):
    assert response_fields([(name, b"v")], frozenset({name})) == [(name, b"v")]


# --------------------------------------------------------------------------------------------
# What only a request loses
# --------------------------------------------------------------------------------------------


def test_identity_and_forwarding_fields_are_dropped():
    headers = [
        (b"x-auth-user", b"admin"),
        (b"x-auth-seconds-left", b"9999"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"evil"),
        (b"forwarded", b"for=1.2.3.4"),
        (b"x-real-ip", b"1.2.3.4"),
        (b"proxy", b"http://evil.example:8080"),  # httpoxy
        (b"x-authority", b"kept: only the exact prefix counts"),
        (b"cookie", b"session=s"),
    ]
    assert names(request_fields(headers, NO_OPTIONS)) == [b"x-authority", b"cookie"]


@pytest.mark.parametrize(
    "name", [b"x_auth_user", b"x_forwarded_for", b"x-auth_user", b"my_header", b"_"]
)
def test_names_with_underscores_are_dropped(name):
    # CGI-style upstreams read `X_Auth_User` as `X-Auth-User` (nginx drops them by default).
    headers = [(name, b"admin"), (b"x-my-header", b"1")]
    assert request_fields(headers, NO_OPTIONS) == [(b"x-my-header", b"1")]


def test_underscored_identity_claim_from_a_parsed_request_is_dropped():
    head = parsed(b"X_Auth_User: admin", b"X-Kept: 1")
    assert request_fields(head.headers, head.connection) == [(b"x-kept", b"1")]


@pytest.mark.parametrize("name", [b"expect", b"host"])
def test_what_the_proxy_answers_or_sets_itself_is_dropped(name):
    assert request_fields([(name, b"v"), (b"accept", b"a")], NO_OPTIONS) == [(b"accept", b"a")]


def test_request_fields_keeps_order_duplicates_and_the_input():
    headers = [
        (b"accept", b"a"),
        (b"cookie", b"a=1"),
        (b"x-forwarded-for", b"x"),
        (b"cookie", b"b=2"),
    ]
    before = list(headers)
    out = request_fields(headers, NO_OPTIONS)
    assert out == [(b"accept", b"a"), (b"cookie", b"a=1"), (b"cookie", b"b=2")]
    assert headers == before and out is not headers


def test_response_fields_keeps_what_is_not_hop_by_hop_or_for_the_proxy_alone():
    # Underscores only matter on the way to the upstream; what the services tell only the
    # proxy (X-Auth-*, the internal token) never reaches a client.
    headers = [
        (b"set-cookie", b"a=1"),
        (b"x-auth-user", b"alice"),
        (b"x-auth-revoked-user", b"alice"),
        (b"x-gatehouse-token", b"t"),
        (b"x_debug", b"1"),
        (b"expect", b"x"),
        (b"keep-alive", b"timeout=5"),
    ]
    assert response_fields(headers, NO_OPTIONS) == [
        (b"set-cookie", b"a=1"),
        (b"x_debug", b"1"),
        (b"expect", b"x"),
    ]


# --------------------------------------------------------------------------------------------
# get and encoding
# --------------------------------------------------------------------------------------------


def test_get_compares_lower_case_names_exactly():
    headers = [(b"content-type", b"text/html"), (b"x", b"1"), (b"x", b"2")]
    assert get(headers, b"content-type") == b"text/html"
    assert get(headers, b"x") == b"1"  # the first one
    assert get(headers, b"missing") is None
    assert get(headers, b"Content-Type") is None


def test_encode_request_head():
    head = encode_request_head(b"GET", b"/a?b", [(b"Host", b"a"), (b"X", b"1")])
    assert head == b"GET /a?b HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n"


def test_encode_request_head_without_fields():
    assert encode_request_head(b"GET", b"/", []) == b"GET / HTTP/1.1\r\n\r\n"


def test_encode_response_head():
    head = encode_response_head(404, [(b"Content-Length", b"0")])
    assert head == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def test_encode_response_head_without_fields():
    assert encode_response_head(200, []) == b"HTTP/1.1 200 OK\r\n\r\n"


def test_encode_response_head_with_unknown_status_has_empty_reason():
    assert encode_response_head(599, []) == b"HTTP/1.1 599 \r\n\r\n"


def test_encoded_request_head_parses_back():
    fields = [(b"Host", b"a"), (b"Content-Length", b"2"), (b"X-Forwarded-For", b"1.2.3.4")]
    [head, *_] = RequestParser().feed(encode_request_head(b"POST", b"/p", fields) + b"hi")
    lowered = [(name.lower(), value) for name, value in fields]
    assert (head.method, head.target, head.headers) == (b"POST", b"/p", lowered)


@pytest.mark.parametrize("status", [200, 204, 304, 403, 418, 502, 599])
def test_encoded_response_head_parses_back(status):
    parser = ResponseParser()
    parser.start(b"HEAD")
    [head, *_] = parser.feed(encode_response_head(status, [(b"Content-Length", b"0")]))
    assert head.status == status and head.headers == [(b"content-length", b"0")]
