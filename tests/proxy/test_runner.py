"""Runner and Signal: a coroutine stepped without an asyncio Task.

Each test runs inside asyncio.run and lets the loop turn with `turn()`: what matters is when
the coroutine moves, so the tests look between the turns.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from proxy.runner import Runner, Signal, write_batched


def run(scenario):  # type: ignore[no-untyped-def]
    return asyncio.run(scenario())


async def turn() -> None:
    """One turn of the loop: what was made ready runs."""
    await asyncio.sleep(0)


def test_a_signal_resumes_its_runner_on_the_next_turn():
    async def scenario() -> list[str]:
        steps: list[str] = []
        signal: Signal[str] = Signal()

        async def waits() -> None:
            steps.append("waiting")
            steps.append(await signal)

        Runner(asyncio.get_running_loop(), waits()).start()
        assert steps == []  # it starts on the loop's turn, as a Task would
        await turn()
        signal.set("fired")
        signal.set("again")  # a Signal fires once
        assert steps == ["waiting"]  # parked until the turn
        await turn()
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
        await turn()
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
        await turn()
        signal.fail(ValueError("broken"))
        await turn()
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
        await turn()
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
        await turn()
        runner.cancel()
        await turn()
        await asyncio.sleep(0)
        signal.set(None)  # too late: nothing more happens
        await turn()
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
        await turn()
        for signal in reversed(signals):
            signal.set(None)
        await turn()
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
            await turn()
        return runner.done

    assert run(scenario)
    assert "a connection's coroutine failed" in caplog.text


class Recorder:
    """The part of a transport `write_batched` uses."""

    def __init__(self, log: list[bytes]) -> None:
        self.log = log

    def is_closing(self) -> bool:
        return False

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        self.log.append(b"".join(parts))


def test_writes_made_while_runners_step_go_out_after_all_of_them_in_order():
    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        log: list[bytes] = []
        transport = Recorder(log)

        async def sends(name: bytes) -> None:
            write_batched(transport, (name, b" head"))  # type: ignore[arg-type]
            write_batched(transport, (name, b" body"))  # type: ignore[arg-type]
            log.append(name + b" stepped")

        for name in (b"a", b"b"):
            Runner(loop, sends(name)).start()
        write_batched(transport, (b"outside a step",))  # type: ignore[arg-type]
        await turn()
        return log

    assert run(scenario) == [
        b"outside a step",
        b"a stepped",
        b"b stepped",
        b"a head",
        b"a body",
        b"b head",
        b"b body",
    ]


def test_a_write_to_a_closing_transport_is_dropped():
    # The upstream reset the connection: its connection_lost, still to come, fails the
    # exchange (and the request is retried) instead of the write raising into the forwarder.
    log: list[bytes] = []
    closing = Recorder(log)
    closing.is_closing = lambda: True  # type: ignore[method-assign]
    write_batched(closing, (b"head",))  # type: ignore[arg-type]
    assert log == []
