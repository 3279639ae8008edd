"""Running a client connection's coroutine without an asyncio Task (issue 13).

A Task resumes its coroutine through the event loop: the result of the future it waits on
schedules a callback (`call_soon`, a Handle), and the loop runs it into the Task's step. A
proxied request waits twice, for its own arrival and for the upstream's response head: a
Runner saves the two futures and Task steps, and the Handles but one per turn of the loop
(5,300 instructions a request when requests come one at a time, callgrind).

The coroutine waits in two ways:

- on a `Signal`, which the proxy's protocol callbacks fire: the runner parks, and firing puts
  it on a ready list. One Handle per turn of the loop resumes all the runners made ready in
  that turn, after the loop has handled every socket that was ready, as it would run Tasks.
  (Resuming each at the end of the callback that fired it cost 25 % more CPU per request
  under load than Tasks, for fewer instructions: every write to the upstream, on the same
  core, woke it on its own instead of once per batch.)
- on anything else asyncio (futures, `asyncio.sleep`, a lock): as a Task would, resumed from
  the future's done callback.

Awaited outside a runner (from a Task, e.g. a health check), a Signal makes an asyncio future,
so the same exchange code serves both. As a Task does, each runner runs in its own context
(trace mode keeps the request being served in a context variable), and `cancel()` raises
CancelledError at the await point. Unlike in a Task, `asyncio.current_task()` is None: what a
runner runs cannot use `asyncio.timeout()` (`asyncio.wait_for` works).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine, Generator
from typing import Any, Final, Generic, TypeVar

log = logging.getLogger("gatehouse.proxy")

T = TypeVar("T")


class _Parked:
    """What a coroutine yields to its runner while it waits on a Signal."""

    __slots__ = ()


_PARKED: Final = _Parked()


class _Turn:
    """The runner stepping its coroutine now, if any (a Signal awaited outside one, from a
    Task, makes a future), and whether the runners made ready are stepping, with the writes
    kept for the end of their steps. (Attributes of a Final object, not globals of their
    own: mypyc reads a Final object directly, any other global through the module's dict.)"""

    __slots__ = ("runner", "stepping_ready", "writes")

    def __init__(self) -> None:
        self.runner: Runner | None = None
        self.stepping_ready = False
        self.writes: list[tuple[asyncio.Transport, tuple[bytes, ...]]] = []


_turn: Final = _Turn()
# The runners made ready in this turn of the loop (by a Signal, or cancelled while parked).
_ready: Final[list[Runner]] = []


def _make_ready(runner: Runner) -> None:
    if not _ready:
        runner._loop.call_soon(_run_ready)
    _ready.append(runner)


def _run_ready() -> None:
    """Resume the runners made ready, in order (those they make ready go on the next turn),
    then make the writes they kept for the end."""
    ready = _ready.copy()
    _ready.clear()
    _turn.stepping_ready = True
    try:
        for runner in ready:
            runner._step()
    finally:
        _turn.stepping_ready = False
    writes = _turn.writes
    if writes:
        _turn.writes = []
        for transport, parts in writes:
            if not transport.is_closing():
                transport.writelines(parts)


def write_batched(transport: asyncio.Transport, parts: tuple[bytes, ...]) -> None:
    """Write to an upstream: now, or, while the runners made ready are stepping, once they
    all have. Scenario 4 (wrk with 64 connections): the static nginx upstream, which shares
    the proxy's core, woke 0.56 times per request when each request went out as its runner
    made it, and took the core each time; 0.40 times with the requests of a turn sent
    together, for 8 to 25 % more requests (its CPU per request 29-32 -> 24-25 µs, ours 84-94
    -> 67-92 µs). The writes keep their order (a request's body never goes before its head),
    and a step holds at most what a request body buffers (transaction.BODY_HIGH_WATER)."""
    if _turn.stepping_ready:
        _turn.writes.append((transport, parts))
    elif not transport.is_closing():  # closing: connection_lost comes and fails the exchange
        transport.writelines(parts)


class Signal(Generic[T]):
    """A value (or an error) that arrives once, awaited by at most one coroutine."""

    __slots__ = ("_error", "_future", "_runner", "_value", "fired")

    def __init__(self) -> None:
        self.fired = False
        self._value: T | None = None
        self._error: BaseException | None = None
        self._runner: Runner | None = None
        self._future: asyncio.Future[None] | None = None

    @property
    def value(self) -> T:
        """The value: only once fired without an error."""
        if self._error is not None:
            raise self._error
        assert self.fired
        return self._value  # type: ignore[return-value]

    def set(self, value: T) -> None:
        if not self.fired:
            self.fired, self._value = True, value
            self._wake()

    def fail(self, error: BaseException) -> None:
        if not self.fired:
            self.fired, self._error = True, error
            self._wake()

    def _wake(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            if runner._parked_on is self:  # else it was cancelled meanwhile
                runner._parked_on = None
                _make_ready(runner)
        elif self._future is not None and not self._future.done():
            self._future.set_result(None)

    def __await__(self) -> Generator[Any, None, T]:
        if not self.fired:
            runner = _turn.runner
            if runner is not None:
                self._runner, runner._parked_on = runner, self
                yield _PARKED
            else:
                self._future = asyncio.get_running_loop().create_future()
                yield from self._future
        return self.value


class Runner:
    """Steps one coroutine to its end, in place of an asyncio Task."""

    __slots__ = ("_context", "_coro", "_future", "_loop", "_parked_on", "_throw", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> None:
        self._loop, self._coro = loop, coro
        self._context = contextvars.copy_context()
        self._parked_on: Signal[Any] | None = None  # the Signal it waits on, if any
        self._future: asyncio.Future[Any] | None = None  # the future it waits on, if any
        self._throw: BaseException | None = None  # to raise at the await point next
        self.done = False

    def start(self) -> None:
        """Run the coroutine to its first wait, on this turn of the loop."""
        _make_ready(self)

    def cancel(self) -> None:
        """As Task.cancel: CancelledError at the await point (on this turn of the loop when
        parked on a Signal; from a future's done callback when waiting on a future)."""
        if self.done:
            return
        if self._future is not None and self._future.cancel():
            return  # its done callback resumes the coroutine, and the await raises
        # Else the error is raised at the next step: now if parked on a Signal, or the one
        # already due (the first, one after a bare yield, or a future's that is done).
        self._throw = asyncio.CancelledError()
        if self._parked_on is not None:
            self._parked_on = None
            _make_ready(self)

    def _on_future(self, future: asyncio.Future[Any]) -> None:
        if future is self._future:
            self._future = None
            self._step()

    def _step(self) -> None:
        if self.done:
            return
        error, self._throw = self._throw, None
        previous, _turn.runner = _turn.runner, self
        try:
            if error is None:
                waits_on = self._context.run(self._coro.send, None)
            else:
                waits_on = self._context.run(self._coro.throw, error)
        except (StopIteration, asyncio.CancelledError):
            self.done = True
            return
        except BaseException:
            self.done = True
            log.exception("a connection's coroutine failed")
            return
        finally:
            _turn.runner = previous
        if waits_on is _PARKED:
            return
        if waits_on is None:  # a bare yield (asyncio.sleep(0)): run again on the next turn
            self._loop.call_soon(self._step)
            return
        # An asyncio future, yielded as Future.__await__ does for a Task.
        future: asyncio.Future[Any] = waits_on
        future._asyncio_future_blocking = False
        self._future = future
        future.add_done_callback(self._on_future)
