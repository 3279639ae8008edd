"""RequestBody flow control (pause above the high water mark, resume below the low one) and
what a Transaction says about its body."""

from __future__ import annotations

import asyncio

import pytest

from proxy import errors
from proxy.transaction import BODY_HIGH_WATER, BODY_LOW_WATER, RequestBody, Transaction


class Flow:
    """Records the pause/resume calls a RequestBody makes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.body = RequestBody(
            lambda: self.calls.append("pause"), lambda: self.calls.append("resume")
        )

    @property
    def paused(self) -> bool:
        """Paused by the last pause/resume call."""
        return bool(self.calls) and self.calls[-1] == "pause"


async def drain(body: RequestBody) -> list[bytes]:
    return [chunk async for chunk in body]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 5))


def test_chunks_come_out_in_order_then_the_body_ends():
    flow = Flow()
    for chunk in (b"a", b"bc", b"def"):
        flow.body.feed(chunk)
    flow.body.finish()
    assert run(drain(flow.body)) == [b"a", b"bc", b"def"]
    assert flow.body.received == 6 and flow.body.complete


def test_empty_body():
    body = RequestBody(lambda: None, lambda: None)
    body.finish()
    assert run(drain(body)) == [] and body.complete


def test_reader_waits_for_data_that_arrives_later():
    async def scenario():
        body = RequestBody(lambda: None, lambda: None)
        reader = asyncio.ensure_future(drain(body))
        await asyncio.sleep(0)
        assert not reader.done()
        body.feed(b"late")
        await asyncio.sleep(0)
        body.feed(b"r")
        body.finish()
        return await reader

    assert run(scenario()) == [b"late", b"r"]


def test_no_pause_below_the_high_water_mark():
    flow = Flow()
    flow.body.feed(b"x" * BODY_HIGH_WATER)
    assert flow.calls == []


def test_pause_above_the_high_water_mark():
    flow = Flow()
    flow.body.feed(b"x" * BODY_HIGH_WATER)
    flow.body.feed(b"x")
    assert flow.paused


def test_resume_once_drained_below_the_low_water_mark():
    async def scenario():
        flow = Flow()
        size = BODY_LOW_WATER // 2
        for _ in range(2 * BODY_HIGH_WATER // size):
            flow.body.feed(b"x" * size)
        assert flow.paused
        flow.body.finish()
        total = 0
        async for chunk in flow.body:
            total += len(chunk)
            buffered = flow.body.received - total
            if buffered >= BODY_LOW_WATER:
                assert flow.paused, buffered  # still too much buffered
        assert not flow.paused
        return total

    assert run(scenario()) == 2 * BODY_HIGH_WATER


def test_error_is_raised_after_the_chunks_before_it():
    flow = Flow()
    flow.body.feed(b"ok")
    flow.body.fail(errors.PayloadTooLarge())
    got: list[bytes] = []

    async def scenario():
        async for chunk in flow.body:
            got.append(chunk)

    with pytest.raises(errors.PayloadTooLarge):
        run(scenario())
    assert got == [b"ok"]
    assert not flow.body.complete


def test_error_wakes_a_waiting_reader():
    async def scenario():
        body = RequestBody(lambda: None, lambda: None)
        reader = asyncio.ensure_future(drain(body))
        await asyncio.sleep(0)
        body.fail(errors.RequestTimeout())
        return await reader

    with pytest.raises(errors.RequestTimeout):
        run(scenario())


def test_error_after_finish_means_incomplete():
    body = RequestBody(lambda: None, lambda: None)
    body.finish()
    body.fail(errors.BadRequest())
    assert body.finished and not body.complete


def test_exchange_without_body_has_nothing_unread():
    ex = Transaction(1, None)
    assert not ex.body_unread


def test_exchange_body_unread_until_complete():
    body = RequestBody(lambda: None, lambda: None)
    ex = Transaction(1, None, body)
    assert ex.body_unread
    body.finish()
    assert not ex.body_unread


def test_exchange_with_failed_body_stays_unread():
    # The connection must then close: the rest of that body may still be on the wire.
    body = RequestBody(lambda: None, lambda: None)
    body.fail(errors.BadRequest())
    assert Transaction(1, None, body).body_unread


def test_exchange_defaults():
    ex = Transaction(3, None)
    assert (ex.number, ex.status, ex.bytes_sent, ex.user) == (3, 0, 0, b"-")
    assert not ex.response_started and not ex.close_after and ex.cache == "-"
