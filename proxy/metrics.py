"""The proxy's Prometheus metrics, aggregated over all workers.

With several workers, the master sets `PROMETHEUS_MULTIPROC_DIR` (a temporary directory)
before it starts them: prometheus_client then keeps every value in a per-process file there,
and any worker answering a scrape adds up all the files (the library's multiprocess mode).
With one worker the same metrics live in a plain registry.

The hot path does not touch these objects: it counts in `proxy.tally` (plain numbers), and
`Exporter.flush` adds those counts here once a second and before a scrape. So a scrape
shows the other workers' traffic up to a second late.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from proxy.replicas import Replica, ReplicaSet
from proxy.tally import REQUESTS, SECONDS, Buckets, Counts, Traffic

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # read by prometheus_client too
FLUSH_INTERVAL = 1.0

_REGISTRY = CollectorRegistry()

requests = Counter(
    "gatehouse_requests",
    "Requests answered, by route, method and status class.",
    ["route", "method", "status_class"],
    registry=_REGISTRY,
)
request_seconds = Histogram(
    "gatehouse_request_duration_seconds",
    "Time from a request's arrival to its last response byte handed to the kernel.",
    buckets=SECONDS,
    registry=_REGISTRY,
)
response_bytes = Counter(
    "gatehouse_response_bytes", "Response body bytes sent to clients.", registry=_REGISTRY
)
connections_open = Gauge(
    "gatehouse_connections_open",
    "Client connections open now.",
    multiprocess_mode="livesum",
    registry=_REGISTRY,
)
connections = Counter("gatehouse_connections", "Client connections accepted.", registry=_REGISTRY)
requests_per_connection = Histogram(
    "gatehouse_requests_per_connection",
    "Requests served on a client connection, observed when it closes (keep-alive reuse).",
    buckets=REQUESTS,
    registry=_REGISTRY,
)
upstream_requests = Counter(
    "gatehouse_upstream_requests",
    "Requests sent to upstream replicas, by outcome: ok, connect_error, timeout, broken.",
    ["upstream", "replica", "outcome"],
    registry=_REGISTRY,
)
upstream_seconds = Histogram(
    "gatehouse_upstream_request_duration_seconds",
    "Time from sending a request upstream to its response's last byte (or the failure).",
    ["upstream"],
    buckets=SECONDS,
    registry=_REGISTRY,
)
replica_healthy = Gauge(
    "gatehouse_upstream_replica_healthy",
    "1 while a replica is in rotation (passes health checks, not ejected), in every worker.",
    ["upstream", "replica"],
    multiprocess_mode="livemin",
    registry=_REGISTRY,
)
pool_idle = Gauge(
    "gatehouse_upstream_pool_idle",
    "Idle keep-alive connections to an upstream, over its replicas.",
    ["upstream"],
    multiprocess_mode="livesum",
    registry=_REGISTRY,
)
auth_cache = Counter(
    "gatehouse_auth_cache",
    "Session checks: hit (cached verdict), shared (joined one in flight), miss (asked auth).",
    ["result"],
    registry=_REGISTRY,
)
response_cache = Counter(
    "gatehouse_response_cache",
    "Response cache use: hit, miss (fetched and stored), revalidated.",
    ["result"],
    registry=_REGISTRY,
)


class Exporter:
    def __init__(
        self,
        traffic: Traffic,
        upstreams: Mapping[str, ReplicaSet],
        auth_results: Counts,
        open_connections: Callable[[], int],
    ) -> None:
        self._traffic = traffic
        self._upstreams = upstreams
        self._auth_results = auth_results
        self._open_connections = open_connections
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.flush()
        self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self.start)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.flush()

    def flush(self) -> None:
        traffic = self._traffic
        _add_counts(requests, traffic.requests)
        _add_buckets(request_seconds, traffic.seconds)
        _add_buckets(requests_per_connection, traffic.per_connection)
        _add_counts(response_cache, traffic.cache)
        _add_counts(auth_cache, self._auth_results)
        if traffic.bytes:
            response_bytes.inc(traffic.bytes)
            traffic.bytes = 0
        if traffic.opened:
            connections.inc(traffic.opened)
            traffic.opened = 0
        connections_open.set(self._open_connections())
        for name, replicas in self._upstreams.items():
            idle = 0
            for replica in replicas.replicas:
                _add_replica_counts(name, replica)
                replica_healthy.labels(name, replica.label).set(int(replica.in_rotation))
                idle += replica.pool.idle_count
            pool_idle.labels(name).set(idle)
            _retire(name, replicas)


def _add_replica_counts(name: str, replica: Replica) -> None:
    for (outcome,), n in replica.outcomes.take().items():
        upstream_requests.labels(name, replica.label, outcome).inc(n)
    _add_buckets(upstream_seconds.labels(name), replica.seconds)


def _retire(name: str, replicas: ReplicaSet) -> None:
    """Replicas a name resolution dropped: their last counts, then no health series, so a
    replica that is gone does not read as healthy for ever. One still serving requests (its
    pool is closed, but a response may be on its way) stays until they end."""
    if not replicas.retired:
        return
    serving = []
    listed = {replica.label for replica in replicas.replicas}
    for replica in replicas.retired:
        _add_replica_counts(name, replica)
        if replica.outstanding:
            serving.append(replica)
            replica_healthy.labels(name, replica.label).set(0)  # out of rotation already
        elif replica.label not in listed:  # else it came back, under the same label
            if MULTIPROC_DIR:
                # prometheus_client cannot remove a series in multiprocess mode (`remove`
                # only warns): it stays, at 0 (not in rotation), until the workers restart.
                replica_healthy.labels(name, replica.label).set(0)
            else:
                replica_healthy.remove(name, replica.label)
    replicas.retired = serving


def _add_counts(counter: Counter, counts: Counts) -> None:
    for key, n in counts.take().items():
        counter.labels(*key).inc(n)


def _add_buckets(histogram: Histogram, buckets: Buckets) -> None:
    """Add a batch of observations: one increment per bucket instead of one `observe()`
    per value. prometheus_client has no public call for this; `_buckets` and `_sum` are the
    values `observe()` itself increments (pinned version, checked by the tests)."""
    counts, total = buckets.take()
    if not any(counts):
        return
    for value, n in zip(histogram._buckets, counts, strict=True):
        if n:
            value.inc(n)
    histogram._sum.inc(total)


def exposition() -> bytes:
    """The metrics in Prometheus text format: of all workers, when there are several."""
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, MULTIPROC_DIR)
        return generate_latest(registry)
    return generate_latest(_REGISTRY)
