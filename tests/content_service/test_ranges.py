"""Range header parsing (RFC 9110 §14.1.2, §14.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content_service.ranges import ByteRange, Unsatisfiable, parse_range

SIZE = 1000
UNSAT = "416"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-99", ByteRange(0, 99), id="first-last"),
        pytest.param("bytes=0-0", ByteRange(0, 0), id="one-byte"),
        pytest.param("bytes=999-999", ByteRange(999, 999), id="last-byte"),
        pytest.param("bytes=100-", ByteRange(100, 999), id="open-ended"),
        pytest.param("bytes=0-", ByteRange(0, 999), id="open-from-zero"),
        pytest.param("bytes=-500", ByteRange(500, 999), id="suffix"),
        pytest.param("bytes=-1", ByteRange(999, 999), id="suffix-one"),
        pytest.param("bytes=-5000", ByteRange(0, 999), id="suffix-longer-than-file"),
        pytest.param("bytes=900-5000", ByteRange(900, 999), id="last-clipped"),
        pytest.param("BYTES=1-2", ByteRange(1, 2), id="unit-case-insensitive"),
        pytest.param("bytes= 5-9 ", ByteRange(5, 9), id="whitespace-around-spec"),
        pytest.param("bytes=5-9,", ByteRange(5, 9), id="trailing-empty-element"),
        pytest.param("bytes=1000-", UNSAT, id="first-at-size"),
        pytest.param("bytes=2000-3000", UNSAT, id="first-past-end"),
        pytest.param("bytes=-0", UNSAT, id="suffix-zero"),
        pytest.param("bytes=5-2", None, id="last-before-first"),
        pytest.param("bytes=0-99,200-299", None, id="multiple-ranges-ignored"),
        pytest.param("bytes=0-1,0-1", None, id="repeated-range-ignored"),
        pytest.param("items=0-10", None, id="other-unit"),
        pytest.param("bytes", None, id="no-equals"),
        pytest.param("bytes=", None, id="empty-set"),
        pytest.param("bytes=abc", None, id="garbage"),
        pytest.param("bytes=a-b", None, id="letters"),
        pytest.param("bytes=+1-2", None, id="plus-sign"),
        pytest.param("bytes=1_0-20", None, id="underscore-digits"),
        pytest.param("bytes=--5", None, id="double-dash"),
        pytest.param("bytes=-", None, id="dash-only"),
        pytest.param("bytes=1-2-3", None, id="two-dashes"),
        pytest.param("bytes=\u0661-\u0662", None, id="non-ascii-digits"),
        pytest.param("bytes=" + "9" * 5000 + "-", UNSAT, id="huge-first"),
        pytest.param("bytes=1-" + "9" * 5000, ByteRange(1, 999), id="huge-last"),
        pytest.param("bytes=-" + "9" * 5000, ByteRange(0, 999), id="huge-suffix"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_range(header: str, expected: ByteRange | str | None) -> None:
    if expected == UNSAT:
        with pytest.raises(Unsatisfiable):
            parse_range(header, SIZE)
    else:
        assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=0-0", "bytes=-1"], ids=str)
def test_nothing_is_satisfiable_in_an_empty_file(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, 0)


def test_content_range_and_length() -> None:
    r = ByteRange(100, 199)
    assert r.length == 100
    assert r.content_range(1000) == "bytes 100-199/1000"


@given(
    size=st.integers(min_value=0, max_value=10_000),
    first=st.one_of(st.none(), st.integers(min_value=0, max_value=20_000)),
    last=st.one_of(st.none(), st.integers(min_value=0, max_value=20_000)),
)
def test_result_always_inside_the_file(size: int, first: int | None, last: int | None) -> None:
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    try:
        result = parse_range(header, size)
    except Unsatisfiable:
        return
    if result is not None:
        assert 0 <= result.first <= result.last < size


@given(st.text(max_size=40))
def test_never_crashes_on_arbitrary_text(header: str) -> None:
    try:
        result = parse_range(header, 500)
    except Unsatisfiable:
        return
    assert result is None or 0 <= result.first <= result.last < 500
