"""Conditional request evaluation (RFC 9110 §13)."""

from __future__ import annotations

import pytest

from content_service.conditional import (
    Conditions,
    evaluate,
    if_range_allows,
    match,
    none_match,
    parse_etags,
    parse_http_date,
)

ETAG = '"abc-123"'
MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
LM = "Sun, 06 Nov 1994 08:49:37 GMT"
BEFORE = "Sun, 06 Nov 1994 08:49:36 GMT"
AFTER = "Sun, 06 Nov 1994 08:49:38 GMT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(LM, MTIME, id="imf-fixdate"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", MTIME, id="rfc850"),
        pytest.param("Sun Nov  6 08:49:37 1994", MTIME, id="asctime"),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_http_date(value: str, expected: int | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"a"', [(False, '"a"')], id="single"),
        pytest.param('W/"a"', [(True, '"a"')], id="weak"),
        pytest.param('"a", W/"b",,"c"', [(False, '"a"'), (True, '"b"'), (False, '"c"')], id="list"),
        pytest.param('"a,b"', [(False, '"a,b"')], id="comma-inside-quotes"),
        pytest.param('""', [(False, '""')], id="empty-tag"),
        pytest.param("a", None, id="unquoted"),
        pytest.param('"a', None, id="unterminated"),
        pytest.param('"a"x', None, id="junk-after-tag"),
    ],
)
def test_parse_etags(value: str, expected: list[tuple[bool, str]] | None) -> None:
    assert parse_etags(value) == expected


@pytest.mark.parametrize(
    ("header", "condition"),
    [
        pytest.param(ETAG, False, id="same-tag"),
        pytest.param(f"W/{ETAG}", False, id="weak-compare-ignores-W"),
        pytest.param(f'"other", {ETAG}', False, id="in-list"),
        pytest.param("*", False, id="star"),
        pytest.param(" * ", False, id="star-spaces"),
        pytest.param('"other"', True, id="different-tag"),
        pytest.param('"abc-123-gz"', True, id="gzip-tag-differs"),
        pytest.param("abc-123", True, id="malformed-no-match"),
    ],
)
def test_if_none_match(header: str, condition: bool) -> None:
    assert none_match(header, ETAG) is condition


@pytest.mark.parametrize(
    ("header", "condition"),
    [
        pytest.param(ETAG, True, id="same-tag"),
        pytest.param("*", True, id="star"),
        pytest.param(f"W/{ETAG}", False, id="weak-never-matches-strongly"),
        pytest.param('"x", "abc-123"', True, id="in-list"),
        pytest.param('"x"', False, id="different"),
    ],
)
def test_if_match(header: str, condition: bool) -> None:
    assert match(header, ETAG) is condition


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        pytest.param(Conditions(), None, id="none"),
        pytest.param(Conditions(if_none_match=ETAG), 304, id="inm-match"),
        pytest.param(Conditions(if_none_match='"old"'), None, id="inm-no-match"),
        pytest.param(Conditions(if_modified_since=LM), 304, id="ims-equal"),
        pytest.param(Conditions(if_modified_since=AFTER), 304, id="ims-later"),
        pytest.param(Conditions(if_modified_since=BEFORE), None, id="ims-earlier"),
        pytest.param(Conditions(if_modified_since="nonsense"), None, id="ims-invalid-ignored"),
        pytest.param(
            Conditions(if_none_match='"old"', if_modified_since=AFTER),
            None,
            id="inm-takes-precedence-over-ims",
        ),
        pytest.param(
            Conditions(if_none_match=ETAG, if_modified_since=BEFORE),
            304,
            id="inm-match-wins-over-stale-ims",
        ),
        pytest.param(Conditions(if_match='"old"'), 412, id="if-match-fails"),
        pytest.param(Conditions(if_match=ETAG), None, id="if-match-ok"),
        pytest.param(Conditions(if_match="*"), None, id="if-match-star"),
        pytest.param(Conditions(if_unmodified_since=BEFORE), 412, id="ius-fails"),
        pytest.param(Conditions(if_unmodified_since=LM), None, id="ius-ok"),
        pytest.param(
            Conditions(if_match=ETAG, if_unmodified_since=BEFORE),
            None,
            id="if-match-overrides-ius",
        ),
        pytest.param(Conditions(if_match='"old"', if_none_match=ETAG), 412, id="412-before-304"),
    ],
)
def test_evaluate_order(conditions: Conditions, expected: int | None) -> None:
    assert evaluate(conditions, ETAG, MTIME) == expected


@pytest.mark.parametrize(
    ("header", "now", "allowed"),
    [
        pytest.param(ETAG, MTIME + 100, True, id="etag-match"),
        pytest.param('"other"', MTIME + 100, False, id="etag-differs"),
        pytest.param(f"W/{ETAG}", MTIME + 100, False, id="weak-etag-never"),
        pytest.param(f"{ETAG}, {ETAG}", MTIME + 100, False, id="list-not-allowed"),
        pytest.param(LM, MTIME + 100, True, id="date-equal"),
        pytest.param(AFTER, MTIME + 100, False, id="date-later-not-equal"),
        pytest.param(BEFORE, MTIME + 100, False, id="date-earlier"),
        pytest.param(LM, MTIME + 0.5, False, id="date-too-fresh-is-weak"),
        pytest.param("garbage", MTIME + 100, False, id="garbage"),
    ],
)
def test_if_range(header: str, now: float, allowed: bool) -> None:
    assert if_range_allows(header, ETAG, MTIME, now) is allowed
