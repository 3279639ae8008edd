"""The bench's arithmetic, kept apart so it can be tested: numbers in, numbers out."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median of a few rounds and how far the lowest and highest strayed from it."""

    median: float
    low: float
    high: float

    @property
    def minus_percent(self) -> float:
        return 100 * (self.median - self.low) / self.median if self.median else 0.0

    @property
    def plus_percent(self) -> float:
        return 100 * (self.high - self.median) / self.median if self.median else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "median": round(self.median, 2),
            "min": round(self.low, 2),
            "max": round(self.high, 2),
            "minus_percent": round(self.minus_percent, 1),
            "plus_percent": round(self.plus_percent, 1),
        }


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("spread of no values")
    return Spread(statistics.median(values), min(values), max(values))


def ratio(ours: float, theirs: float) -> float | None:
    """ours / theirs, None when theirs measured nothing."""
    return ours / theirs if theirs else None


def round_orders(sides: int, rounds: int) -> list[list[int]]:
    """Which side goes when in each round: forwards, then backwards, then forwards...

    So that no side is always measured first (on a fresh machine) or last (after the
    others heated it up), and over an odd number of rounds each goes first as often as
    the order allows.
    """
    forwards = list(range(sides))
    return [forwards if i % 2 == 0 else forwards[::-1] for i in range(rounds)]


def cpu_deltas(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two readings."""
    return {name: after[name] - before[name] for name in before}


def us_per_request(cpu_seconds: Mapping[str, float], requests: int) -> dict[str, float | None]:
    """Microseconds of CPU per completed request, from raw CPU seconds (never from rounded
    percentages, whose rounding alone moves a 5 % share by 10 %)."""
    return {
        name: round(seconds * 1e6 / requests, 1) if requests else None
        for name, seconds in cpu_seconds.items()
    }


def ratio_range(ours: Spread, theirs: Spread) -> tuple[float, float] | None:
    """The lowest and highest ours / theirs the rounds allow (ours' worst against their best,
    and the other way round); None when theirs measured nothing."""
    if not theirs.low:
        return None
    return ours.low / theirs.high, ours.high / theirs.low
