"""Metrics: counts batched in plain numbers reach prometheus_client exactly as if each had
been recorded there, and the exposition parses."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from proxy import metrics
from proxy.config import Address
from proxy.master import backoff
from proxy.replicas import ReplicaSet
from proxy.tally import SECONDS, Buckets, Counts
from proxy.upstream import Pool


def samples(text: bytes | str) -> dict[tuple[str, tuple], float]:
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_batched_observations_equal_one_by_one():
    values = [0.0, 0.0005, 0.001, 0.003, 0.2, 0.2, 7.0, 10.0, 99.0]  # some on a bound
    batched_registry, direct_registry = CollectorRegistry(), CollectorRegistry()
    batched = Histogram("h_seconds", "h", buckets=SECONDS, registry=batched_registry)
    direct = Histogram("h_seconds", "h", buckets=SECONDS, registry=direct_registry)
    buckets = Buckets(SECONDS)
    for value in values:
        buckets.observe(value)
        direct.observe(value)
    metrics._add_buckets(batched, buckets)
    assert samples(generate_latest(batched_registry)) == samples(generate_latest(direct_registry))
    assert buckets.take() == ([0] * len(SECONDS), 0.0)  # taken: nothing is added twice


def test_counts_are_taken_once():
    counts = Counts()
    counts.add(("a",))
    counts.add(("a",), 2)
    assert counts.take() == {("a",): 3} and counts.take() == {}


def test_exporter_flush_adds_to_the_exposition():
    traffic = metrics.Traffic()
    auth = Counts()
    exporter = metrics.Exporter(traffic, {}, auth, lambda: 7)

    def value(name, **labels):
        return samples(metrics.exposition()).get((name, tuple(sorted(labels.items()))), 0.0)

    before = value("gatehouse_requests_total", route="home", method="GET", status_class="2xx")
    hits = value("gatehouse_auth_cache_total", result="hit")
    sent = value("gatehouse_response_bytes_total")
    traffic.requests.add(("home", "GET", "2xx"), 3)
    traffic.bytes += 1000
    auth.add(("hit",))
    exporter.flush()
    assert value("gatehouse_requests_total", route="home", method="GET", status_class="2xx") == (
        before + 3
    )
    assert value("gatehouse_auth_cache_total", result="hit") == hits + 1
    assert value("gatehouse_response_bytes_total") == sent + 1000
    assert value("gatehouse_connections_open") == 7


def test_a_replica_dns_dropped_loses_its_health_series_after_its_last_requests():
    answers = [["10.0.0.1", "10.0.0.2"], ["10.0.0.2"]]

    async def getaddrinfo(host, port, **kwargs):
        return [(2, 1, 6, "", (ip, port)) for ip in answers.pop(0)]

    def series(name, replica, **labels):
        labels = {"upstream": "retiring", "replica": f"{replica}:8002", **labels}
        return samples(metrics.exposition()).get((name, tuple(sorted(labels.items()))))

    def healthy(replica):
        return series("gatehouse_upstream_replica_healthy", replica)

    async def scenario():
        asyncio.get_running_loop().getaddrinfo = getaddrinfo
        replicas = ReplicaSet(
            "retiring",
            (Address("content", 8002),),
            lambda address: Pool(
                address, connect_timeout=1, read_timeout=1, idle_timeout=1, max_idle=1
            ),
            max_fails=3,
            fail_timeout=10,
            resolve_interval=5,
        )
        exporter = metrics.Exporter(metrics.Traffic(), {"retiring": replicas}, Counts(), lambda: 0)
        await replicas.resolve()
        exporter.flush()
        listed = healthy("10.0.0.1"), healthy("10.0.0.2")
        gone = replicas.replicas[0]
        gone.outstanding = 1  # a response is still on its way from it
        await replicas.resolve()  # scaled down: 10.0.0.1 is no longer listed
        exporter.flush()
        serving = healthy("10.0.0.1")
        gone.outstanding = 0
        gone.count("ok", 0.01)
        exporter.flush()
        ok = series("gatehouse_upstream_requests_total", "10.0.0.1", outcome="ok")
        return listed, serving, healthy("10.0.0.1"), ok, healthy("10.0.0.2")

    listed, serving, after, ok, other = asyncio.run(scenario())
    assert listed == (1.0, 1.0)
    assert serving == 0.0  # out of rotation, but its last requests are still to count
    assert (after, ok, other) == (None, 1.0, 1.0)


def test_restart_backoff():
    assert [backoff(n) for n in range(1, 8)] == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
