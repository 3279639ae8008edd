"""The pure helpers of the forwarding pipeline: what the upstream and the client each see."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from proxy.access import Session
from proxy.forward import (
    client_headers,
    response_framing,
    revalidation_headers,
    rewrite_target,
    upstream_headers,
)
from proxy.http1 import Framing, RequestHead, ResponseHead, ResponseParser
from proxy.http1.writer import encode_request_head
from proxy.routing import Route, Upstream, route
from tests.proxy.wire import message, parse

PEER = b"192.0.2.7"
SESSION = Session(user=b"alice", expires_at=130.0)
NOW = 100.0


def head_of(raw: bytes) -> RequestHead:
    head = parse(raw)[0]
    assert isinstance(head, RequestHead)
    return head


def request(*fields: bytes, line: bytes = b"GET / HTTP/1.1") -> RequestHead:
    return head_of(message(line, *fields))


def values(headers, name: bytes) -> list[bytes]:
    return [v for n, v in headers if n.lower() == name]


def no_date(headers):
    return [(n, v) for n, v in headers if n.lower() != b"date"]


def response(framing: Framing) -> ResponseHead:
    return ResponseHead(200, [], keep_alive=True, framing=framing)


def upstream_response(*fields: bytes) -> ResponseHead:
    """An upstream's response head as the ResponseParser gives it (lower-case names)."""
    parser = ResponseParser()
    parser.start(b"GET")
    head = parser.feed(message(b"HTTP/1.1 200 OK", *fields))[0]
    assert isinstance(head, ResponseHead)
    return head


# --------------------------------------------------------------------------------------------
# upstream_headers
# --------------------------------------------------------------------------------------------


def test_forwarding_headers_are_set():
    out = upstream_headers(request(b"Host: example.org"), PEER, None, NOW)
    assert values(out, b"x-forwarded-for") == [PEER]
    assert values(out, b"x-forwarded-proto") == [b"http"]
    assert values(out, b"x-forwarded-host") == [b"example.org"]
    assert values(out, b"host") == [b"example.org"]


def test_client_forwarding_and_identity_claims_are_replaced():
    head = request(
        b"Host: a",
        b"X-Forwarded-For: 10.0.0.1",
        b"X-Forwarded-Proto: https",
        b"X-Forwarded-Host: evil.example",
        b"Forwarded: for=10.0.0.1",
        b"X-Real-IP: 10.0.0.1",
        b"X-Auth-User: admin",
        b"x-auth-seconds-left: 99999",
    )
    out = upstream_headers(head, PEER, None, NOW)
    assert values(out, b"x-forwarded-for") == [PEER]
    assert values(out, b"x-forwarded-proto") == [b"http"]
    assert values(out, b"x-forwarded-host") == [b"a"]
    for name in (b"forwarded", b"x-real-ip", b"x-auth-user", b"x-auth-seconds-left"):
        assert values(out, name) == [], name


def test_session_identity_comes_from_the_proxy():
    head = request(b"Host: a", b"X-Auth-User: admin", b"Cookie: session=s")
    out = upstream_headers(head, PEER, SESSION, NOW, keep_session_cookie=True)
    assert values(out, b"x-auth-user") == [b"alice"]
    assert values(out, b"x-auth-seconds-left") == [b"30"]
    assert values(out, b"cookie") == [b"session=s"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param([b"Cookie: session=s"], [], id="only-session"),
        pytest.param([b"Cookie: a=1; session=s; b=2"], [b"a=1; b=2"], id="between-others"),
        pytest.param([b"Cookie: __Host-session=s;theme=dark"], [b"theme=dark"], id="host-prefix"),
        pytest.param([b"Cookie: session=1", b"Cookie: x=2"], [b"x=2"], id="two-fields"),
        pytest.param([b"Cookie: Session=s;  sessions=t"], [b"Session=s; sessions=t"], id="names"),
        pytest.param([b"Cookie: session =s; a=1"], [b"a=1"], id="spaced-name"),
    ],
)
def test_session_cookie_never_reaches_the_content_service(fields, expected):
    out = upstream_headers(request(b"Host: a", *fields), PEER, SESSION, NOW)
    assert values(out, b"cookie") == expected


@pytest.mark.parametrize(("tls", "proto"), [(False, b"http"), (True, b"https")])
def test_forwarded_proto_is_the_listeners_scheme(tls, proto):
    out = upstream_headers(request(b"Host: a"), PEER, None, NOW, tls=tls)
    assert values(out, b"x-forwarded-proto") == [proto]


@pytest.mark.parametrize(
    ("token", "expected"), [(None, []), (b"s3cret", [b"s3cret"])], ids=["unset", "set"]
)
def test_internal_token_is_the_proxys_never_the_clients(token, expected):
    head = request(b"Host: a", b"X-Gatehouse-Token: guessed")
    assert values(upstream_headers(head, PEER, None, NOW, token=token), b"x-gatehouse-token") == (
        expected
    )


def test_seconds_left_never_negative():
    out = upstream_headers(request(b"Host: a"), PEER, SESSION, 500.0)
    assert values(out, b"x-auth-seconds-left") == [b"0"]


@pytest.mark.parametrize(
    "option",
    [b"X-Forwarded-For", b"x-forwarded-for", b"X-Forwarded-Host", b"X-Auth-User", b"Host"],
)
def test_connection_cannot_strip_what_the_proxy_adds(option):
    # Apache CVE-2022-31813: `Connection: X-Forwarded-For` removed the proxy's own header.
    out = upstream_headers(request(b"Host: a", b"Connection: " + option), PEER, SESSION, NOW)
    assert values(out, b"x-forwarded-for") == [PEER]
    assert values(out, b"x-forwarded-host") == [b"a"]
    assert values(out, b"x-auth-user") == [b"alice"]
    assert values(out, b"host") == [b"a"]


def test_connection_listed_client_fields_are_dropped():
    out = upstream_headers(
        request(b"Host: a", b"Connection: X-Secret", b"X-Secret: 1"), PEER, None, NOW
    )
    assert values(out, b"x-secret") == [] and values(out, b"connection") == []


def test_connection_cannot_strip_the_cookie():
    out = upstream_headers(
        request(b"Host: a", b"Connection: Cookie", b"Cookie: s=1"), PEER, None, NOW
    )
    assert values(out, b"cookie") == [b"s=1"]


@pytest.mark.parametrize(
    "field",
    [
        b"Connection: keep-alive",
        b"Keep-Alive: timeout=100",
        b"TE: trailers",
        b"Trailer: X",
        b"Upgrade: websocket",
        b"Proxy-Authorization: Basic eA==",
        b"Proxy-Connection: keep-alive",
        b"Expect: 100-continue",
    ],
)
def test_hop_by_hop_and_expect_are_not_forwarded(field):
    name = field.partition(b":")[0].lower()
    out = upstream_headers(request(b"Host: a", field), PEER, None, NOW)
    assert values(out, name) == []


def test_chunked_request_is_forwarded_chunked():
    head = head_of(message(b"POST / HTTP/1.1", b"Host: a", b"transfer-encoding: chunked"))
    out = upstream_headers(head, PEER, None, NOW)
    assert values(out, b"transfer-encoding") == [b"chunked"]
    assert values(out, b"content-length") == []


def test_content_length_is_kept():
    head = head_of(message(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5", body=b"hello"))
    out = upstream_headers(head, PEER, None, NOW)
    assert values(out, b"content-length") == [b"5"]
    assert values(out, b"transfer-encoding") == []


def test_http10_without_host_gets_one():
    out = upstream_headers(request(line=b"GET / HTTP/1.0"), PEER, None, NOW)
    assert values(out, b"host") == [b"localhost"]


def test_http10_empty_host_is_forwarded_as_exactly_one_host():
    # HTTP/1.1 refuses an empty Host in the parser (RFC 9112 §3.2); 1.0 has no such rule.
    out = upstream_headers(request(b"Host: ", line=b"GET / HTTP/1.0"), PEER, None, NOW)
    assert len(values(out, b"host")) == 1


@pytest.mark.parametrize(
    ("raw", "framing"),
    [
        pytest.param(
            message(b"GET / HTTP/1.1", b"Host: a", b"Connection: X-Forwarded-For"),
            Framing.NONE,
            id="GET",
        ),
        pytest.param(
            message(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 2"),
            Framing.LENGTH,
            id="length",
        ),
        pytest.param(
            message(
                b"POST / HTTP/1.1",
                b"Host: a",
                b"Transfer-Encoding: chunked",
                b"Expect: 100-continue",
            ),
            Framing.CHUNKED,
            id="chunked",
        ),
        pytest.param(message(b"GET / HTTP/1.0"), Framing.NONE, id="1.0-no-host"),
    ],
)
def test_upstream_request_head_is_a_valid_request_with_the_same_framing(raw, framing):
    head = head_of(raw)
    out = encode_request_head(head.method, head.target, upstream_headers(head, PEER, SESSION, NOW))
    [again, *rest] = parse(out)
    assert isinstance(again, RequestHead), rest
    assert again.framing is framing and again.keep_alive and not again.expect_continue


@pytest.mark.parametrize(
    "raw",
    [
        message(b"GET / HTTP/1.1", b"X-A: 1", b"Host: a"),
        message(b"GET / HTTP/1.1", b"host: a"),
        message(b"GET / HTTP/1.0", b"Host: a"),
        message(b"GET / HTTP/1.0", b"X-A: 1"),
    ],
    ids=["host-second", "lower-case-host", "1.0", "1.0-no-host"],
)
def test_exactly_one_host_goes_first(raw):
    out = upstream_headers(head_of(raw), PEER, None, NOW)
    assert out[0][0] == b"Host" and len(values(out, b"host")) == 1


@pytest.mark.parametrize("name", [b"X_Auth_User", b"X_Forwarded_For", b"My_Header"])
def test_underscored_client_fields_are_dropped(name):
    out = upstream_headers(request(b"Host: a", name + b": admin"), PEER, None, NOW)
    assert [n for n, _ in out if b"_" in n] == []
    assert values(out, b"x-auth-user") == []


def test_client_fields_pass_lower_case_and_in_order():
    head = request(b"Host: a", b"Accept: */*", b"X-Custom: 1", b"Accept-Language: en")
    out = upstream_headers(head, PEER, None, NOW)
    assert out[1:4] == [(b"accept", b"*/*"), (b"x-custom", b"1"), (b"accept-language", b"en")]


def test_upstream_headers_leaves_the_request_untouched():
    head = request(b"Host: a", b"Connection: X-A", b"X-A: 1", b"X-Forwarded-For: 1.2.3.4")
    fields = list(head.headers)
    upstream_headers(head, PEER, SESSION, NOW)
    assert head.headers == fields


def test_revalidation_asks_with_the_stored_etag_instead_of_the_clients_conditionals():
    head = request(
        b"Host: x", b'If-None-Match: "client"', b"If-Modified-Since: Sun, 22 Nov 2026 06:00:00 GMT"
    )
    out = revalidation_headers(upstream_headers(head, PEER, None, NOW), b'"stored"')
    assert values(out, b"if-none-match") == [b'"stored"']
    assert values(out, b"if-modified-since") == []


# --------------------------------------------------------------------------------------------
# rewrite_target
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "session", "expected"),
    [
        (b"/", SESSION, b"/secret.html"),
        (b"/index.html", SESSION, b"/secret.html"),
        (b"/?lang=en", SESSION, b"/secret.html?lang=en"),
        (b"/index.html?", SESSION, b"/secret.html?"),
        (b"/", None, b"/"),
        (b"/index.html?x=1", None, b"/index.html?x=1"),
        (b"/images/1.jpg", SESSION, b"/images/1.jpg"),
        (b"/static/site.css", SESSION, b"/static/site.css"),
    ],
)
def test_rewrite_target(target, session, expected):
    head = request(b"Host: a", line=b"GET " + target + b" HTTP/1.1")
    assert rewrite_target(head, route(head.method, head.path), session) == expected


# --------------------------------------------------------------------------------------------
# response_framing
# --------------------------------------------------------------------------------------------

HTTP11 = request(b"Host: a")
HTTP10 = request(line=b"GET / HTTP/1.0")


@pytest.mark.parametrize(
    ("client", "framing", "expected"),
    [
        (HTTP11, Framing.NONE, (False, False)),
        (HTTP11, Framing.LENGTH, (False, False)),
        (HTTP11, Framing.CHUNKED, (True, False)),
        (HTTP11, Framing.CLOSE, (True, False)),  # re-framed chunked, the client stays
        (HTTP10, Framing.NONE, (False, False)),
        (HTTP10, Framing.LENGTH, (False, False)),
        (HTTP10, Framing.CHUNKED, (False, True)),  # a 1.0 client knows no chunked: close ends it
        (HTTP10, Framing.CLOSE, (False, True)),
    ],
    ids=lambda v: v.version.decode() if isinstance(v, RequestHead) else None,
)
def test_response_framing(client, framing, expected):
    assert response_framing(client, response(framing=framing)) == expected


# --------------------------------------------------------------------------------------------
# client_headers
# --------------------------------------------------------------------------------------------

PUBLIC = Route(Upstream.CONTENT, public=True)
PRIVATE = Route(Upstream.CONTENT, public=False)
HOME = Route(Upstream.CONTENT, public=True, home=True)


def test_upstream_hop_by_hop_fields_are_not_relayed():
    upstream = upstream_response(
        b"Content-Type: text/html",
        b"Connection: keep-alive, X-Internal",
        b"Keep-Alive: timeout=5",
        b"X-Internal: 1",
        b"Proxy-Authenticate: Basic",
        b"Proxy-Foo: 1",
        b"Transfer-Encoding: chunked",
        b"Upgrade: h2c",
    )
    assert upstream.framing is Framing.CHUNKED
    assert no_date(client_headers(upstream, PUBLIC, chunked=False)) == [
        (b"content-type", b"text/html")
    ]


def test_upstream_connection_cannot_strip_content_length():
    upstream = upstream_response(b"Connection: Content-Length", b"Content-Length: 1")
    assert no_date(client_headers(upstream, PUBLIC, chunked=False)) == [(b"content-length", b"1")]


def test_chunked_to_the_client_says_so_once():
    upstream = upstream_response(b"Transfer-Encoding: chunked")
    assert no_date(client_headers(upstream, PUBLIC, chunked=True)) == [
        (b"Transfer-Encoding", b"chunked")
    ]


def test_public_file_keeps_upstream_caching():
    upstream = upstream_response(b"Cache-Control: public, max-age=60")
    assert no_date(client_headers(upstream, PUBLIC, chunked=False)) == [
        (b"cache-control", b"public, max-age=60")
    ]


def test_what_passes_between_proxy_and_services_never_reaches_the_client():
    upstream = upstream_response(
        b"X-Auth-Revoked-User: alice",
        b"x-auth-user: alice",
        b"X-Gatehouse-Token: s3cret",
        b"X-Other: kept",
    )
    assert no_date(client_headers(upstream, PUBLIC, chunked=False)) == [(b"x-other", b"kept")]


def test_date_is_added_when_the_upstream_sent_none():
    [date] = values(client_headers(upstream_response(), PUBLIC, chunked=False), b"date")
    assert parsedate_to_datetime(date.decode()).tzname() == "UTC"
    sent = upstream_response(b"Date: Tue, 01 Dec 2026 10:00:00 GMT")
    assert values(client_headers(sent, PUBLIC, chunked=False), b"date") == [
        b"Tue, 01 Dec 2026 10:00:00 GMT"
    ]


def test_private_page_is_not_cached_by_shared_caches():
    out = client_headers(upstream_response(b"Content-Length: 1"), PRIVATE, chunked=False)
    assert values(out, b"cache-control") == [b"private, no-cache"]
    assert values(out, b"vary") == []


@pytest.mark.parametrize("where", [PRIVATE, HOME], ids=["private", "home"])
@pytest.mark.parametrize(
    "fields",
    [
        pytest.param((b"Cache-Control: no-store",), id="no-store"),
        pytest.param((b"Cache-Control: public, max-age=60",), id="public"),
        pytest.param((b"cache-control: max-age=5", b"Cache-Control: public"), id="two-fields"),
    ],
)
def test_upstream_cache_control_is_replaced_on_session_pages(where, fields):
    # The proxy decides what a session page may be cached as, whatever the upstream said.
    out = client_headers(upstream_response(b"Content-Length: 0", *fields), where, chunked=False)
    assert values(out, b"cache-control") == [b"private, no-cache"]
    assert values(out, b"content-length") == [b"0"]


def test_home_varies_by_cookie():
    out = client_headers(upstream_response(), HOME, chunked=False)
    assert values(out, b"cache-control") == [b"private, no-cache"]
    assert values(out, b"vary") == [b"Cookie"]


def test_home_adds_cookie_to_the_upstreams_vary():
    out = client_headers(upstream_response(b"Vary: Accept-Encoding"), HOME, chunked=False)
    varies = b",".join(values(out, b"vary")).lower()
    assert b"accept-encoding" in varies and b"cookie" in varies


def test_client_headers_leaves_the_response_untouched():
    upstream = upstream_response(b"Connection: close", b"X: 1", b"Cache-Control: no-store")
    fields = list(upstream.headers)
    assert fields == [(b"connection", b"close"), (b"x", b"1"), (b"cache-control", b"no-store")]
    client_headers(upstream, HOME, chunked=True)
    assert upstream.headers == fields


# --------------------------------------------------------------------------------------------
# Cookies: the parser joins them for the session check; the upstream gets them as sent
# --------------------------------------------------------------------------------------------


def test_no_cookie():
    assert request(b"Host: a").cookie is None


def test_one_cookie_field():
    assert request(b"Host: a", b"Cookie: session=s; theme=dark").cookie == b"session=s; theme=dark"


def test_several_cookie_fields_are_joined():
    head = request(b"cookie: a=1", b"Host: a", b"COOKIE: session=s")
    assert head.cookie == b"a=1; session=s"


def test_several_cookie_fields_are_forwarded_as_sent():
    head = request(b"Host: a", b"Cookie: a=1", b"Cookie: b=2")
    assert head.cookie == b"a=1; b=2"
    assert values(upstream_headers(head, PEER, None, NOW), b"cookie") == [b"a=1", b"b=2"]
