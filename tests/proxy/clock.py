"""A fake clock for the timer tests, as uvicorn's tests (and asyncio's own TestLoop) do.

`FakeLoop` wraps the running event loop and delegates everything to it (futures, tasks,
call_soon), except time: `time()` reads `now`, and `call_at`/`call_later` only record the
timer. `advance(seconds)` moves `now` on and runs every timer that falls due on the way;
what those callbacks wake (tasks, call_soon) runs once the test yields (`settle()`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any


class FakeTimer:
    """What `call_at` returns: the part of asyncio.TimerHandle the proxy uses."""

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._when, self._callback, self._args = when, callback, args
        self._cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled

    def run(self) -> None:
        self._callback(*self._args)


class FakeLoop:
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, now: float = 0.0) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self.now = now
        self.armed: list[float] = []  # the deadline of every call_at, in order
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()  # equal deadlines run in the order they were armed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        self.armed.append(when)
        timer = FakeTimer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        return self.call_at(self.now + delay, callback, *args)

    def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds`, running the timers due by then in deadline order,
        each with the clock at its deadline (also those armed by an earlier one). A callback
        that raises fails the test: there is no loop exception handler in between."""
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            when, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled():
                self.now = max(self.now, when)
                timer.run()
        self.now = end

    async def sleep(self, delay: float) -> None:
        """asyncio.sleep in fake time (for stubs that take a while)."""
        done = self._loop.create_future()
        self.call_later(delay, lambda: done.done() or done.set_result(None))
        await done


async def settle(turns: int = 10) -> None:
    """Let the real loop run what is ready: tasks woken by a timer, call_soon callbacks."""
    for _ in range(turns):
        await asyncio.sleep(0)
