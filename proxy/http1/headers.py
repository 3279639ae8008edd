"""Header rules: hop-by-hop stripping, identity headers, and the Date field."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Final

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1: these describe one connection and are never forwarded. `Proxy-*` and
# `Trailer` follow Go's ReverseProxy (hopHeaders).
HOP_BY_HOP: Final = frozenset(
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
# `Proxy` is the httpoxy vector; `X-Gatehouse-Token` is the proxy's secret to the services.
IDENTITY_PREFIXES: Final = (b"x-auth-", b"x-forwarded-")
IDENTITY_NAMES: Final = frozenset({b"forwarded", b"x-real-ip", b"proxy", b"x-gatehouse-token"})

# A `Connection` option may never name these: the proxy sets or relies on them itself.
_PROTECTED: Final = frozenset({b"host", b"cookie", b"content-length"})

# What never goes upstream from a request: the above, plus what the proxy answers or sets
# itself (`Expect` is answered by the proxy; `Host` and `X-Request-ID` are set exactly once).
_REQUEST_DROP: Final = HOP_BY_HOP | IDENTITY_NAMES | {b"expect", b"host", b"x-request-id"}
# The proxy sets a response's X-Request-ID itself, whatever the upstream echoed; what passes
# only between the proxy and the services (`X-Auth-*`, the internal token) never reaches a
# client.
_RESPONSE_DROP: Final = HOP_BY_HOP | {b"x-request-id", b"x-gatehouse-token"}
_RESPONSE_DROP_PREFIXES: Final = (b"proxy-", b"x-auth-")
_REQUEST_DROP_PREFIXES: Final = (b"proxy-", *IDENTITY_PREFIXES)


def connection_options(values: list[bytes]) -> frozenset[bytes]:
    """The lower-cased field names listed in `Connection` field values (RFC 9110 §7.6.1)."""
    if len(values) == 1:
        return _options(values[0])  # nearly every message: one `keep-alive` or `close`
    return frozenset().union(*map(_options, values))


# Few distinct values occur: each is split once. Bounded, so a client cannot grow it: when
# full it starts again. (A dict: see _REMEMBERED below on functools.lru_cache.)
_OPTION_VALUES: Final = 64
_options_of: Final[dict[bytes, frozenset[bytes]]] = {}


def _options(value: bytes) -> frozenset[bytes]:
    options = _options_of.get(value)
    if options is None:
        if len(_options_of) >= _OPTION_VALUES:
            _options_of.clear()
        options = frozenset(token for t in value.split(b",") if (token := t.strip(b" \t").lower()))
        _options_of[value] = options
    return options


def request_fields(headers: Headers, connection: frozenset[bytes]) -> Headers:
    """A request's fields as the upstream may see them, in one pass.

    Field names are lower-case, as the parsers produce them. Dropped: hop-by-hop fields (any
    `Proxy-*` too) and those `Connection` lists; client claims of identity or forwarding;
    names with underscores, which CGI-style upstreams read as dashes (`X_Auth_User`; nginx
    drops them by default). This runs before the proxy adds its own fields, so that
    `Connection: X-Forwarded-For` can never remove the proxy's X-Forwarded-For (Apache
    CVE-2022-31813).
    """
    listed = connection - _PROTECTED
    return [
        field for field in headers if not _hidden_from_upstream(field[0]) and field[0] not in listed
    ]


def response_fields(headers: Headers, connection: frozenset[bytes]) -> Headers:
    """A response's fields as the client may see them: without hop-by-hop fields and
    without what the services tell only the proxy."""
    listed = connection - _PROTECTED
    return [
        field for field in headers if not _hidden_from_client(field[0]) and field[0] not in listed
    ]


# Each field name's verdict, remembered: one dictionary lookup per field instead of a set
# lookup and a prefix test. Not functools.lru_cache: from compiled code its call costs about
# 500 instructions more (callgrind). Bounded, as the names come from the network.
_REMEMBERED: Final = 1024
_upstream_hidden: Final[dict[bytes, bool]] = {}
_client_hidden: Final[dict[bytes, bool]] = {}


def _hidden_from_upstream(name: bytes) -> bool:
    hidden = _upstream_hidden.get(name)
    if hidden is None:
        hidden = name in _REQUEST_DROP or name.startswith(_REQUEST_DROP_PREFIXES) or b"_" in name
        _remember(_upstream_hidden, name, hidden)
    return hidden


def _hidden_from_client(name: bytes) -> bool:
    hidden = _client_hidden.get(name)
    if hidden is None:
        hidden = name in _RESPONSE_DROP or name.startswith(_RESPONSE_DROP_PREFIXES)
        _remember(_client_hidden, name, hidden)
    return hidden


def _remember(verdicts: dict[bytes, bool], name: bytes, hidden: bool) -> None:
    if len(verdicts) < _REMEMBERED:
        verdicts[name] = hidden


def get(headers: Headers, name: bytes) -> bytes | None:
    """The first value of a field, by (lower-case) name."""
    for key, value in headers:
        if key == name:
            return value
    return None


_dates: Final[dict[int, bytes]] = {}  # this second's, only


def http_date() -> bytes:
    """Now as an IMF-fixdate for the `Date` field (RFC 9110 §5.6.7, §6.6.1), formatted once
    per second."""
    second = int(time.time())
    date = _dates.get(second)
    if date is None:
        _dates.clear()
        date = _dates[second] = formatdate(second, usegmt=True).encode()
    return date
