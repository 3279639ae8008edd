"""RequestParser and ResponseParser: bytes in, events out.

Each refusal case is one line of a matrix; the ids say what the request does wrong. A refused
request must end the event stream with a `ProtocolError`, which the proxy answers with its
status and a close (the framing can no longer be trusted), and no END for it: its bytes never
become a request.
"""

from __future__ import annotations

import pytest

from proxy import errors
from proxy.http1 import (
    END,
    BrokenResponse,
    Framing,
    Limits,
    RequestHead,
    RequestParser,
    ResponseHead,
    ResponseParser,
)
from tests.proxy.wire import body_of, chunked, get, heads, kinds, message, normalise, parse, post

# --------------------------------------------------------------------------------------------
# Valid requests
# --------------------------------------------------------------------------------------------


def test_simple_get():
    [head, end] = parse(b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n")
    assert isinstance(head, RequestHead) and end is END
    assert (head.method, head.target, head.path, head.version) == (
        b"GET",
        b"/a/b?x=1",
        b"/a/b",
        b"1.1",
    )
    assert head.headers == [(b"host", b"example.org"), (b"accept", b"*/*")]
    assert head.host == b"example.org"
    assert head.keep_alive and head.framing is Framing.NONE and head.content_length is None
    assert not head.expect_continue


def test_parsers_lower_case_field_names_and_keep_values():
    [request, _] = parse(
        message(
            b"GET / HTTP/1.1",
            b"HOST: a",
            b"X-Mixed-Case: Value",
            b"Connection: Keep-Alive, X-Mixed-Case",
            b"Cookie: A=1",
            b"cOOKIE: b=2",
        )
    )
    assert request.headers == [
        (b"host", b"a"),
        (b"x-mixed-case", b"Value"),
        (b"connection", b"Keep-Alive, X-Mixed-Case"),
        (b"cookie", b"A=1"),
        (b"cookie", b"b=2"),
    ]
    assert request.connection == {b"keep-alive", b"x-mixed-case"}
    assert request.cookie == b"A=1; b=2"
    [response, *_] = respond(
        b"HTTP/1.1 200 OK\r\nContent-TYPE: Text/HTML\r\nConnection: X-Internal, Close\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert response.headers == [
        (b"content-type", b"Text/HTML"),
        (b"connection", b"X-Internal, Close"),
        (b"content-length", b"0"),
    ]
    assert response.connection == {b"x-internal", b"close"}


def test_no_connection_or_cookie_field():
    [head, _] = parse(get())
    assert head.connection == frozenset() and head.cookie is None
    [response, *_] = respond(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert response.connection == frozenset()


def test_content_length_body():
    events = parse(post(b"Content-Length: 5", body=b"hello"))
    assert kinds(events) == ["head", "body", "end"]
    assert events[0].framing is Framing.LENGTH and events[0].content_length == 5
    assert body_of(events) == b"hello"


def test_content_length_zero_has_no_body():
    [head, end] = parse(post(b"Content-Length: 0"))
    assert head.framing is Framing.NONE and head.content_length == 0 and end is END


def test_chunked_body():
    events = parse(chunked(b"3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n"))
    assert kinds(events) == ["head", "body", "body", "end"]
    assert events[0].framing is Framing.CHUNKED
    assert body_of(events) == b"abc0123456789"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"3;name=val\r\nabc\r\n0\r\n\r\n", id="extension"),
        pytest.param(b'3;name="a b"\r\nabc\r\n0\r\n\r\n', id="quoted-extension"),
        pytest.param(b"0003\r\nabc\r\n0\r\n\r\n", id="leading-zeros"),
        pytest.param(b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", id="trailer-field"),
    ],
)
def test_chunked_variants_accepted(body):
    events = parse(chunked(body))
    assert kinds(events) == ["head", "body", "end"] and body_of(events) == b"abc"


def test_trailer_fields_do_not_join_the_head():
    events = parse(chunked(b"0\r\nX-Trailer: 1\r\n\r\n"))
    assert events[0].headers == [(b"host", b"a"), (b"transfer-encoding", b"chunked")]


@pytest.mark.parametrize(
    "field",
    [
        pytest.param(b"Transfer-Encoding: CHUNKED", id="upper-case-value"),
        pytest.param(b"transfer-encoding: chunked", id="lower-case-name"),
        pytest.param(b"Transfer-Encoding:chunked", id="no-space"),
        pytest.param(b"Transfer-Encoding:  chunked  ", id="spaces-around"),
    ],
)
def test_transfer_encoding_chunked_spellings_accepted(field):
    events = parse(post(field, body=b"1\r\nx\r\n0\r\n\r\n"))
    assert kinds(events) == ["head", "body", "end"]
    assert events[0].framing is Framing.CHUNKED


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True, id="1.1-default"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False, id="1.1-close"
        ),
        pytest.param(b"GET / HTTP/1.0\r\n\r\n", False, id="1.0-default"),
        pytest.param(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True, id="1.0-keep-alive"
        ),
    ],
)
def test_keep_alive(raw, keep_alive):
    assert parse(raw)[0].keep_alive is keep_alive


def test_http10_without_host_is_accepted():
    [head, _] = parse(b"GET / HTTP/1.0\r\n\r\n")
    assert head.version == b"1.0" and head.host == b""


def test_host_with_port():
    assert parse(get())[0].host == b"a"
    assert parse(b"GET / HTTP/1.1\r\nHost: a:8080\r\n\r\n")[0].host == b"a:8080"


def test_empty_line_before_request_is_ignored():
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    assert kinds(parse(b"\r\n" + get())) == ["head", "end"]


def test_options_asterisk():
    [head, _] = parse(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    assert head.target == b"*"


def test_expect_continue_with_body_waits_for_it():
    events = parse(post(b"Expect: 100-Continue", b"Content-Length: 3"))
    assert kinds(events) == ["head"] and events[0].expect_continue
    events = parse(post(b"Expect: 100-continue", b"Transfer-Encoding: chunked"))
    assert kinds(events) == ["head"] and events[0].expect_continue


def test_expect_continue_body_is_the_body_and_the_next_request_follows():
    # The body that follows 100 Continue is never parsed as a request (Go CVE-2024-24791).
    head = post(b"Expect: 100-continue", b"Content-Length: %d" % len(get(b"/x")))
    parser = RequestParser()
    assert kinds(parser.feed(head)) == ["head"]
    events = parser.feed(get(b"/x") + get(b"/next"))
    assert kinds(events) == ["body", "end", "head", "end"]
    assert body_of(events) == get(b"/x") and events[2].target == b"/next"


def test_expect_continue_without_body_is_ignored():
    [head, _] = parse(get(b"/", b"Expect: 100-continue"))
    assert not head.expect_continue


def test_expect_continue_is_ignored_for_http10():
    # RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
    events = parse(post(b"Expect: 100-continue", b"Content-Length: 3", version=b"HTTP/1.0"))
    assert not events[0].expect_continue


def test_unknown_expectation_is_417():
    assert kinds(parse(get(b"/", b"Expect: something-else"))) == [417]


# --------------------------------------------------------------------------------------------
# Refused before the head: the request never reaches the proxy's logic
# --------------------------------------------------------------------------------------------

HEAD_REFUSALS = [
    # Ambiguous framing (RFC 9112 §6.3).
    pytest.param(
        post(b"Content-Length: 3", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        400,
        id="CL+TE",
    ),
    pytest.param(
        post(b"Transfer-Encoding: chunked", b"Content-Length: 3", body=b"0\r\n\r\n"),
        400,
        id="TE+CL",
    ),
    pytest.param(
        post(b"Transfer-Encoding: chunked", b"X: y", b"Content-Length: 0"), 400, id="TE+CL-apart"
    ),
    pytest.param(
        post(b"Content-Length: 3", b"Transfer-Encoding: chunked", version=b"HTTP/1.0"),
        400,
        id="CL+TE-on-1.0",
    ),
    pytest.param(
        post(b"Content-Length: 3", b"Content-Length: 3", body=b"abc"), 400, id="duplicate-CL-same"
    ),
    pytest.param(
        post(b"Content-Length: 3", b"Content-Length: 4", body=b"abcd"),
        400,
        id="duplicate-CL-differ",
    ),
    pytest.param(post(b"Content-Length: 3, 3", body=b"abc"), 400, id="CL-list"),
    pytest.param(post(b"Content-Length: ,3", body=b"abc"), 400, id="CL-leading-comma"),
    pytest.param(post(b"Content-Length: +3", body=b"abc"), 400, id="CL-plus-sign"),
    pytest.param(post(b"Content-Length: -3", body=b"abc"), 400, id="CL-minus-sign"),
    pytest.param(post(b"Content-Length: 1 2", body=b"abc"), 400, id="CL-space-inside"),
    pytest.param(post(b"Content-Length: 0x3", body=b"abc"), 400, id="CL-hex"),
    pytest.param(post(b"Content-Length: 3.0", body=b"abc"), 400, id="CL-decimal"),
    pytest.param(post(b"Content-Length: 1_0", body=b"abc"), 400, id="CL-underscore"),
    pytest.param(post("Content-Length: \uff13".encode(), body=b"abc"), 400, id="CL-unicode-digit"),
    pytest.param(post(b"Content-Length: ", body=b"abc"), 400, id="CL-empty"),
    pytest.param(post(b"Content-Length : 3", body=b"abc"), 400, id="CL-space-before-colon"),
    # Transfer codings other than exactly `chunked` (CVE-2019-18277, CVE-2024-6827).
    pytest.param(
        post(b"Transfer-Encoding: chunked, identity", body=b"0\r\n\r\n"),
        400,
        id="TE-chunked,identity",
    ),
    pytest.param(
        post(b"Transfer-Encoding: identity, chunked", body=b"0\r\n\r\n"),
        501,
        id="TE-identity,chunked",
    ),
    pytest.param(post(b"Transfer-Encoding: xchunked", body=b"0\r\n\r\n"), 501, id="TE-xchunked"),
    pytest.param(
        post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"), 400, id="TE-twice"
    ),
    pytest.param(post(b"Transfer-Encoding: chunked, chunked"), 400, id="TE-chunked,chunked"),
    pytest.param(post(b"Transfer-Encoding: chunked , chunked"), 400, id="TE-chunked-space-comma"),
    pytest.param(post(b"Transfer-Encoding: chunked,"), 400, id="TE-trailing-comma"),
    pytest.param(post(b"Transfer-Encoding: ,chunked"), 501, id="TE-leading-comma"),
    pytest.param(
        post(b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"), 501, id="TE-gzip,chunked"
    ),
    pytest.param(
        post(b"Transfer-Encoding: gzip,chunked", body=b"0\r\n\r\n"),
        501,
        id="TE-gzip,chunked-nospace",
    ),
    pytest.param(
        post(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"),
        501,
        id="TE-gzip-then-chunked-fields",
    ),
    pytest.param(
        post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip"),
        400,
        id="TE-chunked-then-gzip-fields",
    ),
    pytest.param(post(b"Transfer-Encoding: identity", body=b"abc"), 501, id="TE-identity"),
    pytest.param(post(b"Transfer-Encoding: chunked;q=1"), 501, id="TE-with-parameter"),
    pytest.param(post(b'Transfer-Encoding: "chunked"'), 501, id="TE-quoted"),
    pytest.param(post(b"Transfer-Encoding: \x0bchunked"), 400, id="TE-vertical-tab"),
    pytest.param(
        post(b"Transfer-Encoding : chunked", body=b"0\r\n\r\n"), 400, id="TE-space-before-colon"
    ),
    pytest.param(post(b"Transfer-Encoding: "), 400, id="TE-empty"),
    pytest.param(post(b"Transfer-Encoding: chunked", version=b"HTTP/1.0"), 400, id="TE-on-1.0"),
    pytest.param(
        post(b"Transfer-Encoding: identity", version=b"HTTP/1.0"), 400, id="TE-identity-on-1.0"
    ),
    # Bad bytes in the head.
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, id="bare-CR-in-value"),
    pytest.param(b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400, id="bare-CR-after-request-line"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400, id="bare-CR-in-final-line"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, id="NUL-in-value"),
    pytest.param(b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="NUL-in-target"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400, id="control-char-in-value"
    ),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, id="DEL-in-value"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n", 400, id="control-char-in-name"),
    pytest.param(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="non-ascii-target"),
    pytest.param(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="space-in-target"),
    # Field syntax.
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, id="obs-fold-space"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400, id="obs-fold-tab"),
    pytest.param(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, id="whitespace-before-first-field"),
    pytest.param(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, id="space-before-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, id="tab-before-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n: hidden\r\n\r\n", 400, id="empty-field-name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", 400, id="paren-in-name"),
    pytest.param(b'GET / HTTP/1.1\r\nHost: a\r\nX"y: b\r\n\r\n', 400, id="quote-in-name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, id="missing-colon"),
    # Request line.
    pytest.param(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="bad-method-token"),
    pytest.param(b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="lower-case-method"),
    pytest.param(b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="unknown-method"),
    pytest.param(b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="tab-after-method"),
    pytest.param(b"GET  HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="missing-target"),
    pytest.param(b"GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="relative-target"),
    pytest.param(b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="absolute-form"),
    pytest.param(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="asterisk-not-options"),
    pytest.param(b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, id="lower-case-http"),
    pytest.param(b"GET / HTTP\r\nHost: a\r\n\r\n", 400, id="version-without-number"),
    pytest.param(b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, id="version-1.10"),
    # Versions.
    pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="HTTP/2.0"),
    pytest.param(b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 400, id="HTTP/3.0"),
    pytest.param(b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 400, id="HTTP/0.9-version"),
    pytest.param(b"GET /\r\n\r\n", 400, id="HTTP/0.9-line"),
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, id="h2-preface"),
    # Bare LF line endings: rejected, deliberately (a front end that accepts them while a
    # back end does not is a desync).
    pytest.param(b"GET / HTTP/1.1\nHost: a\n\n", 400, id="bare-LF-everywhere"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400, id="bare-LF-after-field"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400, id="bare-LF-final-line"),
    # Host (RFC 9112 §3.2).
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="1.1-without-Host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-Hosts"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, id="two-equal-Hosts"),
    pytest.param(b"GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n", 400, id="two-Hosts-case"),
    pytest.param(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-Hosts-on-1.0"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, id="Host-slash"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, id="Host-userinfo"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="Host-space"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n", 400, id="Host-tab"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400, id="Host-backslash"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a?b\r\n\r\n", 400, id="Host-question-mark"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a#b\r\n\r\n", 400, id="Host-hash"),
    # Methods and expectations the proxy does not serve.
    pytest.param(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501, id="CONNECT"),
    pytest.param(get(b"/", b"Expect: 200-ok"), 417, id="unknown-Expect"),
]


@pytest.mark.parametrize(("raw", "status"), HEAD_REFUSALS)
def test_refused_before_the_head(raw, status):
    events = parse(raw)
    assert kinds(events) == [status]
    assert errors.from_protocol(events[0]).close


@pytest.mark.parametrize(("raw", "status"), HEAD_REFUSALS)
def test_refused_the_same_byte_by_byte(raw, status):
    assert kinds(parse(raw, step=1)) == [status]


@pytest.mark.parametrize(
    ("length", "status"),
    [
        # Unrepresentable: unparsable framing (RFC 9112 §6.3).
        pytest.param(b"99999999999999999999999", 400, id="overflow"),
        pytest.param(b"18446744073709551616", 400, id="2**64"),
        # Parsable, only over the limit: an honest "too large".
        pytest.param(b"18446744073709551615", 413, id="2**64-1"),
    ],
)
def test_content_length_overflow_refused(length, status):
    [error] = parse(post(b"Content-Length: " + length, body=b"abc"))
    assert kinds([error]) == [status] and errors.from_protocol(error).close


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", id="empty"),
        pytest.param(b"GET / HTTP/1.1\r\nHost:  \r\n\r\n", id="only-spaces"),
    ],
)
def test_http11_empty_host_refused(raw):
    # RFC 9112 §3.2: an http URI always has an authority, so the Host field cannot be empty.
    [error] = parse(raw)
    assert kinds([error]) == [400]


def test_http_1_2_refused():
    # RFC 9110 §2.5 would allow treating 1.2 as 1.1; issue 3 asks for 400 or 505.
    [error] = parse(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n")
    assert kinds([error])[0] in (400, 505)


@pytest.mark.xfail(
    reason="Known limitation: llhttp also accepts RTSP/ and ICE/ request lines and httptools "
    "exposes no protocol accessor, so `GET / RTSP/1.0` is served like HTTP/1.0 (the upstream "
    "still gets a plain HTTP/1.1 request: no smuggling follows from it)",
    strict=True,
)
@pytest.mark.parametrize(
    "line",
    [pytest.param(b"GET / RTSP/1.0", id="RTSP"), pytest.param(b"SOURCE / ICE/1.0", id="ICE")],
)
def test_non_http_protocol_refused(line):
    assert kinds(parse(message(line, b"Host: a"))) in ([400], [505])


def test_fragment_in_target_refused():
    # RFC 9112 §3.2.1: origin-form has no fragment; an upstream would drop it, so routing
    # would judge a different path than the one served (`/static/..#/x`).
    assert kinds(parse(get(b"/a#b"))) == [400]


def test_host_with_trailing_whitespace_accepted():
    # RFC 9110 §5.5: surrounding whitespace is not part of a field value.
    [head, end] = parse(b"GET / HTTP/1.1\r\nHost: a \r\n\r\n")
    assert head.host == b"a" and end is END


def test_host_verdicts_are_remembered_only_for_valid_values():
    # Each Host value is checked once and remembered: the second time gives the same head,
    # and a refused value is refused again (it is never remembered).
    for _ in range(2):
        [head, end] = parse(b"GET / HTTP/1.1\r\nHost: b \r\n\r\n")
        assert head.host == b"b" and end is END
        assert kinds(parse(b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n")) == [400]


@pytest.mark.parametrize("value", [b"chunked\t", b"chunked \t", b"chunked\t "])
def test_transfer_encoding_with_trailing_tab_is_decided_before_the_head(value):
    # llhttp refuses these only after on_headers_complete: the proxy must not have announced
    # (and started forwarding) a chunked request head by then.
    events = parse(post(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"))
    assert kinds(events) in (["head", "end"], [400], [501])


# --------------------------------------------------------------------------------------------
# Refused in the body: the head went out, the body fails, and nothing after it is parsed
# --------------------------------------------------------------------------------------------

BODY_REFUSALS = [
    pytest.param(b"z\r\nabc\r\n0\r\n\r\n", id="size-not-hex"),
    pytest.param(b"3x\r\nabc\r\n0\r\n\r\n", id="junk-after-size"),
    pytest.param(b"-3\r\nabc\r\n0\r\n\r\n", id="size-negative"),
    pytest.param(b"0x3\r\nabc\r\n0\r\n\r\n", id="size-0x-prefix"),
    pytest.param(b"+3\r\nabc\r\n0\r\n\r\n", id="size-plus"),
    pytest.param(b" 3\r\nabc\r\n0\r\n\r\n", id="size-leading-space"),
    pytest.param(b"3 \r\nabc\r\n0\r\n\r\n", id="size-trailing-space"),
    pytest.param(b"\r\nabc\r\n0\r\n\r\n", id="size-empty"),
    pytest.param(b"fffffffffffffffffff\r\nabc\r\n0\r\n\r\n", id="size-overflow"),
    pytest.param(b"3\nabc\r\n0\r\n\r\n", id="size-bare-LF"),
    pytest.param(b"3\rabc\r\n0\r\n\r\n", id="size-bare-CR"),
    pytest.param(b"3\r\nabc\r\n0\n\r\n", id="last-size-bare-LF"),
    pytest.param(b"3\r\nabcX\r\n0\r\n\r\n", id="data-longer-than-size"),
    pytest.param(b"3\r\nabc0\r\n\r\n", id="missing-CRLF-after-data"),
    pytest.param(b"3\r\nabc\n0\r\n\r\n", id="bare-LF-after-data"),
    pytest.param(b"3\r\nabc\r\n0\r\n\n", id="bare-LF-final-line"),
    pytest.param(b"3;na\x01me\r\nabc\r\n0\r\n\r\n", id="ext-name-control-char"),
    pytest.param(b"3;a=\x00\r\nabc\r\n0\r\n\r\n", id="ext-value-NUL"),
    pytest.param(b"3;a=b\x7f\r\nabc\r\n0\r\n\r\n", id="ext-value-DEL"),
    pytest.param(b"3;name\nx\r\nabc\r\n0\r\n\r\n", id="ext-bare-LF"),
    pytest.param(b"3;name\rx\r\nabc\r\n0\r\n\r\n", id="ext-bare-CR"),
    pytest.param(b"3;\r\nabc\r\n0\r\n\r\n", id="ext-empty"),
    pytest.param(b"3 ;a=b\r\nabc\r\n0\r\n\r\n", id="ext-after-space"),
    pytest.param(b"0\r\nContent-Length: 5\r\n\r\n", id="Content-Length-in-trailer"),
]

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.parametrize("body", BODY_REFUSALS)
def test_bad_chunked_body_refused(body):
    events = parse(chunked(body + SMUGGLED))
    assert kinds(events)[0] == "head" and kinds(events)[-1] == 400
    assert "end" not in kinds(events) and len(heads(events)) == 1
    assert errors.from_protocol(events[-1]).close


@pytest.mark.parametrize("body", BODY_REFUSALS)
def test_bad_chunked_body_refused_byte_by_byte(body):
    events = parse(chunked(body + SMUGGLED), step=1)
    assert kinds(events)[-1] == 400 and "end" not in kinds(events)


def test_nothing_is_parsed_after_an_error():
    parser = RequestParser()
    assert kinds(parser.feed(b"GET / HTTP/1.1\r\n\r\n")) == [400]
    assert parser.feed(get()) == []
    assert not parser.in_head and not parser.in_body


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------

SMALL = Limits(max_request_line=100, max_header_bytes=200, max_header_count=5, max_body_bytes=10)


def test_request_target_at_the_limit():
    assert kinds(parse(get(b"/" + b"a" * 99), SMALL)) == ["head", "end"]


@pytest.mark.parametrize("step", [None, 1, 7])
def test_request_target_over_the_limit_is_414(step):
    assert kinds(parse(get(b"/" + b"a" * 100), SMALL, step=step)) == [414]


def test_unfinished_long_target_is_414_without_waiting_for_the_line_end():
    assert kinds(parse(b"GET /" + b"a" * 5000, SMALL)) == [414]


def test_header_section_over_the_limit_is_431():
    assert kinds(parse(get(b"/", b"X: " + b"v" * 300), SMALL)) == [431]


def test_default_header_limit_is_8k():
    assert kinds(parse(get(b"/", b"X: " + b"v" * 8100))) == ["head", "end"]
    assert kinds(parse(get(b"/", b"X: " + b"v" * 8200))) == [431]


def test_too_many_header_fields_is_431():
    fields = [b"X%d: v" % i for i in range(5)]
    assert kinds(parse(get(b"/", *fields[:4]), SMALL)) == ["head", "end"]  # Host + 4 = 5
    [error] = parse(get(b"/", *fields), SMALL)
    assert kinds([error]) == [431] and "many" in error.detail


def test_header_section_that_never_ends_is_431():
    parser = RequestParser(SMALL)
    events = parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n")
    for _ in range(100):
        events += parser.feed(b"X: " + b"v" * 10)  # one field that never ends
    assert kinds(events) == [431]


def test_oversized_unfinished_head_in_one_read_is_431():
    # At once, not after the header deadline (408).
    assert kinds(parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 3000, SMALL)) == [431]


def test_pipelined_large_body_is_not_counted_as_head():
    # The second read begins inside head 1 and ends inside head 2: its body bytes are not head.
    parser = RequestParser()
    events = parser.feed(b"POST / HTTP/1.1\r\nHo")
    events += parser.feed(b"st: a\r\nContent-Length: 17000\r\n\r\n" + b"x" * 17000 + b"GET / ")
    events += parser.feed(b"HTTP/1.1\r\nHost: a\r\n\r\n")
    assert kinds(events) == ["head", "body", "end", "head", "end"]


def test_endless_trailer_field_is_refused():
    parser = RequestParser(SMALL)
    events = parser.feed(chunked(b"0\r\nX-Trailer: "))
    for _ in range(100):
        events += parser.feed(b"v" * 100)
    assert kinds(events)[-1] in (400, 413, 431)


def test_too_many_trailer_fields_are_refused():
    parser = RequestParser(SMALL)
    events = parser.feed(chunked(b"0\r\n"))
    for i in range(100):
        events += parser.feed(b"X-%d: v\r\n" % i)
    assert kinds(events)[-1] in (400, 413, 431)


def test_content_length_over_the_body_limit_is_413_before_the_body():
    [error] = parse(post(b"Content-Length: 11"), SMALL)
    assert kinds([error]) == [413] and errors.from_protocol(error).close


def test_content_length_at_the_body_limit():
    events = parse(post(b"Content-Length: 10", body=b"0123456789"), SMALL)
    assert kinds(events) == ["head", "body", "end"]


def test_chunked_body_at_the_limit():
    events = parse(chunked(b"6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n"), SMALL)
    assert kinds(events)[-1] == "end" and body_of(events) == b"abcdefghij"


@pytest.mark.parametrize("step", [None, 1])
def test_chunked_body_over_the_limit_is_413_as_it_streams(step):
    events = parse(chunked(b"6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n"), SMALL, step=step)
    assert kinds(events)[0] == "head" and kinds(events)[-1] == 413
    assert len(body_of(events)) <= SMALL.max_body_bytes  # never more than the limit


def test_huge_chunk_size_is_counted_as_its_data_arrives():
    parser = RequestParser(SMALL)
    assert kinds(parser.feed(chunked(b"ffffff\r\nabc"))) == ["head", "body"]
    assert kinds(parser.feed(b"x" * 20)) == [413]


# --------------------------------------------------------------------------------------------
# Several requests on one connection
# --------------------------------------------------------------------------------------------


def test_pipelined_requests_come_out_in_order():
    raw = get(b"/1") + post(b"Content-Length: 2", body=b"hi") + get(b"/3")
    events = parse(raw)
    assert kinds(events) == ["head", "end", "head", "body", "end", "head", "end"]
    assert [h.target for h in heads(events)] == [b"/1", b"/", b"/3"]


def test_error_comes_after_the_complete_requests_before_it():
    raw = get(b"/1") + get(b"/2") + b"GET /3 HTTP/1.1\r\n\r\n" + get(b"/4")
    events = parse(raw)
    assert kinds(events) == ["head", "end", "head", "end", 400]


def test_get_with_content_length_body_then_next_request():
    raw = message(b"GET / HTTP/1.1", b"Host: a", b"Content-Length: 3", body=b"abc") + get(b"/2")
    events = parse(raw)
    assert kinds(events) == ["head", "body", "end", "head", "end"]


@pytest.mark.parametrize("step", [1, 2, 3, 5, 64])
def test_chunking_does_not_change_the_events(step):
    raw = (
        get(b"/1", b"Accept: */*")
        + chunked(b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n")
        + post(b"Content-Length: 4", body=b"wxyz")
        + get(b"/4", b"Connection: close")
    )
    assert normalise(parse(raw, step=step)) == normalise(parse(raw))


def test_in_head_and_in_body_follow_the_message():
    parser = RequestParser()
    assert not parser.in_head and not parser.in_body
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\n")
    assert parser.in_head
    parser.feed(b"Content-Length: 2\r\n\r\n")
    assert parser.in_body and not parser.in_head
    parser.feed(b"hi")
    assert not parser.in_head and not parser.in_body


UPGRADE = b"Connection: Upgrade", b"Upgrade: websocket"


@pytest.mark.parametrize("step", [None, 1])
def test_upgrade_is_a_plain_request_and_the_next_one_still_parses(step):
    raw = get(b"/ws", *UPGRADE) + get(b"/2")
    events = parse(raw, step=step)
    assert kinds(events) == ["head", "end", "head", "end"]
    assert [h.target for h in heads(events)] == [b"/ws", b"/2"]


def test_upgrade_without_connection_option_is_a_plain_request():
    events = parse(post(b"Upgrade: websocket", b"Content-Length: 3", body=b"abc") + get(b"/2"))
    assert kinds(events) == ["head", "body", "end", "head", "end"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            post(*UPGRADE, b"Content-Length: %d" % len(SMUGGLED), body=SMUGGLED), id="length"
        ),
        pytest.param(
            chunked(b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED), *UPGRADE), id="chunked"
        ),
    ],
)
@pytest.mark.parametrize("step", [None, 1])
def test_upgrade_request_body_is_never_a_request(raw, step):
    # httptools hands the bytes after an Upgrade head back as "the new protocol": the body must
    # not be parsed as the next request. Either it is the body, or the request is refused.
    events = parse(raw, step=step)
    assert kinds(events) in (["head", "body", "end"], [400])
    assert all(h.target == b"/" for h in heads(events))


def test_connect_is_refused_and_nothing_after_it_is_parsed():
    raw = b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n" + get(b"/2")
    assert kinds(parse(raw)) == [501]


# --------------------------------------------------------------------------------------------
# ResponseParser
# --------------------------------------------------------------------------------------------


def respond(*pieces: bytes, method: bytes = b"GET", eof: bool = False) -> list:
    parser = ResponseParser()
    parser.start(method)
    events: list = []
    for piece in pieces:
        events += parser.feed(piece)
    if eof:
        events += parser.feed_eof()
    return events


def test_response_with_content_length():
    events = respond(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    assert kinds(events) == ["head", "body", "end"]
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.framing, head.content_length, head.keep_alive) == (
        200,
        Framing.LENGTH,
        3,
        True,
    )
    assert head.headers == [(b"content-length", b"3")]


def test_response_with_chunked_body():
    events = respond(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert kinds(events) == ["head", "body", "end"] and events[0].framing is Framing.CHUNKED


def test_close_delimited_response_ends_at_eof():
    parser = ResponseParser()
    parser.start(b"GET")
    events = parser.feed(b"HTTP/1.1 200 OK\r\n\r\nabc") + parser.feed(b"def")
    assert kinds(events) == ["head", "body", "body"]
    assert events[0].framing is Framing.CLOSE and not events[0].keep_alive
    assert parser.feed_eof() == [END] and parser.complete


def test_response_split_byte_by_byte():
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    events = respond(*[raw[i : i + 1] for i in range(len(raw))])
    assert normalise(events) == normalise(respond(raw))


def test_connection_close_response_is_not_kept_alive():
    [head, *_] = respond(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
    assert not head.keep_alive


def test_head_response_with_content_length_has_no_body_and_the_parser_is_reusable():
    parser = ResponseParser()
    parser.start(b"HEAD")
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
    assert kinds(events) == ["head", "end"] and parser.complete
    assert events[0].framing is Framing.NONE and events[0].content_length == 3
    parser.start(b"GET")
    assert not parser.complete
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    assert kinds(events) == ["head", "body", "end"] and body_of(events) == b"hi"


def test_head_response_with_chunked_header_has_no_body():
    events = respond(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method=b"HEAD")
    assert kinds(events) == ["head", "end"] and events[0].framing is Framing.NONE


@pytest.mark.parametrize(
    "status_line",
    [
        pytest.param(b"HTTP/1.1 204 No Content", id="204"),
        pytest.param(b"HTTP/1.1 304 Not Modified", id="304"),
    ],
)
@pytest.mark.parametrize(
    "length", [pytest.param(b"", id="bare"), pytest.param(b"Content-Length: 3", id="with-CL")]
)
def test_204_and_304_have_no_body(status_line, length):
    parser = ResponseParser()
    parser.start(b"GET")
    raw = message(status_line, length) if length else message(status_line)
    events = parser.feed(raw)
    assert kinds(events) == ["head", "end"] and events[0].framing is Framing.NONE
    assert parser.feed_eof() == []  # complete: EOF is not an error
    parser.start(b"GET")
    assert kinds(parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")) == [
        "head",
        "body",
        "end",
    ]


@pytest.mark.parametrize(
    "split",
    [
        pytest.param(0, id="one-read"),  # llhttp ends each message: the same one parses on
        pytest.param(2, id="last-bytes-later"),  # llhttp is left mid-message: a new one
    ],
)
def test_keep_alive_responses_in_sequence(split):
    parser = ResponseParser()
    for method, raw, expected in [
        (b"GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", ["head", "body", "end"]),
        (b"GET", b"HTTP/1.1 204 No Content\r\n\r\n", ["head", "end"]),
        (b"HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", ["head", "end"]),
        (
            b"GET",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
            ["head", "body", "end"],
        ),
    ]:
        parser.start(method)
        reads = [raw[: len(raw) - split], raw[len(raw) - split :]] if split else [raw]
        assert normalise([e for read in reads for e in parser.feed(read)]) == normalise(
            respond(raw, method=method)
        )
        assert kinds(respond(raw, method=method)) == expected
        assert parser.complete


def test_content_length_zero_response():
    events = respond(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert kinds(events) == ["head", "end"] and events[0].framing is Framing.NONE


@pytest.mark.parametrize(
    "interim",
    [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"],
)
def test_interim_responses_are_skipped(interim):
    events = respond(interim + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    assert kinds(events) == ["head", "body", "end"] and events[0].status == 200


def test_200_to_an_upgrade_request_is_a_plain_response():
    # Envoy CVE-2024-23326: only a 101 switches protocols; a 200 is framed as usual.
    parser = ResponseParser()
    parser.start(b"GET")
    raw = message(
        b"HTTP/1.1 200 OK", b"Connection: upgrade", b"Upgrade: websocket", b"Content-Length: 2"
    )
    raw += b"hi"
    assert kinds(parser.feed(raw)) == ["head", "body", "end"]
    parser.start(b"GET")
    assert kinds(parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n")) == ["head", "end"]


def test_switching_protocols_is_an_error():
    raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    assert kinds(respond(raw)) == ["broken"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", id="short-content-length"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", id="no-last-chunk"
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="inside-head"),
        pytest.param(b"", id="nothing"),
    ],
)
def test_truncated_response_then_eof_is_an_error(raw):
    events = respond(raw, eof=True)
    assert kinds(events)[-1] == "broken" and "end" not in kinds(events)


def test_eof_after_a_complete_response_is_fine():
    assert respond(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", eof=True)[-1] is END


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HTTP/1.1 2x0 OK\r\n\r\n", id="status-not-digits"),
        pytest.param(b"HTTP/1.1 1000 X\r\nContent-Length: 0\r\n\r\n", id="status-4-digits"),
        pytest.param(b"hello world\r\n\r\n", id="not-http"),
        pytest.param(b"HTTP/9.9 200 OK\r\n\r\n", id="version-9.9"),
        pytest.param(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", id="bare-LF"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", id="obs-fold"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n", id="NUL"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            id="duplicate-CL",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            id="CL+TE",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", id="TE-gzip"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            id="TE-gzip,chunked",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", id="bad-chunk-size"
        ),
    ],
)
def test_malformed_response_is_an_error(raw):
    events = respond(raw)
    assert kinds(events)[-1] == "broken" and "end" not in kinds(events)
    assert isinstance(events[-1], BrokenResponse)


@pytest.mark.parametrize("status", [b"099", b"999"])
def test_status_outside_100_to_599_is_an_error(status):
    # RFC 9110 §15; relayed, 099 would even go out as the two-digit `HTTP/1.1 99`.
    assert kinds(respond(b"HTTP/1.1 " + status + b" X\r\nContent-Length: 0\r\n\r\n")) == ["broken"]


def test_bytes_after_the_response_are_not_another_response():
    # An unrequested second response in the same read must not be relayed, and the connection
    # must not be pooled (Apache CVE-2022-22720 class).
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
        + b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"
    )
    events = respond(raw)
    assert kinds(events) == ["head", "body", "end", "broken"]


def test_body_after_a_head_response_is_an_error():
    events = respond(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", method=b"HEAD")
    assert kinds(events) == ["head", "end", "broken"]


def test_not_started_before_any_byte():
    parser = ResponseParser()
    parser.start(b"GET")
    assert not parser.started
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    parser.feed(b"Content-Length: 1\r\n\r\n")
    assert parser.started


def test_not_started_after_start_on_a_reused_connection():
    # `started` decides whether a dead pooled connection may be retried (StaleConnection).
    parser = ResponseParser()
    parser.start(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    parser.start(b"GET")
    assert not parser.started


# A Content-Length body is counted by the parser itself once llhttp has seen the head.


def test_length_body_over_many_reads_is_passed_through_as_is():
    parser = ResponseParser()
    parser.start(b"GET")
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    pieces = [b"cde", b"fgh", b"ij"]
    for piece in pieces:
        more = parser.feed(piece)
        assert more[0].data is piece  # the very bytes object: no copy
        events += more
    assert kinds(events) == ["head", "body", "body", "body", "body", "end"]
    assert b"".join(e.data for e in events[1:-1]) == b"abcdefghij"


def test_bytes_beyond_the_length_are_an_error():
    parser = ResponseParser()
    parser.start(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    assert kinds(parser.feed(b"cdEXTRA")) == ["body", "end", "broken"]


def test_next_response_after_a_passed_through_body():
    parser = ResponseParser()
    parser.start(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    parser.feed(b"cd")
    parser.start(b"GET")
    events = parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert kinds(events) == ["head", "end"] and events[0].status == 204


def test_short_passed_through_body_then_eof_is_an_error():
    parser = ResponseParser()
    parser.start(b"GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab")
    parser.feed(b"cd")
    assert kinds(parser.feed_eof()) == ["broken"]
