"""Where a response body goes: the client connection, the cache's copy, or nowhere."""

from __future__ import annotations

from typing import Final, Protocol


class Sink(Protocol):
    def body(self, data: bytes) -> None: ...

    def end(self) -> None: ...

    def flush(self) -> None:
        """Called after each batch of events: write out what body() and end() collected."""


class _Discard:
    """For a response whose head says it all (an auth verdict, a 304 for the cache)."""

    __slots__ = ()

    def body(self, data: bytes) -> None:
        pass

    def end(self) -> None:
        pass

    def flush(self) -> None:
        pass


DISCARD: Final = _Discard()
