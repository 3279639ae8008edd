"""ReplicaSet: choosing a replica, passive ejection and probing, health, retry rules.

Driven with a settable clock; the pools are real but never connect.
"""

from __future__ import annotations

import asyncio

import pytest

from proxy import errors
from proxy.config import Address
from proxy.replicas import NoReplica, ReplicaSet, _retriable
from proxy.upstream import ConnectFailed, ConnectTimedOut, Pool, StaleConnection


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now


def pool(address: Address) -> Pool:
    return Pool(address, connect_timeout=1, read_timeout=1, idle_timeout=1, max_idle=1)


def make(ports=(1, 2, 3), *, max_fails=3, fail_timeout=10.0) -> tuple[ReplicaSet, Clock]:
    clock = Clock()
    entries = tuple(Address("127.0.0.1", p) for p in ports)
    replicas = ReplicaSet(
        "content",
        entries,
        pool,
        max_fails=max_fails,
        fail_timeout=fail_timeout,
        resolve_interval=5,
        clock=clock.time,
    )
    return replicas, clock


def run(fn):
    async def scenario():
        return fn()

    return asyncio.run(scenario())


def test_least_outstanding_of_two():
    def scenario():
        replicas, _ = make((1, 2))
        busy, _ = replicas.replicas
        busy.outstanding = 5
        return {replicas.pick().label for _ in range(50)}

    assert run(scenario) == {"127.0.0.1:2"}


def test_p2c_spreads_over_equal_replicas():
    def scenario():
        replicas, _ = make()
        return {replicas.pick().label for _ in range(200)}

    assert len(run(scenario)) == 3


def test_ejected_after_max_fails_then_one_probe():
    def scenario():
        replicas, clock = make((1, 2), max_fails=3, fail_timeout=10)
        bad, good = replicas.replicas
        for _ in range(2):
            replicas.failed(bad)
        assert bad.in_rotation  # two failures: still in
        replicas.failed(bad)
        assert {replicas.pick() for _ in range(20)} == {good}
        clock.now += 10
        picks = [replicas.pick() for _ in range(20)]
        assert picks.count(bad) == 1  # one request probes it, the others wait for its verdict
        replicas.succeeded(bad)
        assert bad.in_rotation and bad.fails == 0

    run(scenario)


def test_a_failed_probe_ejects_again():
    def scenario():
        replicas, clock = make((1, 2), max_fails=1, fail_timeout=10)
        bad, good = replicas.replicas
        replicas.failed(bad)
        clock.now += 10
        while replicas.pick() is not bad:
            pass
        replicas.failed(bad)
        clock.now += 9
        assert {replicas.pick() for _ in range(20)} == {good}

    run(scenario)


def test_a_lone_replica_is_always_tried():
    def scenario():
        replicas, _ = make((1,), max_fails=1)
        [only] = replicas.replicas
        for _ in range(5):
            replicas.failed(only)
        assert replicas.pick() is only and not replicas.down  # never ejected
        replicas.health_checked(only, False)
        assert replicas.pick() is only  # still tried...
        assert replicas.down  # ...but /readyz says it is down

    run(scenario)


def test_unhealthy_is_out_until_it_passes_and_a_pass_ends_an_ejection():
    def scenario():
        replicas, _ = make((1, 2), max_fails=1)
        a, b = replicas.replicas
        replicas.health_checked(a, False)
        assert {replicas.pick() for _ in range(20)} == {b}
        replicas.failed(b)  # ejected too: nothing left
        assert replicas.down
        with pytest.raises(NoReplica):
            replicas.pick()
        replicas.health_checked(a, True)
        replicas.health_checked(b, True)  # answers again: no need to wait out the ejection
        assert not replicas.down
        assert {replicas.pick() for _ in range(50)} == {a, b}

    run(scenario)


def test_pick_can_exclude_the_replica_already_tried():
    def scenario():
        replicas, _ = make((1, 2))
        a, b = replicas.replicas
        assert {replicas.pick(exclude=a) for _ in range(20)} == {b}
        lone, _ = make((1,))
        with pytest.raises(NoReplica):
            lone.pick(exclude=lone.replicas[0])

    run(scenario)


def test_names_are_resolved_and_replicas_kept_across_resolutions():
    async def scenario():
        replicas = ReplicaSet(
            "auth",
            (Address("localhost", 8001), Address("127.0.0.2", 8001)),
            pool,
            max_fails=3,
            fail_timeout=10,
            resolve_interval=5,
        )
        assert [r.label for r in replicas.replicas] == ["127.0.0.2:8001"]  # before start()
        await replicas.start()
        first = list(replicas.replicas)
        await replicas.resolve()
        labels = [r.label for r in replicas.replicas]
        same = replicas.replicas == first
        replicas.close()
        return labels, same

    labels, same = asyncio.run(scenario())
    assert "127.0.0.1:8001" in labels and labels[-1] == "127.0.0.2:8001"
    assert same  # the same Replica objects: pools and health survive a re-resolution


GET, POST = b"GET", b"POST"


@pytest.mark.parametrize(
    ("error", "method", "body", "retried"),
    [
        (ConnectFailed(), POST, b"x", True),  # never sent: any request
        (ConnectTimedOut(), GET, None, True),
        (StaleConnection(), GET, None, True),
        (errors.BadGateway(), GET, None, True),  # a broken response head
        (StaleConnection(), POST, None, False),  # may have been processed
        (StaleConnection(), GET, b"x", False),  # its body was streamed
        (errors.GatewayTimeout(), GET, None, False),  # a read timeout: may still be running
    ],
    ids=[
        "refused-post",
        "connect-timeout",
        "stale-get",
        "broken-get",
        "stale-post",
        "stale-get-with-body",
        "read-timeout",
    ],
)
def test_what_is_retried(error, method, body, retried):
    assert _retriable(error, method, body) is retried


def test_a_name_with_several_addresses_is_that_many_replicas_and_follows_dns():
    answers = [["10.0.0.1", "10.0.0.2", "10.0.0.3"], ["10.0.0.2", "10.0.0.4"]]

    async def getaddrinfo(host, port, **kwargs):
        return [(2, 1, 6, "", (ip, port)) for ip in answers.pop(0)]

    async def scenario():
        asyncio.get_running_loop().getaddrinfo = getaddrinfo
        replicas = ReplicaSet(
            "content",
            (Address("content", 8002),),
            pool,
            max_fails=3,
            fail_timeout=10,
            resolve_interval=5,
        )
        await replicas.resolve()
        first = [r.label for r in replicas.replicas]
        kept = replicas.replicas[1]
        await replicas.resolve()  # a scale-down and a new one (compose --scale, Kubernetes)
        second = [r.label for r in replicas.replicas]
        return first, second, replicas.replicas[0] is kept

    first, second, kept = asyncio.run(scenario())
    assert first == ["10.0.0.1:8002", "10.0.0.2:8002", "10.0.0.3:8002"]
    assert second == ["10.0.0.2:8002", "10.0.0.4:8002"]
    assert kept


def test_a_failed_lookup_keeps_the_last_answer():
    answers: list = [["10.0.0.1"], OSError("no such host")]

    async def getaddrinfo(host, port, **kwargs):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return [(2, 1, 6, "", (ip, port)) for ip in answer]

    async def scenario():
        asyncio.get_running_loop().getaddrinfo = getaddrinfo
        replicas = ReplicaSet(
            "auth", (Address("auth", 8001),), pool, max_fails=3, fail_timeout=10, resolve_interval=5
        )
        await replicas.resolve()
        await replicas.resolve()
        return [r.label for r in replicas.replicas]

    assert asyncio.run(scenario()) == ["10.0.0.1:8001"]


def test_readiness_waits_for_the_first_round_of_health_checks():
    # Until one round is done every replica counts as healthy, which says nothing yet.
    from proxy.health import HealthChecker

    checker = HealthChecker([], interval=2)
    assert not checker.settled
    asyncio.run(checker.check_all())
    assert checker.settled
    assert HealthChecker([], interval=0).settled  # checks off: nothing to wait for
