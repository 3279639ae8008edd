"""The fake clock the timer tests run on (clock.py) behaves like a loop's timers."""

from __future__ import annotations

import asyncio

from tests.proxy.clock import FakeLoop, settle


def test_due_timers_run_in_deadline_order_each_at_its_deadline():
    async def scenario():
        loop = FakeLoop()
        seen: list[tuple[str, float]] = []
        loop.call_at(2.0, lambda: seen.append(("b", loop.time())))
        loop.call_later(1.0, lambda: seen.append(("a", loop.time())))
        loop.call_at(3.0, lambda: seen.append(("late", loop.time())))
        loop.call_at(1.5, lambda: seen.append(("cancelled", loop.time()))).cancel()
        loop.advance(2.5)
        return seen, loop.time(), loop.armed

    assert asyncio.run(scenario()) == ([("a", 1.0), ("b", 2.0)], 2.5, [2.0, 1.0, 3.0, 1.5])


def test_a_timer_armed_by_a_timer_runs_in_the_same_advance_if_due():
    async def scenario():
        loop = FakeLoop()
        seen: list[float] = []

        def tick() -> None:
            seen.append(loop.time())
            loop.call_later(1.0, tick)

        loop.call_later(1.0, tick)
        loop.advance(3.5)
        return seen

    assert asyncio.run(scenario()) == [1.0, 2.0, 3.0]


def test_everything_else_is_the_real_loop():
    async def scenario():
        loop = FakeLoop()
        woken = loop.create_task(loop.sleep(5.0))
        await settle()
        before = woken.done()
        loop.advance(5.0)
        await settle()
        return before, woken.done(), loop.get_debug() == asyncio.get_running_loop().get_debug()

    assert asyncio.run(scenario()) == (False, True, True)
