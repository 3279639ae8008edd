"""The service's Prometheus metrics (issue 11), served on GET /metrics.

Counting happens on the event loop in plain integers, and a collector turns them into
metric families when /metrics is scraped (prometheus_client's custom-collector
pattern): a request costs a few integer additions instead of several locked `inc`
calls, which measured a quarter of a small file's time in the service. Each app has
its own registry, so several apps in one process (the tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, Metric

PREFIX = "gatehouse_content_"
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class Metrics:
    """Counters, touched only from the event loop's thread; see the module doc."""

    def __init__(self) -> None:
        self.by_class = [0] * 6  # index: status // 100 (100-599); 0 is unused
        self.sent_bytes = 0  # response body bytes handed to the server for sending
        self.cache_hits = 0  # bodies answered from memory
        self.cache_misses = 0  # lookups that read the disk (new, changed, missing, streamed)
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            PREFIX + "requests", "HTTP requests answered, by status class.", labels=["status_class"]
        )
        for index, name in enumerate(STATUS_CLASSES, start=1):
            requests.add_metric([name], self.by_class[index])
        yield requests
        yield CounterMetricFamily(
            PREFIX + "response_bytes",
            "Response body bytes handed to the server for sending.",
            value=self.sent_bytes,
        )
        cache = CounterMetricFamily(
            PREFIX + "memory_cache",
            "File lookups: hit = body answered from memory, miss = the disk was read.",
            labels=["result"],
        )
        cache.add_metric(["hit"], self.cache_hits)
        cache.add_metric(["miss"], self.cache_misses)
        yield cache

    def render(self) -> bytes:
        return generate_latest(self.registry)
