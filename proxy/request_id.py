"""Request ids: the client's `X-Request-ID` when well formed, otherwise one of ours.

Well formed means at most 64 characters of `[A-Za-z0-9._-]`: enough for a UUID or a
tracing id, and nothing that could break a log line or a header. Ours are a random prefix
per process and a counter: unique enough to find one request in the logs of all three
services, and cheap (no `uuid4()` per request).
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from proxy.http1.headers import Headers

HEADER: Final = b"X-Request-ID"
_WELL_FORMED: Final = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = (prefix or secrets.token_hex(4)).encode() + b"-"
        self._count = 0

    def new(self) -> bytes:
        self._count += 1
        return self._prefix + b"%x" % self._count

    def take(self, headers: Headers) -> bytes:
        """The id of a request with these (lower-case) header fields."""
        for name, value in headers:
            if name == b"x-request-id":
                if _WELL_FORMED.fullmatch(value):
                    return value
                break
        return self.new()
