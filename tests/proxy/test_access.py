"""AuthClient: what it asks the auth service, how it reads the answer, and its short cache.

The upstream exchange is replaced by a scripted one, and the loop clock by a settable one.
"""

from __future__ import annotations

import asyncio

import pytest

from proxy import access, errors
from proxy.access import NO_COOKIE, AuthClient, Refusal, Session
from proxy.http1 import Framing, RequestParser, ResponseHead


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


class FakeExchange:
    def __init__(self, body: bytes, head: ResponseHead) -> None:
        self._body, self.head = body, head

    async def relay_all(self, sink) -> None:
        if self._body:
            sink.body(self._body)
        sink.end()


class FakePool:
    """Stands for the auth service's replicas: records the connections given back."""

    def __init__(self) -> None:
        self.released: list[FakeExchange] = []

    def release(self, exchange: FakeExchange) -> None:
        self.released.append(exchange)


class FakeLease:
    def __init__(self, pool: FakePool, exchange: FakeExchange) -> None:
        self.pool, self.exchange = pool, exchange

    def __enter__(self) -> FakeLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.release(self.exchange)


class AuthService:
    """Answers /verify from a script: one (status, headers, body) per call, or the last one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list[bytes] = []
        self.answers: list[tuple[int, list, bytes]] = []
        self.delay = 0.0
        monkeypatch.setattr(access, "send", self._send)

    def answer(self, status: int, user: bytes | None = None, left: bytes | None = None, body=b""):
        headers = []
        if user is not None:
            headers.append((b"x-auth-user", user))
        if left is not None:
            headers.append((b"x-auth-seconds-left", left))
        self.answers.append((status, headers, body))

    async def _send(self, replicas, method, head, body=None, *, chunked=False):
        self.requests.append(head)
        await asyncio.sleep(self.delay)
        status, headers, data = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        response = ResponseHead(status, headers, keep_alive=True, framing=Framing.LENGTH)
        return FakeLease(replicas, FakeExchange(data, response))


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
        return await client.verdict(None), await client.verdict(b"")

    assert run(scenario()) == (NO_COOKIE, NO_COOKIE)
    assert auth.requests == []


def test_valid_session(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, clock, pool = make_client()
        session = await client.verdict(b"session=s")
        return session, clock.now, pool

    session, now, pool = run(scenario())
    assert session == Session(user=b"alice", expires_at=now + 30)
    assert session.seconds_left(now + 10.4) == 19
    assert len(pool.released) == 1  # the connection goes back after its body was read


@pytest.mark.parametrize(
    ("tls", "token", "extra"),
    [
        pytest.param(False, None, [], id="http"),
        pytest.param(True, b"t0ken", [(b"x-gatehouse-token", b"t0ken")], id="https+token"),
    ],
)
def test_verify_request_headers(auth, tls, token, extra):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client = AuthClient(FakePool(), cache_ttl=1, cache_size=1, token=token)  # type: ignore[arg-type]
        await client.verdict(b"session=s", peer_ip=b"192.0.2.7", tls=tls, request_id=b"req-1")

    run(scenario())
    [head] = auth.requests
    [parsed, _] = RequestParser().feed(head)
    assert (parsed.method, parsed.target) == (b"GET", b"/verify")
    assert parsed.headers == [
        (b"host", b"auth"),
        (b"cookie", b"session=s"),
        (b"x-forwarded-for", b"192.0.2.7"),
        (b"x-forwarded-proto", b"https" if tls else b"http"),
        (b"x-request-id", b"req-1"),
        *extra,
    ]


def test_cache_results_are_counted(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client()
        for _ in range(3):
            await client.verdict(b"session=s")
        return client.results.take()

    assert run(scenario()) == {("miss",): 1, ("hit",): 2}


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(
    ("reason", "ended"),
    [
        (None, False),
        (b"missing", False),
        (b"invalid", False),
        (b"expired", True),
        (b"revoked", True),
    ],
)
def test_refusal(auth, status, reason, ended):
    auth.answer(status)
    if reason is not None:
        auth.answers[0][1].append((b"x-auth-reason", reason))

    async def scenario():
        client, _, _ = make_client()
        return await client.verdict(b"session=bad")

    verdict = run(scenario())
    assert verdict == Refusal(reason or b"") and verdict.ended is ended


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
        return await client.verdict(b"session=s")

    with pytest.raises(errors.BadGateway):
        run(scenario())


def test_answer_body_is_read_and_discarded(auth):
    # The verdict is all in the head; the body is only drained so the connection can be pooled.
    auth.answer(200, b"alice", b"30", body=b"x" * 70_000)

    async def scenario():
        client, _, pool = make_client()
        return await client.verdict(b"session=s"), len(pool.released)

    session, released = run(scenario())
    assert session.user == b"alice" and released == 1


def test_confirmed_session_is_cached_for_the_ttl(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, clock, _ = make_client(ttl=1.0)
        first = await client.verdict(b"s=1")
        clock.now += 0.9
        second = await client.verdict(b"s=1")
        asked_within_ttl = len(auth.requests)
        clock.now += 0.2
        await client.verdict(b"s=1")
        return first, second, asked_within_ttl

    first, second, asked_within_ttl = run(scenario())
    assert first == second and asked_within_ttl == 1
    assert len(auth.requests) == 2


def test_cache_never_outlives_the_session(auth):
    auth.answer(200, b"alice", b"2")

    async def scenario():
        client, clock, _ = make_client(ttl=60.0)
        await client.verdict(b"s=1")
        clock.now += 0.5
        await client.verdict(b"s=1")
        asked_early = len(auth.requests)
        auth.answers[:] = []
        auth.answer(401)
        clock.now += 1.5  # the session's own end, well inside the 60 s TTL
        return asked_early, await client.verdict(b"s=1")

    assert run(scenario()) == (1, Refusal(b""))


def test_refusals_are_not_cached(auth):
    auth.answer(401)

    async def scenario():
        client, _, _ = make_client()
        for _ in range(3):
            assert isinstance(await client.verdict(b"tampered"), Refusal)

    run(scenario())
    assert len(auth.requests) == 3


def test_cache_is_per_cookie(auth):
    auth.answer(200, b"alice", b"30")
    auth.answer(200, b"bob", b"30")

    async def scenario():
        client, _, _ = make_client()
        return [(await client.verdict(c)).user for c in (b"s=a", b"s=b", b"s=a", b"s=b")]

    assert run(scenario()) == [b"alice", b"bob", b"alice", b"bob"]
    assert len(auth.requests) == 2


@pytest.mark.parametrize(("ttl", "size"), [(0.0, 100), (1.0, 0)])
def test_cache_can_be_turned_off(auth, ttl, size):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client(ttl=ttl, size=size)
        for _ in range(3):
            await client.verdict(b"s=1")

    run(scenario())
    assert len(auth.requests) == 3


def test_cache_is_bounded_oldest_first(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client(size=2)
        for cookie in (b"s=1", b"s=2", b"s=3"):
            await client.verdict(cookie)
        asked = len(auth.requests)
        await client.verdict(b"s=3")
        await client.verdict(b"s=2")
        still_cached = len(auth.requests) == asked
        await client.verdict(b"s=1")  # evicted: asked again
        return still_cached, len(auth.requests) - asked

    assert run(scenario()) == (True, 1)


def test_concurrent_checks_of_one_cookie_ask_once(auth):
    auth.answer(200, b"alice", b"30")
    auth.delay = 0.01

    async def scenario():
        client, _, _ = make_client()
        return await asyncio.gather(*(client.verdict(b"s=1") for _ in range(5)))

    sessions = run(scenario())
    assert len(auth.requests) == 1
    assert all(s.user == b"alice" for s in sessions)


def test_a_cancelled_asker_does_not_fail_the_others(auth):
    auth.answer(200, b"alice", b"30")
    auth.delay = 0.05

    async def scenario():
        client, _, _ = make_client()
        first = asyncio.ensure_future(client.verdict(b"s=1"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(client.verdict(b"s=1"))
        await asyncio.sleep(0.01)
        first.cancel()
        return await second

    assert run(scenario()).user == b"alice"
    assert len(auth.requests) == 2  # the second asked again itself


# --------------------------------------------------------------------------------------------
# The session cookie: what is asked about, and what the cache is keyed on
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        pytest.param(None, None, id="no-cookie"),
        pytest.param(b"theme=dark", None, id="no-session"),
        pytest.param(b"session=a", b"session=a", id="one"),
        pytest.param(b"theme=dark; session=a; lang=en", b"session=a", id="among-others"),
        pytest.param(b"session=a;session=b", b"session=a; session=b", id="two"),
        pytest.param(b"session=1; " * 280, b"session=1; session=1", id="stuffed-280"),
        pytest.param(b"  session = a ;", b"session=a", id="whitespace-trimmed"),
        pytest.param(b"Session=a; SESSION=b; sessions=c", None, id="name-is-case-sensitive"),
        pytest.param(b"session=; session=b", b"session=b", id="empty-value-skipped"),
        pytest.param(b"session=a b; session=c,d; session=e", b"session=e", id="bad-octets"),
        pytest.param(b"x=session=a", None, id="not-a-name"),
        pytest.param(b"session", None, id="no-equals"),
        pytest.param(b"__Host-session=a", None, id="other-listeners-name"),
    ],
)
def test_session_cookie(cookie, expected):
    assert access.session_cookie(cookie, b"session") == expected


def test_tls_listener_uses_the_host_prefixed_name():
    assert access.cookie_name(True) == b"__Host-session"
    assert access.session_cookie(b"session=a; __Host-session=b", b"__Host-session") == (
        b"__Host-session=b"
    )


def test_other_cookies_changing_do_not_defeat_the_cache(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client()
        for other in (b"a=1", b"a=2; b=3", b""):
            await client.verdict(access.session_cookie(b"session=s; " + other, b"session"))

    run(scenario())
    assert len(auth.requests) == 1


def test_forget_drops_one_sessions_verdict(auth):
    auth.answer(200, b"alice", b"30")

    async def scenario():
        client, _, _ = make_client(ttl=60)
        for cookie in (b"session=a", b"session=b"):
            await client.verdict(cookie)
        client.forget(b"session=a")
        client.forget(None)  # a logout without a session cookie forgets nothing else
        await client.verdict(b"session=a")
        await client.verdict(b"session=b")

    run(scenario())
    assert len(auth.requests) == 3  # a asked again, b still cached


def test_forget_user_drops_all_their_verdicts(auth):
    for user in (b"alice", b"bob", b"alice"):
        auth.answer(200, user, b"30")

    async def scenario():
        client, _, _ = make_client(ttl=60)
        for cookie in (b"session=a1", b"session=b", b"session=a2"):
            await client.verdict(cookie)
        client.forget_user(b"alice")
        asked = len(auth.requests)
        auth.answers[:] = []
        auth.answer(401)
        return [await client.verdict(c) for c in (b"session=a1", b"session=b", b"session=a2")], (
            len(auth.requests) - asked
        )

    verdicts, asked_again = run(scenario())
    assert [getattr(v, "user", None) for v in verdicts] == [None, b"bob", None]
    assert asked_again == 2


def test_a_verdict_asked_for_before_a_logout_is_not_cached_after_it(auth):
    auth.answer(200, b"alice", b"30")
    auth.delay = 0.05

    async def scenario():
        client, _, _ = make_client(ttl=60)
        asking = asyncio.ensure_future(client.verdict(b"session=a"))
        await asyncio.sleep(0.01)
        client.forget(b"session=a")  # the logout passes while the question is out
        await asking
        auth.delay = 0
        await client.verdict(b"session=a")

    run(scenario())
    assert len(auth.requests) == 2
