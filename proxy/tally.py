"""Counting on the hot path in plain Python numbers; `proxy.metrics` exports them.

A prometheus_client `inc()` or `observe()` costs 1-6 µs (a lock, and in multiprocess mode an
mmap write), several per request: a visible share of a proxied request's ~75 µs. Here a
count is a dict update and an observation a bisect; the metrics module adds the totals to
the real metrics once a second and before each scrape.
"""

from __future__ import annotations

import math
from typing import Final

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
        # bisect_left, walked: most values fall in the first buckets, and from compiled code
        # the call into the bisect module cost more than the walk (callgrind).
        bounds = self.bounds
        i = 0
        while bounds[i] < value:  # the last bound is INF
            i += 1
        self.counts[i] += 1
        self.sum += value

    def take(self) -> tuple[list[int], float]:
        """The observations so far, and start again from zero."""
        counts, total = self.counts, self.sum
        self.counts, self.sum = [0] * len(self.bounds), 0.0
        return counts, total


class Counts:
    """Counts by label values since the last export.

    It holds a dict rather than being one: mypyc compiles only a plain class natively, and
    `add` on a dict subclass was a Python-level method call from compiled code.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, ...], int] = {}

    def add(self, key: tuple[str, ...], n: int = 1) -> None:
        counts = self._counts
        counts[key] = counts.get(key, 0) + n

    def take(self) -> dict[tuple[str, ...], int]:
        """The counts so far, and start again from zero."""
        taken, self._counts = self._counts, {}
        return taken


# Label values, made once (Final: mypyc keeps a Final global in a C static, where it reads any
# other from the module's dict).
_METHODS: Final = {m: m.decode() for m in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS")}
_STATUS_CLASSES: Final = {n: f"{n}xx" for n in range(1, 6)}


class Traffic:
    """What the client side counts per request and per connection."""

    __slots__ = ("bytes", "cache", "opened", "per_connection", "requests", "seconds")

    def __init__(self) -> None:
        self.requests = Counts()  # (route, method, status_class) -> n
        self.seconds = Buckets(SECONDS)
        self.bytes = 0
        self.opened = 0
        self.per_connection = Buckets(REQUESTS)
        self.cache = Counts()  # (result,) -> n

    def count(
        self, route: str, method: bytes | None, status: int, seconds: float, sent: int, cache: str
    ) -> None:
        """One request served (`method` None: no request head could be parsed)."""
        label = "-" if method is None else _METHODS.get(method, "other")
        self.requests.add((route, label, _STATUS_CLASSES.get(status // 100, "none")))
        self.seconds.observe(seconds)
        self.bytes += sent
        if cache != "-":
            self.cache.add((cache,))
