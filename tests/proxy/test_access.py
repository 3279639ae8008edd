"""AuthClient: what it asks the auth service, how it reads the answer, and its short cache.

The upstream exchange is replaced by a scripted one, and the loop clock by a settable one.
"""

from __future__ import annotations

import asyncio

import pytest

from proxy import access, errors
from proxy.access import AuthClient, Session
from proxy.http1 import Framing, RequestParser, ResponseHead


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


class FakeConn:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def relay(self, sink) -> None:
        if self._body:
            sink.body(self._body)
        sink.end()


class FakePool:
    """Stands for the auth service's replicas: records the connections given back."""

    def __init__(self) -> None:
        self.released: list[FakeConn] = []

    def release(self, conn: FakeConn) -> None:
        self.released.append(conn)


class FakeLease:
    def __init__(self, pool: FakePool, conn: FakeConn, head: ResponseHead) -> None:
        self.pool, self.conn, self.head = pool, conn, head

    def __enter__(self) -> FakeLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.release(self.conn)


class AuthService:
    """Answers /verify from a script: one (status, headers, body) per call, or the last one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list[bytes] = []
        self.answers: list[tuple[int, list, bytes]] = []
        self.delay = 0.0
        monkeypatch.setattr(access, "exchange", self._exchange)

    def answer(self, status: int, user: bytes | None = None, left: bytes | None = None, body=b""):
        headers = []
        if user is not None:
            headers.append((b"x-auth-user", user))
        if left is not None:
            headers.append((b"x-auth-seconds-left", left))
        self.answers.append((status, headers, body))

    async def _exchange(self, replicas, method, head, body=None, *, chunked=False):
        self.requests.append(head)
        await asyncio.sleep(self.delay)
        status, headers, data = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        response = ResponseHead(status, headers, keep_alive=True, framing=Framing.LENGTH)
        return FakeLease(replicas, FakeConn(data), response)


@pytest.fixture
def auth(monkeypatch):
    return AuthService(monkeypatch)


def make_client(*, ttl: float = 1.0, size: int = 100) -> tuple[AuthClient, Clock, FakePool]:
    pool = FakePool()
    clock = Clock()  # moved by hand
    client = AuthClient(pool, cache_ttl=ttl, cache_size=size, clock=clock.time)  # type: ignore[arg-type]
    return client, clock, pool


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 5))


def test_no_cookie_means_no_question(auth):
    async def scenario():
        client, _, _ = make_client()
        return await client.session(None), await client.session(b"")

    assert run(scenario()) == (None, None)
    assert auth.requests == []


def test_valid_session(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, clock, pool = make_client()
        session = await client.session(b"session=s")
        return session, clock.now, pool

    session, now, pool = run(scenario())
    assert session == Session(user=b"alice", expires_at=now + 30)
    assert session.seconds_left(now + 10.4) == 19
    assert len(pool.released) == 1  # the connection goes back after its body was read


def test_verify_request_sends_only_the_cookie_and_the_request_id(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client()
        await client.session(b"session=s; theme=dark", b"req-1")

    run(scenario())
    [head] = auth.requests
    [parsed, _] = RequestParser().feed(head)
    assert (parsed.method, parsed.target) == (b"GET", b"/verify")
    assert parsed.headers == [
        (b"host", b"auth"),
        (b"cookie", b"session=s; theme=dark"),
        (b"x-request-id", b"req-1"),
    ]


def test_cache_results_are_counted(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client()
        for _ in range(3):
            await client.session(b"session=s")
        return client.results

    assert run(scenario()) == {("miss",): 1, ("hit",): 2}


@pytest.mark.parametrize("status", [401, 403])
def test_refusal(auth, status):
    auth.answer(status)

    async def scenario():
        client, _, _ = make_client()
        return await client.session(b"session=bad")

    assert run(scenario()) is None


@pytest.mark.parametrize(
    ("status", "user", "left"),
    [
        pytest.param(500, None, None, id="500"),
        pytest.param(302, None, None, id="redirect"),
        pytest.param(200, None, b"30", id="no-user"),
        pytest.param(200, b"", b"30", id="empty-user"),
        pytest.param(200, b"alice", None, id="no-seconds"),
        pytest.param(200, b"alice", b"-5", id="negative-seconds"),
        pytest.param(200, b"alice", b"3.5", id="fractional-seconds"),
    ],
)
def test_unusable_answer_is_502(auth, status, user, left):
    auth.answer(status, user, left)

    async def scenario():
        client, _, _ = make_client()
        return await client.session(b"session=s")

    with pytest.raises(errors.BadGateway):
        run(scenario())


def test_answer_body_is_read_and_discarded(auth):
    # The verdict is all in the head; the body is only drained so the connection can be pooled.
    auth.answer(200, b"alice", b"30", body=b"x" * 70_000)

    async def scenario():
        client, _, pool = make_client()
        return await client.session(b"session=s"), len(pool.released)

    session, released = run(scenario())
    assert session is not None and session.user == b"alice" and released == 1


def test_confirmed_session_is_cached_for_the_ttl(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, clock, _ = make_client(ttl=1.0)
        first = await client.session(b"s=1")
        clock.now += 0.9
        second = await client.session(b"s=1")
        asked_within_ttl = len(auth.requests)
        clock.now += 0.2
        await client.session(b"s=1")
        return first, second, asked_within_ttl

    first, second, asked_within_ttl = run(scenario())
    assert first == second and asked_within_ttl == 1
    assert len(auth.requests) == 2


def test_cache_never_outlives_the_session(auth):
    auth.answer(200, b"alice", b"2")

    async def scenario():
        client, clock, _ = make_client(ttl=60.0)
        await client.session(b"s=1")
        clock.now += 0.5
        await client.session(b"s=1")
        asked_early = len(auth.requests)
        auth.answers[:] = []
        auth.answer(401)
        clock.now += 1.5  # the session's own end, well inside the 60 s TTL
        return asked_early, await client.session(b"s=1")

    assert run(scenario()) == (1, None)


def test_refusals_are_not_cached(auth):
    auth.answer(401)

    async def scenario():
        client, _, _ = make_client()
        for _ in range(3):
            assert await client.session(b"tampered") is None

    run(scenario())
    assert len(auth.requests) == 3


def test_cache_is_per_cookie(auth):
    auth.answer(200, b"alice", b"30")
    auth.answer(200, b"bob", b"30")

    async def scenario():
        client, _, _ = make_client()
        return [(await client.session(c)).user for c in (b"s=a", b"s=b", b"s=a", b"s=b")]

    assert run(scenario()) == [b"alice", b"bob", b"alice", b"bob"]
    assert len(auth.requests) == 2


@pytest.mark.parametrize(("ttl", "size"), [(0.0, 100), (1.0, 0)])
def test_cache_can_be_turned_off(auth, ttl, size):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client(ttl=ttl, size=size)
        for _ in range(3):
            await client.session(b"s=1")

    run(scenario())
    assert len(auth.requests) == 3


def test_cache_is_bounded_oldest_first(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client(size=2)
        for cookie in (b"s=1", b"s=2", b"s=3"):
            await client.session(cookie)
        asked = len(auth.requests)
        await client.session(b"s=3")
        await client.session(b"s=2")
        still_cached = len(auth.requests) == asked
        await client.session(b"s=1")  # evicted: asked again
        return still_cached, len(auth.requests) - asked

    assert run(scenario()) == (True, 1)


def test_concurrent_checks_of_one_cookie_ask_once(auth):
    auth.answer(200, b"alice", b"30")
    auth.delay = 0.01

    async def scenario():
        client, _, _ = make_client()
        return await asyncio.gather(*(client.session(b"s=1") for _ in range(5)))

    sessions = run(scenario())
    assert len(auth.requests) == 1
    assert all(s is not None and s.user == b"alice" for s in sessions)


def test_a_cancelled_asker_does_not_fail_the_others(auth):
    auth.answer(200, b"alice", b"30")
    auth.delay = 0.05

    async def scenario():
        client, _, _ = make_client()
        first = asyncio.ensure_future(client.session(b"s=1"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(client.session(b"s=1"))
        await asyncio.sleep(0.01)
        first.cancel()
        return await second

    assert run(scenario()).user == b"alice"
    assert len(auth.requests) == 2  # the second asked again itself
