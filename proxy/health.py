"""Active health checks: `GET /healthz` on every replica every `interval` seconds.

A replica that fails a check is out of rotation until one passes again (a lone replica is
still tried: see `proxy.replicas`). Passing means answering HTTP with a status below 500
within the interval: the services answer 200 (see CONTRACT: "/healthz 200 while the
process runs"), and an upstream without the endpoint (404) at least shows it is up and
speaking HTTP, which is all a liveness check can say.
"""

from __future__ import annotations

import asyncio
import contextlib

from proxy import errors
from proxy.http1.writer import encode_request_head
from proxy.replicas import Replica, ReplicaSet
from proxy.sink import DISCARD
from proxy.upstream import send

PATH = b"/healthz"


class HealthChecker:
    def __init__(self, sets: list[ReplicaSet], interval: float) -> None:
        self._sets = sets
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0  # completed rounds of checks

    @property
    def settled(self) -> bool:
        """Whether the replicas' health is known: checks are off, or one round is done. Until
        then every replica counts as healthy, so /readyz must not say ready on that alone."""
        return self._interval <= 0 or self.rounds > 0

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(self._interval)

    async def check_all(self) -> None:
        checks = [(s, r) for s in self._sets for r in s.replicas]
        results = await asyncio.gather(*(check(r, self._interval) for _, r in checks))
        for (replicas, replica), passed in zip(checks, results, strict=True):
            replicas.health_checked(replica, passed)
        self.rounds += 1


async def check(replica: Replica, timeout: float) -> bool:
    """One check, through the replica's own pool (a passing check leaves a warm connection)."""
    head = encode_request_head(b"GET", PATH, [(b"Host", b"gatehouse-health-check")])
    pool = replica.pool
    with contextlib.suppress(errors.ProxyError, TimeoutError, OSError):
        async with asyncio.timeout(max(timeout, 0.5)):
            exchange = await send(pool, b"GET", head)
            try:
                await exchange.relay_all(DISCARD)
            finally:
                pool.release(exchange.conn)
            return exchange.head.status < 500
    return False
