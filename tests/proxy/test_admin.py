"""The admin listener's answers, without sockets."""

from __future__ import annotations

import asyncio

import pytest

from proxy import admin


class FakeMetrics:
    def flush(self) -> None:
        pass


class FakeState:
    def __init__(self, down: list[str], shutting_down: bool = False) -> None:
        self._down = down
        self.shutting_down = shutting_down
        self.metrics = FakeMetrics()

    def not_ready(self) -> list[str]:
        return self._down


def answer(state: FakeState, head: bytes) -> tuple[int, bytes, bytes]:
    return asyncio.run(admin.answer(state, head))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "status", "body"),
    [
        (FakeState([]), 200, b"ready\n"),
        (FakeState(["content: no healthy replica"]), 503, b"content: no healthy replica\n"),
        (FakeState([], shutting_down=True), 503, b"shutting down\n"),
    ],
    ids=["ready", "upstream-down", "shutting-down"],
)
def test_readyz(state, status, body):
    assert answer(state, b"GET /readyz HTTP/1.1\r\n\r\n")[::2] == (status, body)


def test_healthz_even_when_not_ready():
    assert (
        answer(FakeState(["auth: no healthy replica"]), b"GET /healthz HTTP/1.1\r\n\r\n")[0] == 200
    )


def test_metrics_are_prometheus_text():
    status, content_type, body = answer(FakeState([]), b"GET /metrics HTTP/1.1\r\n\r\n")
    assert status == 200 and content_type.startswith(b"text/plain; version=")
    assert b"# TYPE gatehouse_requests_total counter" in body


@pytest.mark.parametrize(
    ("head", "status"),
    [(b"POST /readyz HTTP/1.1\r\n\r\n", 405), (b"GET /admin HTTP/1.1\r\n\r\n", 404)],
    ids=["post", "unknown-path"],
)
def test_other_requests(head, status):
    assert answer(FakeState([]), head)[0] == status
