"""Conditional requests (RFC 9110 §13): validators and their evaluation order."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz

ANY = "*"


@dataclass(frozen=True, slots=True)
class Conditions:
    """The conditional request headers that matter to a GET or HEAD."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None

    def __bool__(self) -> bool:
        return any(
            (self.if_match, self.if_none_match, self.if_modified_since, self.if_unmodified_since)
        )


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for an HTTP-date, or None if it is not one.

    §5.6.7: recipients must accept IMF-fixdate and the obsolete RFC 850 and
    asctime forms; `email.utils` reads all three.
    """
    try:
        parsed = parsedate_tz(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    try:
        return int(mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def parse_etags(value: str) -> list[tuple[bool, str]] | None:
    """Parse `#entity-tag` (§8.8.3) into (weak, opaque-tag) pairs.

    Returns None if the list is malformed; the opaque tag keeps its quotes so
    it can be compared with our own ETag strings directly.
    """
    tags: list[tuple[bool, str]] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch in " \t,":
            i += 1
            continue
        weak = False
        if value.startswith("W/", i):
            weak = True
            i += 2
        if i >= n or value[i] != '"':
            return None
        end = value.find('"', i + 1)
        if end < 0:
            return None
        tags.append((weak, value[i : end + 1]))
        i = end + 1
        if i < n and value[i] not in " \t,":
            return None
    return tags


def none_match(header: str, etag: str) -> bool:
    """Evaluate If-None-Match (§13.1.2): True means "condition is true".

    The condition is false (so a GET gets 304) when the header is `*` or any
    listed tag matches ours under *weak* comparison, i.e. ignoring `W/`.
    """
    header = header.strip()
    if header == ANY:
        return False
    tags = parse_etags(header)
    if tags is None:
        # An unparseable field cannot name our tag; treat it as no match
        # rather than failing the request.
        return True
    return all(tag != etag for _weak, tag in tags)


def match(header: str, etag: str) -> bool:
    """Evaluate If-Match (§13.1.1): `*` or a *strong* match with our tag."""
    header = header.strip()
    if header == ANY:
        return True
    tags = parse_etags(header)
    if tags is None:
        return False
    return any(not weak and tag == etag for weak, tag in tags)


def evaluate(conditions: Conditions, etag: str, mtime: int) -> int | None:
    """Apply the preconditions of a GET/HEAD in the order of §13.2.2.

    Returns 412 or 304 when the request must be answered that way, or None to
    go on with a normal (or range) response. `mtime` is the Last-Modified time
    in whole seconds, the precision of an HTTP-date.
    """
    # Step 1 and 2: If-Match, or else If-Unmodified-Since.
    if conditions.if_match is not None:
        if not match(conditions.if_match, etag):
            return 412
    elif conditions.if_unmodified_since is not None:
        since = parse_http_date(conditions.if_unmodified_since)
        # §13.1.4: an invalid date means the field is ignored.
        if since is not None and mtime > since:
            return 412
    # Step 3 and 4: If-None-Match takes precedence over If-Modified-Since,
    # which a recipient must ignore when If-None-Match is present (§13.1.3).
    if conditions.if_none_match is not None:
        if not none_match(conditions.if_none_match, etag):
            return 304
    elif conditions.if_modified_since is not None:
        since = parse_http_date(conditions.if_modified_since)
        if since is not None and mtime <= since:
            return 304
    return None


def if_range_allows(header: str, etag: str, mtime: int, now: float) -> bool:
    """Evaluate If-Range (§13.1.5): True means the Range may be applied.

    An entity-tag must match strongly (a weak tag never does). A date counts
    only if it equals Last-Modified exactly and Last-Modified is a strong
    validator, which §8.8.2.2 allows only when it is at least one second
    before the Date of the response (a second write within the same second
    would keep the same date).
    """
    header = header.strip()
    if header.startswith(('"', "W/")):
        tags = parse_etags(header)
        return tags is not None and len(tags) == 1 and tags[0] == (False, etag)
    date = parse_http_date(header)
    return date is not None and date == mtime and int(now) - mtime >= 1
