"""Keep-alive bookkeeping for one client connection (RFC 9112 §9.3)."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.headers import Headers

CLOSE: Headers = [(b"Connection", b"close")]


@dataclass(slots=True)
class KeepAlive:
    """Counts the responses on a connection and says how each one must end it.

    Response n (1-based) of a persistent connection carries
    `Keep-Alive: timeout=T, max=MAX-n`; response MAX says `Connection: close`.
    """

    timeout: float
    max_requests: int
    served: int = 0

    def next_response(self, client_keeps_alive: bool, *, force_close: bool = False) -> Headers:
        """Account for one more response; return its connection headers."""
        self.served += 1
        if force_close or not client_keeps_alive or self.served >= self.max_requests:
            return CLOSE
        return [
            (b"Connection", b"keep-alive"),
            (b"Keep-Alive", b"timeout=%s, max=%d" % (_seconds(self.timeout), self.remaining)),
        ]

    @property
    def remaining(self) -> int:
        return max(self.max_requests - self.served, 0)


def _seconds(value: float) -> bytes:
    return b"%d" % value if value == int(value) else b"%g" % value


def closes(headers: Headers) -> bool:
    return headers is CLOSE
