"""The service's Prometheus metrics (issue 11), served on GET /metrics.

Each app has its own registry, so several apps in one process (the tests) do not
collide, and the label children are made once: counting a request is two `inc` calls.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "gatehouse_content_"
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        requests = Counter(
            PREFIX + "requests",
            "HTTP requests answered, by status class.",
            ["status_class"],
            registry=self.registry,
        )
        # Index status // 100; made up front so every class shows, at 0, from the start.
        self._by_class = [requests.labels(c) for c in STATUS_CLASSES]
        self._sent = Counter(
            PREFIX + "response_bytes",
            "Response body bytes handed to the server for sending.",
            registry=self.registry,
        )
        cache = Counter(
            PREFIX + "memory_cache",
            "File lookups: hit = answered from memory, miss = the disk was read.",
            ["result"],
            registry=self.registry,
        )
        self.cache_hit = cache.labels("hit")
        self.cache_miss = cache.labels("miss")

    def response(self, status: int) -> None:
        self._by_class[min(max(status // 100, 1), 5) - 1].inc()

    def sent(self, body_bytes: int) -> None:
        if body_bytes:
            self._sent.inc(body_bytes)

    def render(self) -> bytes:
        return generate_latest(self.registry)
