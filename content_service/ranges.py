"""Parsing the Range request header (RFC 9110 §14.1.2, §14.2).

Only a single byte range is honoured. A server MAY ignore Range (§14.2), and
multipart/byteranges answers are rarely wanted by browsers or media players,
so a request for several ranges is answered with the whole file (200).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range already clipped to the representation."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> str:
        # RFC 9110 §14.4: "bytes first-last/complete-length".
        return f"bytes {self.first}-{self.last}/{size}"


class Unsatisfiable(Exception):
    """The range is well formed but selects nothing: answer 416 (§15.5.17)."""


_BEYOND_ANY_FILE = 1 << 64


def _digits(text: str) -> int | None:
    # 1*DIGIT only: int() would also accept "+5", " 5", "5_0" and non-ASCII digits.
    if not text or not text.isascii() or not text.isdigit():
        return None
    # Any position longer than 19 digits is past every real file; saying so
    # keeps the meaning (416, or clip to the end) without converting
    # thousands of digits, which Python refuses beyond 4300.
    if len(text) > 19:
        return _BEYOND_ANY_FILE
    return int(text)


def parse_range(header: str, size: int) -> ByteRange | None:
    """Interpret a Range header value against a representation of `size` bytes.

    Returns a clipped ByteRange to send as 206, None when the header should be
    ignored (malformed, another unit, several ranges: §14.2 says a server MAY
    ignore Range, and a recipient of an invalid one ignores it), or raises
    Unsatisfiable for a valid range that selects no byte of the file.
    """
    unit, sep, range_set = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        # §14.1: range units are case-insensitive; unknown units are ignored.
        return None
    specs = [spec.strip() for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]  # §5.6.1: empty list elements are allowed
    if len(specs) != 1:
        return None
    first_text, dash, last_text = specs[0].partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not first_text:
        # suffix-range "-N": the last N bytes; N = 0 selects nothing (§14.1.1).
        suffix = _digits(last_text)
        if suffix is None:
            return None
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(size - suffix, 0), size - 1)
    first = _digits(first_text)
    if first is None:
        return None
    if last_text:
        last = _digits(last_text)
        if last is None or last < first:
            # §14.1.1: last-pos < first-pos makes the range-spec invalid.
            return None
    else:
        last = size - 1
    if first >= size:
        # §14.1.1: satisfiable only if first-pos is less than the length.
        raise Unsatisfiable
    return ByteRange(first, min(last, size - 1))
