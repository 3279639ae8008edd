"""GET /metrics, parsed with prometheus_client's own parser, moves with traffic."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from content_service.pages import BUILTIN_403
from tests.content_service.conftest import BIG_SIZE, TOKEN, Site, fetch
from tests.support import Service

pytestmark = pytest.mark.timeout(60)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(svc: Service) -> Samples:
    r = fetch(svc.port, "/metrics")
    assert r.status == 200
    assert r.header("Content-Type") == "text/plain; version=1.0.0; charset=utf-8"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.body.decode())
        for s in family.samples
    }
    samples["scrape_bytes", ()] = len(r.body)  # counted in the next scrape's figures
    return samples


def requests(samples: Samples, status_class: str) -> float:
    return samples[("gatehouse_content_requests_total", (("status_class", status_class),))]


def cache(samples: Samples, result: str) -> float:
    return samples[("gatehouse_content_memory_cache_total", (("result", result),))]


def sent(samples: Samples) -> float:
    return samples[("gatehouse_content_response_bytes_total", ())]


def test_names_follow_the_conventions(guarded: Service) -> None:
    names = {name for name, _labels in scrape(guarded)}
    ours = {n for n in names if n.startswith("gatehouse_content_") and not n.endswith("_created")}
    assert ours == {
        "gatehouse_content_requests_total",
        "gatehouse_content_response_bytes_total",
        "gatehouse_content_memory_cache_total",
    }


def test_counters_move_with_traffic(guarded: Service, site: Site) -> None:
    token = {"X-Gatehouse-Token": TOKEN}
    fetch(guarded.port, "/hello.txt", token)  # now cached, whatever came before
    before = scrape(guarded)
    assert fetch(guarded.port, "/hello.txt", token).status == 200  # from memory
    assert fetch(guarded.port, "/hello.txt", token).status == 200
    assert fetch(guarded.port, "/big.bin", token).status == 200  # streamed from disk
    assert fetch(guarded.port, "/hello.txt", {**token, "If-None-Match": "*"}).status == 304
    assert fetch(guarded.port, "/nothing-here", token).status == 404
    assert fetch(guarded.port, "/hello.txt").status == 403
    after = scrape(guarded)

    def delta(read, *args: str) -> float:  # type: ignore[no-untyped-def]
        return read(after, *args) - read(before, *args)

    # The first scrape was a 2xx request too, and its body counts as sent.
    assert (delta(requests, "2xx"), delta(requests, "3xx"), delta(requests, "4xx")) == (4, 1, 2)
    assert delta(requests, "5xx") == 0
    assert (delta(cache, "hit"), delta(cache, "miss")) == (3, 2)  # big.bin, nothing-here
    bodies = [
        before["scrape_bytes", ()],
        2 * 100,  # hello.txt twice; the 304 has no body
        BIG_SIZE,
        len((site.root / "404.html").read_bytes()),
        len(BUILTIN_403),
    ]
    assert delta(sent) == sum(bodies)
