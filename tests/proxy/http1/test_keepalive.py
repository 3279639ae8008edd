"""KeepAlive: response n of MAX says `Keep-Alive: timeout=T, max=MAX-n`; response MAX closes."""

from __future__ import annotations

import pytest

from proxy.http1.keepalive import CLOSE, KeepAlive


def keep_alive(timeout: bytes, left: int) -> tuple[list, bool]:
    headers = [
        (b"Connection", b"keep-alive"),
        (b"Keep-Alive", b"timeout=%s, max=%d" % (timeout, left)),
    ]
    return headers, False


CLOSING = (list(CLOSE), True)


def test_first_response():
    assert KeepAlive(5.0, 100).next_response(True) == keep_alive(b"5", 99)


def test_the_whole_countdown_of_100():
    ka = KeepAlive(5.0, 100)
    for n in range(1, 100):
        assert ka.next_response(True) == keep_alive(b"5", 100 - n), n
    assert ka.next_response(True) == CLOSING
    assert ka.served == 100 and ka.remaining == 0


def test_remaining_never_goes_negative():
    ka = KeepAlive(5.0, 2)
    for _ in range(5):
        ka.next_response(True)
    assert ka.remaining == 0
    assert ka.next_response(True) == CLOSING


def test_max_one_closes_at_once():
    assert KeepAlive(5.0, 1).next_response(True) == CLOSING


def test_client_that_does_not_keep_alive_gets_close():
    ka = KeepAlive(5.0, 100)
    assert ka.next_response(False) == CLOSING
    assert ka.served == 1  # the response still counts


def test_force_close():
    assert KeepAlive(5.0, 100).next_response(True, force_close=True) == CLOSING


def test_close_does_not_end_the_countdown_for_later_calls():
    ka = KeepAlive(5.0, 100)
    ka.next_response(True, force_close=True)
    assert ka.next_response(True) == keep_alive(b"5", 98)


@pytest.mark.parametrize(
    ("timeout", "text"),
    [(5.0, b"5"), (5, b"5"), (10.0, b"10"), (2.5, b"2"), (0.25, b"0")],
    ids=["float", "int", "ten", "rounded-down", "sub-second"],
)
def test_timeout_is_announced_in_whole_seconds_rounded_down(timeout, text):
    assert KeepAlive(timeout, 10).next_response(True) == keep_alive(text, 9)


def test_the_close_headers_cannot_be_changed_through_a_response():
    headers, _ = KeepAlive(5.0, 1).next_response(True)
    headers.append((b"X", b"y"))
    assert CLOSE == ((b"Connection", b"close"),)
