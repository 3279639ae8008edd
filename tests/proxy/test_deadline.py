"""Deadline: one timer, only ever moved earlier (driven by the fake loop)."""

from __future__ import annotations

import asyncio

from proxy.deadline import Deadline
from tests.proxy.clock import FakeLoop


def fired_at(*schedules: float, cancel: bool = False) -> tuple[list[float], list[float]]:
    """Schedule each deadline in turn; (when the callback ran, every timer armed)."""

    async def scenario() -> tuple[list[float], list[float]]:
        loop = FakeLoop()
        runs: list[float] = []
        deadline = Deadline(loop, lambda: runs.append(loop.time()))  # type: ignore[arg-type]
        for at in schedules:
            deadline.schedule(at)
        if cancel:
            deadline.cancel()
        loop.advance(100)
        return runs, loop.armed

    return asyncio.run(scenario())


def test_a_later_deadline_keeps_the_timer_armed():
    assert fired_at(5, 9, 7) == ([5], [5])


def test_an_earlier_deadline_moves_it():
    assert fired_at(9, 5) == ([5], [9, 5])


def test_cancelled_it_does_not_fire():
    assert fired_at(5, cancel=True) == ([], [5])
