"""The proxy's shared cache: what it stores, for how long, and what it answers."""

from __future__ import annotations

import pytest

from proxy.cache import Entry, ResponseCache, freshness, not_modified, request_key
from proxy.http1 import RequestParser, ResponseParser

DATE = "Sun, 22 Nov 2026 06:00:00 GMT"


def response(*fields: str, body: bytes = b"hello", status: int = 200):
    raw = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
    raw += "".join(f"{f}\r\n" for f in fields) + "\r\n"
    parser = ResponseParser()
    parser.start(b"GET")
    return parser.feed(raw.encode() + body)[0]


def request(line: str = "GET /static/a.css HTTP/1.1", *fields: str):
    raw = f"{line}\r\nHost: x\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n"
    return RequestParser().feed(raw.encode())[0]


@pytest.mark.parametrize(
    "fields,seconds",
    [
        (["Cache-Control: public, max-age=10"], 10),
        (["Cache-Control: max-age=10, s-maxage=3"], 3),
        (["Cache-Control: s-maxage=3", "Cache-Control: max-age=10"], 3),
        (["Cache-Control: max-age=10", "Vary: Accept-Encoding"], 10),
        ([], 0),
        (["Cache-Control: private, max-age=10"], 0),
        (["Cache-Control: no-cache"], 0),
        (["Cache-Control: no-store, max-age=10"], 0),
        (["Cache-Control: max-age=10", "Set-Cookie: a=1"], 0),
        (["Cache-Control: max-age=10", "Vary: Cookie"], 0),
        (["Cache-Control: max-age=10", "Vary: *"], 0),
        (["Cache-Control: max-age=10", "Age: 4"], 6),
        (["Cache-Control: max-age=10", "Age: 40"], 0),
    ],
    ids=[
        "max-age", "s-maxage-wins", "s-maxage-first", "vary-encoding", "no-freshness",
        "private", "no-cache", "no-store", "set-cookie", "vary-cookie", "vary-star",
        "age-counts", "age-exceeds",
    ],
)  # fmt: skip
def test_freshness(fields, seconds):
    assert freshness(response(*fields)) == seconds


@pytest.mark.parametrize(
    "fields,seconds",
    [
        (["Cache-Control: public, max-age=10"], 10),
        (["Cache-Control: s-maxage=5"], 5),
        (["Cache-Control: max-age=10"], 0),
        (["Cache-Control: public"], 0),
    ],
    ids=["public", "s-maxage", "max-age-only", "public-without-lifetime"],
)
def test_a_response_to_a_named_user_needs_explicit_sharing(fields, seconds):
    assert freshness(response(*fields), identified=True) == seconds


def test_only_200_is_stored():
    assert freshness(response("Cache-Control: max-age=10", status=404)) == 0


@pytest.mark.parametrize(
    "line,fields,cacheable",
    [
        ("GET /a HTTP/1.1", [], True),
        ("HEAD /a HTTP/1.1", [], True),
        ("POST /a HTTP/1.1", ["Content-Length: 0"], False),
        ("GET /a HTTP/1.1", ["Range: bytes=0-1"], False),
        ("GET /a HTTP/1.1", ['If-None-Match: "x"'], True),
        ("GET /a HTTP/1.1", [f"If-Modified-Since: {DATE}"], False),
        ("GET /a HTTP/1.1", ['If-None-Match: "x"', f"If-Modified-Since: {DATE}"], True),
        ("GET /a HTTP/1.1", ['If-Match: "x"'], False),
        ("GET /a HTTP/1.1", ['If-Range: "x"'], False),
        ("GET /a HTTP/1.1", ["Authorization: Basic eA=="], False),
    ],
    ids=["get", "head", "post", "range", "inm", "ims", "inm-wins-over-ims", "if-match",
         "if-range", "authorization"],
)  # fmt: skip
def test_which_requests_the_cache_may_answer(line, fields, cacheable):
    assert (request_key(request(line, *fields), b"/a") is not None) == cacheable


def test_key_tells_encodings_apart():
    plain = request_key(request("GET /a HTTP/1.1"), b"/a")
    gzip = request_key(request("GET /a HTTP/1.1", "Accept-Encoding: gzip"), b"/a")
    assert plain != gzip


def test_key_is_the_target_the_upstream_gets():
    home = request("GET /?x HTTP/1.1")
    assert request_key(home, b"/secret.html?x") != request_key(home, b"/?x")


@pytest.mark.parametrize(
    "if_none_match,answer",
    [
        ('"v1"', 304),
        ('W/"v1"', 304),
        ('"v0", "v1"', 304),
        ('"a,b", "v1"', 304),
        ("*", 304),
        ('"v2"', 200),
        ('"a,b"', 200),
        (None, 200),
    ],
    ids=["same", "weak", "list", "comma-inside-a-tag", "star", "other", "other-with-comma",
         "absent"],
)  # fmt: skip
def test_if_none_match_is_answered_from_the_stored_etag(if_none_match, answer):
    fields = [f"If-None-Match: {if_none_match}"] if if_none_match else []
    entry = Entry(response('ETag: "v1"'), b"hello", 0.0, 10.0, etag=b'"v1"')
    assert (304 if not_modified(request("GET /a HTTP/1.1", *fields), entry) else 200) == answer


def test_without_a_stored_etag_only_star_matches():
    entry = Entry(response(), b"hello", 0.0, 10.0)
    assert not not_modified(request("GET /a HTTP/1.1", 'If-None-Match: "v1"'), entry)
    assert not_modified(request("GET /a HTTP/1.1", "If-None-Match: *"), entry)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def make(max_bytes: int = 1000, entry: int = 100) -> tuple[ResponseCache, Clock]:
    clock = Clock()
    return ResponseCache(max_bytes=max_bytes, max_entry_bytes=entry, clock=clock), clock


def store(cache: ResponseCache, key: bytes, resp, body: bytes) -> None:
    cache.store(key, resp, body, cache.wants(resp))


def test_entry_is_served_until_it_goes_stale():
    cache, clock = make()
    store(cache, b"k", response("Cache-Control: max-age=10"), b"hello")
    clock.now += 9.9
    assert cache.lookup(b"k").body == b"hello"
    clock.now += 0.2
    assert cache.lookup(b"k") is None


def test_upstream_age_counts_against_the_lifetime():
    cache, clock = make()
    store(cache, b"k", response("Cache-Control: max-age=10", "Age: 8"), b"hello")
    clock.now += 2.1
    assert cache.lookup(b"k") is None


def test_a_stale_entry_with_an_etag_is_kept_for_revalidation():
    cache, clock = make()
    store(cache, b"tagged", response("Cache-Control: max-age=10", 'ETag: "v1"'), b"hello")
    store(cache, b"untagged", response("Cache-Control: max-age=10"), b"hello")
    assert cache.stale(b"tagged") is None  # still fresh
    clock.now += 11
    assert cache.stale(b"tagged").etag == b'"v1"'
    assert cache.stale(b"untagged") is None


def test_a_304_renews_the_entry_and_updates_its_fields():
    cache, clock = make()
    store(cache, b"k", response("Cache-Control: max-age=10", 'ETag: "v1"', "X-A: 1"), b"hello")
    clock.now += 11
    confirmation = response(
        "Cache-Control: max-age=20", 'ETag: "v1"', "X-A: 2", status=304, body=b""
    )
    renewed = cache.refresh(b"k", cache.stale(b"k"), confirmation, identified=False)
    assert cache.lookup(b"k") is renewed and renewed.body == b"hello"
    assert (b"x-a", b"2") in renewed.head.headers and (b"x-a", b"1") not in renewed.head.headers
    assert (b"content-length", b"5") in renewed.head.headers  # never the 304's (RFC 9111 §3.2)
    clock.now += 19.9
    assert cache.lookup(b"k") is renewed


def test_a_304_that_forbids_reuse_drops_the_entry():
    cache, clock = make()
    store(cache, b"k", response("Cache-Control: max-age=10", 'ETag: "v1"'), b"hello")
    clock.now += 11
    confirmation = response("Cache-Control: no-cache", 'ETag: "v1"', status=304, body=b"")
    renewed = cache.refresh(b"k", cache.stale(b"k"), confirmation, identified=False)
    assert renewed.body == b"hello"  # still this request's answer: the upstream confirmed it
    assert cache.lookup(b"k") is None and cache.stale(b"k") is None


def test_a_short_body_is_not_stored():
    cache, _ = make()
    store(cache, b"k", response("Cache-Control: max-age=10"), b"hel")
    assert cache.lookup(b"k") is None


def test_large_responses_are_not_wanted():
    cache, _ = make(entry=4)
    assert not cache.wants(response("Cache-Control: max-age=10"))
    assert make(entry=5)[0].wants(response("Cache-Control: max-age=10"))


def test_total_size_is_bounded_oldest_first():
    cache, _ = make(max_bytes=12)
    fresh = response("Cache-Control: max-age=10")
    for key in (b"a", b"b", b"c"):
        store(cache, key, fresh, b"hello")
    assert cache.lookup(b"a") is None
    assert cache.lookup(b"b") is not None and cache.lookup(b"c") is not None


def test_zero_bytes_disables_the_cache():
    cache, _ = make(max_bytes=0)
    assert not cache.enabled and not cache.wants(response("Cache-Control: max-age=10"))
