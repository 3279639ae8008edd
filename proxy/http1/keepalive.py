"""Keep-alive bookkeeping for one client connection (RFC 9112 §9.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from proxy.http1.headers import Headers

CLOSE: tuple[tuple[bytes, bytes], ...] = ((b"Connection", b"close"),)
KEEP_ALIVE: Final = (b"Connection", b"keep-alive")


@dataclass
class KeepAlive:
    """Counts the responses on a connection and says how each one must end it.

    Response n (1-based) of a persistent connection carries
    `Keep-Alive: timeout=T, max=MAX-n`; response MAX says `Connection: close`.
    """

    timeout: float
    max_requests: int
    served: int = 0

    def next_response(
        self, client_keeps_alive: bool, *, force_close: bool = False
    ) -> tuple[Headers, bool]:
        """Account for one more response: its connection headers, and whether it closes."""
        self.served += 1
        if force_close or not client_keeps_alive or self.served >= self.max_requests:
            return list(CLOSE), True
        # The timeout is a hint in whole seconds; rounding down keeps clients on the safe side.
        # (int first: %d tries a float's __index__ and fails before it converts.)
        keep_alive = b"timeout=%d, max=%d" % (int(self.timeout), self.max_requests - self.served)
        return [KEEP_ALIVE, (b"Keep-Alive", keep_alive)], False

    @property
    def remaining(self) -> int:
        return max(self.max_requests - self.served, 0)
