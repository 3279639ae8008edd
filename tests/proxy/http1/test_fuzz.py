"""Property-based tests for RequestParser: random bytes and mutated valid requests, fed in
random pieces. Whatever comes in, the parser never raises, emits only well-typed events in a
well-formed order, and the way the bytes are split never changes what it emits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from proxy import errors
from proxy.http1 import (
    END,
    Body,
    BrokenResponse,
    Framing,
    ProtocolError,
    RequestHead,
    RequestParser,
    ResponseHead,
    ResponseParser,
)
from tests.proxy.wire import chunked, message, normalise, post
from tests.proxy.wire import get as get_request

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UPGRADE_THEN_GET = get_request(b"/ws", b"Connection: Upgrade", b"Upgrade: x") + get_request(b"/2")
VALID = [
    get_request(),
    get_request(b"/a/b?c=d", b"Accept: */*", b"Cookie: session=abc"),
    get_request(b"/", b"Connection: close"),
    message(b"GET / HTTP/1.0"),
    message(b"HEAD /index.html HTTP/1.0", b"Connection: keep-alive"),
    message(b"OPTIONS * HTTP/1.1", b"Host: a"),
    post(b"Content-Length: 5", body=b"hello"),
    post(b"Content-Length: 0"),
    post(b"Content-Length: 3", b"Expect: 100-continue", body=b"abc"),
    chunked(b"5\r\nhello\r\n0\r\n\r\n"),
    chunked(b"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer-Field: x\r\n\r\n"),
    UPGRADE_THEN_GET,
    get_request(b"/1") + post(b"Content-Length: 2", body=b"hi") + get_request(b"/3"),
    message(
        b"POST /login HTTP/1.1", b"Host: a", b"Content-Length: 21", body=b"userid=a&passwd=b%20c"
    ),
]

# Refused requests one mutation away from valid ones (and the reverse): the smuggling vectors.
NEAR_MISSES = [
    post(b"Content-Length: 3", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    post(b"Content-Length: 3", b"Content-Length: 4", body=b"abcd"),
    post(b"Transfer-Encoding: chunked, identity", body=b"0\r\n\r\n"),
    post(b"Connection: Upgrade", b"Upgrade: x", b"Content-Length: 3", body=b"abc") + get_request(),
    chunked(b"3\nabc\r\n0\r\n\r\n") + get_request(),
    chunked(b"3;a=\x01\r\nabc\r\n0\r\n\r\n"),
    message(b"GET / HTTP/1.1", b"Host: a", b"Host: b"),
    message(b"GET / HTTP/1.1", b"X: a", b" folded", b"Host: a"),
]

# Bytes that matter to HTTP framing: mutations built from them reach the interesting paths
# (CR/LF handling, separators, digits of lengths, chunk sizes) far more often than noise.
SPECIAL = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b";", b",", b"0", b"9", b"f", b"-"]
TOKENS = [
    *SPECIAL,
    b"GET",
    b"POST",
    b"CONNECT",
    b" / ",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"Host: a",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked",
    b"Connection: Upgrade",
    b"Upgrade: x",
    b"Expect: 100-continue",
    b"\r\n\r\n",
    b"0\r\n\r\n",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    return draw(mutated_from(draw(st.sampled_from(VALID + NEAR_MISSES))))


@st.composite
def mutated_from(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=3))
        if kind == "insert":
            data[at:at] = piece
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "replace":
            data[at : at + len(piece)] = piece
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


messages = st.one_of(
    mutated(),
    st.sampled_from(VALID + NEAR_MISSES),
    st.lists(st.sampled_from(TOKENS), max_size=30).map(b"".join),
    st.binary(max_size=300),
)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.sets(st.integers(1, max(len(data) - 1, 1)), max_size=12)))
    bounds = [0, *(c for c in cuts if c < len(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@st.composite
def split_message(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(messages)
    return data, draw(split(data))


def feed(pieces: list[bytes]) -> list:
    parser = RequestParser()
    events: list = []
    for piece in pieces:
        events += parser.feed(piece)
    return events


def check_types(events: list) -> None:
    for event in events:
        if isinstance(event, RequestHead):
            assert isinstance(event.method, bytes) and event.method
            assert isinstance(event.target, bytes) and event.target[:1] in (b"/", b"*")
            assert event.version in (b"1.0", b"1.1")
            assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in event.headers)
            assert all(n == n.lower() for n, _ in event.headers)
            assert isinstance(event.keep_alive, bool)
            assert isinstance(event.framing, Framing) and event.framing is not Framing.CLOSE
            assert event.content_length is None or event.content_length >= 0
            assert isinstance(event.expect_continue, bool) and isinstance(event.host, bytes)
        elif isinstance(event, Body):
            assert isinstance(event.data, bytes) and event.data
        elif isinstance(event, ProtocolError):
            answer = errors.from_protocol(event)
            assert 400 <= answer.status < 600 and answer.close
            # httptools turns any exception inside a callback into "User callback error": a
            # bug of ours would hide as a 400 without this check.
            assert "callback" not in event.detail, event.detail
        else:
            assert event is END, event


def check_order(events: list) -> None:
    """head (body)* end, again and again; at most one error, and nothing after it."""
    head: RequestHead | None = None
    received = 0
    for i, event in enumerate(events):
        if isinstance(event, ProtocolError):
            assert i == len(events) - 1, "events after an error"
        elif isinstance(event, RequestHead):
            assert head is None, "a head inside another message"
            head, received = event, 0
        elif isinstance(event, Body):
            assert head is not None and head.framing is not Framing.NONE
            received += len(event.data)
        else:
            assert head is not None, "END without a head"
            # A Content-Length body is exactly that long (an Upgrade request's body once came
            # out as the next request instead).
            if head.framing is Framing.LENGTH:
                assert received == head.content_length
            if head.framing is Framing.NONE:
                assert received == 0
            head = None


@FUZZ
@given(split_message())
@example((UPGRADE_THEN_GET, [UPGRADE_THEN_GET[:40], UPGRADE_THEN_GET[40:]]))
def test_never_raises_and_events_are_well_formed(case):
    _, pieces = case
    events = feed(pieces)
    check_types(events)
    check_order(events)


@FUZZ
@given(split_message())
def test_chunking_does_not_change_the_events(case):
    data, pieces = case
    assert normalise(feed(pieces)) == normalise(feed([data]))


@FUZZ
@given(messages)
def test_byte_by_byte_gives_the_same_events(data):
    assert normalise(feed([data[i : i + 1] for i in range(len(data))])) == normalise(feed([data]))


@pytest.mark.parametrize("data", VALID)
def test_the_seeds_are_valid(data):
    events = feed([data])
    assert events[-1] is END and not any(isinstance(e, ProtocolError) for e in events)


@FUZZ
@given(st.data())
def test_nothing_after_an_error_is_parsed(data):
    raw = data.draw(messages)
    parser = RequestParser()
    events = parser.feed(raw)
    if events and isinstance(events[-1], ProtocolError):
        assert parser.feed(data.draw(st.sampled_from(VALID))) == []


@pytest.mark.parametrize("data", NEAR_MISSES)
def test_the_near_misses_are_refused(data):
    events = feed([data])
    assert isinstance(events[-1], ProtocolError)


RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nclose-delimited",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.0 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
]


@FUZZ
@given(
    st.sampled_from(RESPONSES).flatmap(lambda r: st.just(r) | mutated_from(r))
    | st.binary(max_size=200),
    st.sampled_from([b"GET", b"HEAD"]),
    st.data(),
)
def test_response_parser_never_raises(raw, method, data):
    parser = ResponseParser()
    parser.start(method)
    events = [e for piece in data.draw(split(raw)) for e in parser.feed(piece)]
    events += parser.feed_eof()
    for event in events:
        assert isinstance(event, ResponseHead | Body | BrokenResponse) or event is END, event
        # The bare message is what an exception inside one of our callbacks turns into.
        assert str(event) != "The upstream sent a broken response."
    ends = [i for i, e in enumerate(events) if e is END]
    assert len(ends) <= 1
    if ends:  # complete, unless stray bytes followed (reported after the END)
        assert isinstance(events[0], ResponseHead)
        assert parser.complete or isinstance(events[-1], BrokenResponse)
