"""Counting on the hot path in plain Python numbers; `proxy.metrics` exports them.

A prometheus_client `inc()` or `observe()` costs 1-6 µs (a lock, and in multiprocess mode an
mmap write), several per request: a visible share of a proxied request's ~75 µs. Here a
count is a dict update and an observation a bisect; the metrics module adds the totals to
the real metrics once a second and before each scrape.
"""

from __future__ import annotations

import bisect
import math

INF = math.inf
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, INF)
REQUESTS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0, INF)


class Buckets:
    """Observations of a histogram since the last export: a count per bucket and a sum.

    Bucket i counts values v with bounds[i-1] < v <= bounds[i], as prometheus_client's
    Histogram stores them (it adds them up when exposed)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def take(self) -> tuple[list[int], float]:
        """The observations so far, and start again from zero."""
        counts, total = self.counts, self.sum
        self.counts, self.sum = [0] * len(self.bounds), 0.0
        return counts, total


class Counts(dict[tuple[str, ...], int]):
    """Counts by label values since the last export."""

    def add(self, key: tuple[str, ...], n: int = 1) -> None:
        self[key] = self.get(key, 0) + n

    def take(self) -> dict[tuple[str, ...], int]:
        taken = dict(self)
        self.clear()
        return taken
