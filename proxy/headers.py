"""Header rules: hop-by-hop stripping, identity headers, and encoding message heads."""

from __future__ import annotations

from http import HTTPStatus

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1: these describe one connection and are never forwarded. `Proxy-*` and
# `Trailer` follow Go's ReverseProxy (hopHeaders).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# Headers a client could send to impersonate the proxy's own statements; always replaced.
IDENTITY_PREFIXES = (b"x-auth-", b"x-forwarded-")
IDENTITY_NAMES = frozenset({b"forwarded", b"x-real-ip", b"proxy"})

# A `Connection` option may never name these: the proxy sets or relies on them itself.
_PROTECTED = frozenset({b"host", b"cookie", b"content-length"})


def connection_options(headers: Headers) -> frozenset[bytes]:
    """The lower-cased field names listed in `Connection` headers (RFC 9110 §7.6.1)."""
    options: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            options.update(t.strip(b" \t").lower() for t in value.split(b",") if t.strip())
    return frozenset(options)


def strip_hop_by_hop(headers: Headers) -> Headers:
    """Drop hop-by-hop fields (any `Proxy-*` too) and the ones `Connection` lists.

    This runs on what the peer sent, before the proxy adds its own fields, so that
    `Connection: X-Forwarded-For` can never remove the proxy's X-Forwarded-For
    (Apache CVE-2022-31813).
    """
    listed = connection_options(headers) - _PROTECTED
    return [
        (name, value)
        for name, value in headers
        if (lname := name.lower()) not in HOP_BY_HOP
        and lname not in listed
        and not lname.startswith(b"proxy-")
    ]


def strip_identity(headers: Headers) -> Headers:
    """Drop client-sent identity and forwarding headers (the proxy sets its own).

    Names with underscores go too: CGI-style upstreams read `X_Auth_User` as `X-Auth-User`
    (nginx drops them by default), and `Proxy` is the httpoxy vector.
    """
    return [
        (name, value)
        for name, value in headers
        if not (lname := name.lower()).startswith(IDENTITY_PREFIXES)
        and lname not in IDENTITY_NAMES
        and b"_" not in lname
    ]


def get(headers: Headers, name: bytes) -> bytes | None:
    """The first value of a field, by lower-case name."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def has(headers: Headers, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in headers)


def encode_request_head(method: bytes, target: bytes, headers: Headers) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (method, target)]
    lines.extend(b"%s: %s" % pair for pair in headers)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


_REASONS = {int(s): s.phrase.encode() for s in HTTPStatus}


def encode_response_head(status: int, headers: Headers) -> bytes:
    """A whole response head as one bytes object, so it goes out in one write."""
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b""))]
    lines.extend(b"%s: %s" % pair for pair in headers)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)
