"""Runner and Signal: a coroutine stepped without an asyncio Task.

Each test runs inside asyncio.run (futures need a loop) but steps the runner itself: what
matters is when the coroutine moves, so the tests look between the steps.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from proxy.runner import Runner, Signal, run_ready


def run(scenario):  # type: ignore[no-untyped-def]
    return asyncio.run(scenario())


def test_a_signal_resumes_its_runner_at_run_ready_without_a_loop_turn():
    async def scenario() -> list[str]:
        steps: list[str] = []
        signal: Signal[str] = Signal()

        async def waits() -> None:
            steps.append("waiting")
            steps.append(await signal)

        Runner(asyncio.get_running_loop(), waits()).start()
        assert steps == []  # started only by run_ready, when the callback is done
        run_ready()
        signal.set("fired")
        assert steps == ["waiting"]  # parked until run_ready
        run_ready()
        return steps

    assert run(scenario) == ["waiting", "fired"]


def test_a_signal_fired_before_it_is_awaited_does_not_park():
    async def scenario() -> list[str]:
        signal: Signal[str] = Signal()
        signal.set("early")
        got: list[str] = []

        async def waits() -> None:
            got.append(await signal)

        Runner(asyncio.get_running_loop(), waits()).start()
        run_ready()
        return got

    assert run(scenario) == ["early"]


def test_a_failed_signal_raises_at_the_await():
    async def scenario() -> list[str]:
        signal: Signal[str] = Signal()
        got: list[str] = []

        async def waits() -> None:
            try:
                await signal
            except ValueError as exc:
                got.append(str(exc))

        Runner(asyncio.get_running_loop(), waits()).start()
        run_ready()
        signal.fail(ValueError("broken"))
        run_ready()
        return got

    assert run(scenario) == ["broken"]


def test_a_signal_awaited_from_a_task_uses_a_future():
    async def scenario() -> str:
        signal: Signal[str] = Signal()
        asyncio.get_running_loop().call_soon(signal.set, "via the loop")
        return await signal  # this coroutine is a Task's, not a runner's

    assert run(scenario) == "via the loop"


def test_a_runner_waits_on_asyncio_futures_and_bare_yields_as_a_task_does():
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        got: list[str] = []

        async def waits() -> None:
            await asyncio.sleep(0)
            got.append(await future)

        Runner(loop, waits()).start()
        run_ready()
        await asyncio.sleep(0)
        future.set_result("from the future")
        assert got == []  # its done callback runs on the next turn
        await asyncio.sleep(0)
        return got

    assert run(scenario) == ["from the future"]


@pytest.mark.parametrize("waits_on", ["signal", "future"])
def test_cancel_raises_at_the_await_point(waits_on: str):
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        signal: Signal[None] = Signal()
        future: asyncio.Future[None] = loop.create_future()
        got: list[str] = []

        async def waits() -> None:
            try:
                await (signal if waits_on == "signal" else future)
            except asyncio.CancelledError:
                got.append("cancelled")
                raise

        runner = Runner(loop, waits())
        runner.start()
        run_ready()
        runner.cancel()
        run_ready()
        await asyncio.sleep(0)
        signal.set(None)  # too late: nothing more happens
        run_ready()
        assert runner.done
        return got

    assert run(scenario) == ["cancelled"]


def test_each_runner_has_its_own_context():
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="-")

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        signals: list[Signal[None]] = [Signal(), Signal()]
        seen: list[str] = []

        async def serves(name: str, signal: Signal[None]) -> None:
            var.set(name)
            await signal
            seen.append(var.get())

        for name, signal in zip("ab", signals, strict=True):
            Runner(loop, serves(name, signal)).start()
        run_ready()
        for signal in reversed(signals):
            signal.set(None)
        run_ready()
        seen.append(var.get())  # the caller's own context is untouched
        return seen

    assert run(scenario) == ["b", "a", "-"]


def test_an_error_that_escapes_is_logged(caplog: pytest.LogCaptureFixture):
    async def scenario() -> bool:
        async def fails() -> None:
            raise RuntimeError("bug")

        runner = Runner(asyncio.get_running_loop(), fails())
        runner.start()
        with caplog.at_level(logging.ERROR, logger="gatehouse.proxy"):
            run_ready()
        return runner.done

    assert run(scenario)
    assert "a connection's coroutine failed" in caplog.text
