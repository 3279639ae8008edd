"""A connection's one timer, only ever moved earlier: both sides of the proxy time their
connections this way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    """`schedule(deadline)` makes sure the callback runs by then: a later timer is moved, an
    earlier one kept. When it runs, the owner works out from its state and the progress made
    whether a deadline really passed, and schedules again for what is left if not. So a
    keep-alive request costs no timer churn, only a clock read (deadlines measure progress,
    not events)."""

    __slots__ = ("_at", "_callback", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop, self._callback = loop, callback
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0

    def schedule(self, deadline: float) -> None:
        if self._handle is None or self._at > deadline:
            if self._handle is not None:
                self._handle.cancel()
            self._at = deadline
            self._handle = self._loop.call_at(deadline, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()
