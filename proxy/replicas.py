"""Upstream replicas: several addresses per service, balanced, ejected when failing.

A `ReplicaSet` holds one keep-alive `Pool` per replica address. The configured entries are
`host:port`; a host name that resolves to several addresses counts as that many replicas and
is re-resolved every few seconds (compose `--scale`, Kubernetes headless Services).

- Balancing: least outstanding requests between two random candidates ("power of two
  choices", Mitzenmacher 2001; Envoy's LEAST_REQUEST), per worker.
- Passive health: `max_fails` consecutive failures (refused or reset connection, connect
  timeout, broken response) eject a replica for `fail_timeout` seconds; then one request
  probes it (nginx `max_fails`/`fail_timeout`).
- Active health (`proxy.health`) marks a replica out until its `/healthz` passes again.
- As in nginx, a lone replica is always tried: refusing every request for `fail_timeout`
  would only make a short outage longer, and one slow health check would cause one. Its
  state still shows in /readyz and the metrics.
- Retries: a request that failed before any response byte came back goes once to another
  replica, if it never left the proxy (no connection could be made), or if its method is
  idempotent and it has no body (RFC 9110 §9.2.2; a stale pooled connection, a reset).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import time
from collections.abc import AsyncIterable, Callable
from types import TracebackType

from proxy import errors, upstream
from proxy.config import Address
from proxy.http1 import ResponseHead
from proxy.sink import Sink
from proxy.tally import SECONDS, Buckets, Counts
from proxy.upstream import IDEMPOTENT, Exchange, NotSent, Pool, UpstreamConnection

log = logging.getLogger("gatehouse.proxy")

PoolFactory = Callable[[Address], Pool]


class NoReplica(errors.BadGateway):
    """No replica of this service is available."""


class Replica:
    """One address of a service, with its pool and what the proxy knows of its health."""

    __slots__ = (
        "address",
        "down_until",
        "fails",
        "healthy",
        "label",
        "outcomes",
        "outstanding",
        "pool",
        "probing",
        "seconds",
    )

    def __init__(self, address: Address, pool: Pool) -> None:
        self.address = address
        self.label = str(address)
        self.pool = pool
        self.outstanding = 0  # requests on it now, from this worker
        self.fails = 0  # consecutive failures
        self.down_until = 0.0  # ejected until then (loop time); 0 when not ejected
        self.probing = False  # after an ejection: one request is finding out
        self.healthy = True  # the last active health check passed (or none ran yet)
        # For the metrics (proxy.tally): requests by outcome, and how long they took.
        self.outcomes = Counts()
        self.seconds = Buckets(SECONDS)

    def available(self, now: float) -> bool:
        if not self.healthy:
            return False
        if self.down_until == 0.0:
            return True
        return now >= self.down_until and not self.probing

    @property
    def in_rotation(self) -> bool:
        return self.healthy and self.down_until == 0.0

    def count(self, outcome: str, seconds: float) -> None:
        self.outcomes.add((outcome,))
        self.seconds.observe(seconds)


class ReplicaSet:
    def __init__(
        self,
        name: str,
        entries: tuple[Address, ...],
        pool_factory: PoolFactory,
        *,
        max_fails: int,
        fail_timeout: float,
        resolve_interval: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.name = name
        self._entries = entries
        self._pool_factory = pool_factory
        self._max_fails = max_fails
        self._fail_timeout = fail_timeout
        self._resolve_interval = resolve_interval
        self._loop = asyncio.get_running_loop()
        self._now = clock or self._loop.time
        self._resolved: dict[Address, list[Address]] = {}  # entry -> its addresses
        self.replicas: list[Replica] = []
        # Replicas a resolution dropped, until the metrics have taken their last counts
        # (requests still on them count when they end) and dropped their health series.
        self.retired: list[Replica] = []
        self._resolver: asyncio.Task[None] | None = None
        # Entries that are IP addresses need no resolving; names are resolved in start().
        self._update([e for e in entries if _is_ip(e.host)])

    # replicas and names ----------------------------------------------------------------

    async def start(self) -> None:
        """Resolve host names now, then every `resolve_interval` seconds."""
        if _needs_dns(self._entries):
            await self.resolve()
            self._resolver = self._loop.create_task(self._resolve_forever())

    async def resolve(self) -> None:
        for entry in self._entries:
            if _is_ip(entry.host):
                self._resolved[entry] = [entry]
                continue
            try:
                infos = await self._loop.getaddrinfo(
                    entry.host, entry.port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                # Keep what the name last resolved to: a DNS hiccup is not an outage.
                log.warning("%s upstream %s: cannot resolve: %s", self.name, entry, exc)
                continue
            found = dict.fromkeys(Address(str(info[4][0]), entry.port) for info in infos)
            self._resolved[entry] = list(found)
        self._update([a for e in self._entries for a in self._resolved.get(e, [])])

    async def _resolve_forever(self) -> None:
        while True:
            await asyncio.sleep(self._resolve_interval)
            await self.resolve()

    def _update(self, addresses: list[Address]) -> None:
        current = {r.address: r for r in self.replicas}
        wanted = list(dict.fromkeys(addresses))
        for address in current.keys() - set(wanted):
            log.warning("%s upstream: replica %s removed", self.name, address)
            current[address].pool.close()
            self.retired.append(current[address])
        for address in set(wanted) - current.keys():
            if self.replicas:
                log.warning("%s upstream: replica %s added", self.name, address)
            current[address] = Replica(address, self._pool_factory(address))
        self.replicas = [current[a] for a in wanted]

    def close(self) -> None:
        if self._resolver is not None:
            self._resolver.cancel()
        for replica in self.replicas:
            replica.pool.close()

    @property
    def down(self) -> bool:
        """No replica is in rotation (for /readyz)."""
        return not any(r.in_rotation for r in self.replicas)

    # choosing ----------------------------------------------------------------------------

    def pick(self, exclude: Replica | None = None) -> Replica:
        """Least outstanding requests of two random available replicas."""
        replicas = self.replicas
        if len(replicas) == 1:  # the common case, without building a list; always tried
            candidates = replicas if replicas[0] is not exclude else []
        else:
            now = self._now()
            candidates = [r for r in replicas if r is not exclude and r.available(now)]
        if not candidates:
            raise NoReplica(f"No replica of the {self.name} service is available.")
        if len(candidates) == 1:
            chosen = candidates[0]
        else:
            a, b = random.sample(candidates, 2)
            chosen = a if a.outstanding <= b.outstanding else b
        if chosen.down_until:
            chosen.probing = True  # its fail timeout is over: this request probes it
        return chosen

    def succeeded(self, replica: Replica) -> None:
        replica.fails = 0
        replica.down_until = 0.0
        replica.probing = False

    def failed(self, replica: Replica) -> None:
        replica.fails += 1
        replica.probing = False
        if replica.fails >= self._max_fails and len(self.replicas) > 1:
            if not replica.down_until:
                log.warning(
                    "%s upstream: replica %s ejected for %gs after %d failures",
                    self.name,
                    replica.label,
                    self._fail_timeout,
                    replica.fails,
                )
            replica.down_until = self._now() + self._fail_timeout

    def health_checked(self, replica: Replica, passed: bool) -> None:
        if passed != replica.healthy:
            state = "passes its health check again" if passed else "fails its health check"
            log.warning("%s upstream: replica %s %s", self.name, replica.label, state)
        replica.healthy = passed
        if passed and replica.down_until:
            # It answers again: end the ejection now rather than after the fail timeout
            # (Envoy's successful_active_health_check_uneject_host).
            self.succeeded(replica)


class Lease:
    """A replica's exchange while its response is relayed (a `reply.Reply`). As a context
    manager it gives the connection back when the block ends; an upstream error in the block
    (a broken body) counts as a failure of the replica."""

    __slots__ = ("_started", "exchange", "head", "replica", "replicas")
    cache = "-"  # straight from the upstream

    @property
    def sent_whole(self) -> bool:
        return self.exchange.sent_whole

    @property
    def source(self) -> UpstreamConnection:
        return self.exchange.conn

    def relay(self, sink: Sink) -> asyncio.Future[None] | None:
        return self.exchange.relay(sink)

    def __init__(
        self, replicas: ReplicaSet, replica: Replica, exchange: Exchange, started: float
    ) -> None:
        self.replicas, self.replica, self.exchange = replicas, replica, exchange
        self.head: ResponseHead = exchange.head  # the response has begun: its head is here
        self._started = started

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        replica = self.replica
        replica.outstanding -= 1
        replica.pool.release(self.exchange.conn)
        seconds = time.perf_counter() - self._started
        if isinstance(exc, errors.UpstreamError):
            replica.count(_outcome(exc), seconds)
            self.replicas.failed(replica)
        else:
            replica.count("ok", seconds)


async def send(
    replicas: ReplicaSet,
    method: bytes,
    head: bytes,
    body: AsyncIterable[bytes] | None = None,
    *,
    chunked: bool = False,
) -> Lease:
    """Send a request to a replica and wait for its response head, retrying once on
    another replica when that is safe; the caller relays the body within the lease."""
    tried: Replica | None = None
    failure: errors.UpstreamError | None = None
    while True:
        try:
            replica = replicas.pick(exclude=tried)
        except NoReplica:
            if failure is None:
                raise
            raise failure from None  # nowhere else to go: the first replica's error
        started = time.perf_counter()
        replica.outstanding += 1
        try:
            exchange = await upstream.send(replica.pool, method, head, body, chunked=chunked)
        except errors.UpstreamError as exc:
            replica.outstanding -= 1
            replica.count(_outcome(exc), time.perf_counter() - started)
            replicas.failed(replica)
            if tried is not None or not _retriable(exc, method, body):
                raise
            tried, failure = replica, exc
            continue
        except BaseException:
            replica.outstanding -= 1
            replica.probing = False  # cancelled (the client left): no verdict
            raise
        replicas.succeeded(replica)
        return Lease(replicas, replica, exchange, started)


def _retriable(exc: errors.UpstreamError, method: bytes, body: object) -> bool:
    if isinstance(exc, NotSent):
        return True  # nothing was sent: safe for any method, body untouched
    # Sent, but no response byte came back. A read timeout is not retried: the request may
    # still be running there, and a second wait would double the client's.
    return body is None and method in IDEMPOTENT and not isinstance(exc, errors.GatewayTimeout)


def _outcome(exc: errors.UpstreamError) -> str:
    if isinstance(exc, NotSent):
        return "connect_error"
    if isinstance(exc, errors.GatewayTimeout):
        return "timeout"
    return "broken"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _needs_dns(entries: tuple[Address, ...]) -> bool:
    return not all(_is_ip(e.host) for e in entries)
