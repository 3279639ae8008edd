"""The bench's arithmetic: medians and spreads of rounds, round order, CPU per request."""

from __future__ import annotations

import pytest

from bench import report, stats
from bench.scenarios import summarize


def test_spread_is_the_median_with_the_lowest_and_highest_round():
    spread = stats.spread([900.0, 1000.0, 1200.0])
    assert (spread.median, spread.low, spread.high) == (1000.0, 900.0, 1200.0)
    assert spread.minus_percent == pytest.approx(10.0)
    assert spread.plus_percent == pytest.approx(20.0)
    assert spread.as_dict() == {
        "median": 1000.0,
        "min": 900.0,
        "max": 1200.0,
        "minus_percent": 10.0,
        "plus_percent": 20.0,
    }


def test_spread_of_an_even_count_takes_the_middle_two():
    assert stats.spread([4.0, 1.0, 3.0, 2.0]).median == 2.5


def test_spread_of_one_round_has_none():
    spread = stats.spread([5.0])
    assert (spread.median, spread.minus_percent, spread.plus_percent) == (5.0, 0.0, 0.0)


def test_spread_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.spread([])


def test_ratio_is_median_over_median_and_none_without_theirs():
    assert stats.ratio(3000.0, 2000.0) == 1.5
    assert stats.ratio(3000.0, 0.0) is None


def test_ratio_range_pairs_our_worst_with_their_best():
    ours = stats.Spread(1000.0, 900.0, 1100.0)
    theirs = stats.Spread(500.0, 450.0, 600.0)
    assert stats.ratio_range(ours, theirs) == pytest.approx((1.5, 1100 / 450))
    assert stats.ratio_range(ours, stats.Spread(0.0, 0.0, 0.0)) is None


def test_round_orders_alternate():
    assert stats.round_orders(2, 3) == [[0, 1], [1, 0], [0, 1]]
    assert stats.round_orders(3, 2) == [[0, 1, 2], [2, 1, 0]]
    assert stats.round_orders(2, 1) == [[0, 1]]


def test_cpu_per_request_comes_from_raw_seconds():
    before = {"proxy": 10.00, "content": 3.00}
    after = {"proxy": 19.87, "content": 3.01}
    used = stats.cpu_deltas(before, after)
    assert used == pytest.approx({"proxy": 9.87, "content": 0.01})
    # 9.87 s over 32,900 requests: 300 us each (a rounded 99% of 10 s would say 301).
    assert stats.us_per_request(used, 32_900) == {"proxy": 300.0, "content": 0.3}
    assert stats.us_per_request(used, 0) == {"proxy": None, "content": None}


def _run(rps: float, requests: int, proxy_s: float, p50: float) -> dict[str, object]:
    return {
        "url": "http://127.0.0.1:1/",
        "connections": 16,
        "wrk": {"requests": requests, "seconds": 10.0, "bytes": requests * 100, "errors": {}},
        "rps": rps,
        "mb_s": rps / 10_000,
        "p50_ms": p50,
        "p99_ms": p50 * 4,
        "errors": 0,
        "elapsed_s": 10.0,
        "cpu_seconds": {"proxy": proxy_s, "wrk": 1.0},
        "core_busy_percent": {"core1_sut": {"processes": int(rps)}},
        "foreign_cpu_percent": {"core1": int(rps) % 7},
    }


def test_summarize_takes_medians_and_cpu_from_all_rounds():
    runs = [
        _run(3000, 30_000, 9.0, 2.0),
        _run(2000, 20_000, 8.0, 3.0),
        _run(3300, 33_000, 9.9, 1.0),
    ]
    side = summarize(runs)
    assert side["rps"] == 3000
    assert side["spread"]["rps"]["min"] == 2000 and side["spread"]["rps"]["max"] == 3300
    assert side["p50_ms"] == 2.0
    assert side["wrk"]["requests"] == 83_000
    # (9.0 + 8.0 + 9.9) s over 83,000 requests.
    assert side["cpu_us_per_request"]["proxy"] == pytest.approx(324.1)
    assert side["cpu_percent"]["proxy"] == 90  # 26.9 s over 30 s, for display only
    assert side["core_busy_percent"] == {"core1_sut": {"processes": 3000}}  # median round's
    assert side["foreign_cpu_percent"] == {"core1": max(3000 % 7, 2000 % 7, 3300 % 7)}
    assert side["rounds"] == runs


def test_report_shows_the_spread_and_the_caching_nginx_row():
    ours = {**summarize([_run(3000, 1, 1.0, 1.0), _run(3300, 1, 1.0, 1.0)]), "label": "gatehouse"}
    theirs = {**summarize([_run(2000, 1, 1.0, 1.0), _run(2000, 1, 1.0, 1.0)]), "label": "nginx"}
    cached = {**summarize([_run(4000, 1, 1.0, 1.0), _run(4000, 1, 1.0, 1.0)])}
    for side in (ours, theirs, cached):
        side["value"] = side["rps"]
    cached["label"] = "nginx+proxy_cache"
    scenario = {
        "id": 1,
        "title": "public login page /",
        "short": "public page",
        "unit": "req/s",
        "ours": ours,
        "theirs": theirs,
        "ratio": 1.575,
        "target_ratio": 1.0,
        "errors": 0,
        "notes": [],
        "others": [{"row": "1c", "theirs": cached, "ratio": 0.7875, "target_ratio": None}],
    }
    data = {"scenarios": [scenario], "settings": {"rounds": 2, "duration": 1}}
    rows = report.rows(data["scenarios"])
    assert [row[0] for row in rows] == ["1", "1c"]
    assert rows[0][2:4] == ("3,150 req/s", "-5/+5%")
    assert rows[1][6] == "nginx+proxy_cache 4,000 req/s"
    assert rows[1][10] == "0.79x"
    markdown = report.format_markdown(data)
    assert "| 1c | public login page / | 3,150 req/s (-5/+5%) | nginx+proxy_cache" in markdown
    assert "2 rounds per side" in report.format_table(data)
