"""X-Request-ID end to end: kept or generated, sent upstream once, echoed to the client,
written in the access log (text or JSON)."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import running_stack
from tests.e2e.scripted_upstream import ScriptedUpstream
from tests.support import RawClient


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    with ScriptedUpstream() as upstream:
        tmp = tmp_path_factory.mktemp("request-ids")
        env = {"PROXY_ACCESS_LOG_FORMAT": "json"}
        with running_stack(tmp, content_port=upstream.port, proxy_env=env) as stack:
            yield stack


def echo(stack, headers: dict | None = None) -> tuple[str, list[str]]:
    """(the id echoed to the client, the ids the upstream saw)."""
    with RawClient(stack.port) as client:
        resp, body = client.request("GET", "/static/echo", headers)
    assert resp.status == 200
    seen = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-request-id"]
    return resp.getheader("X-Request-ID"), seen


def test_a_well_formed_client_id_is_kept(scripted):
    assert echo(scripted, {"X-Request-ID": "trace-42.a_b"}) == ("trace-42.a_b", ["trace-42.a_b"])


@pytest.mark.parametrize("value", ["x" * 65, "a b", "<x>"], ids=["too-long", "space", "markup"])
def test_a_malformed_client_id_is_replaced(scripted, value):
    echoed, seen = echo(scripted, {"X-Request-ID": value})
    assert echoed != value and seen == [echoed]


def test_an_id_is_generated_and_logged_as_json(scripted):
    echoed, seen = echo(scripted)
    assert seen == [echoed]
    # The line is written once the response has left: the client can read it first.
    deadline = time.monotonic() + 3
    while True:
        log = scripted.proxy_log().splitlines()
        lines = [json.loads(line) for line in log if line.startswith("{")]
        found = [e for e in lines if e["request_id"] == echoed]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    [entry] = found
    assert (entry["method"], entry["target"], entry["version"]) == ("GET", "/static/echo", "1.1")
    assert entry["status"] == 200 and entry["worker"] == 1 and entry["time"].endswith("Z")


def test_error_pages_carry_the_id_too(scripted):
    with RawClient(scripted.port) as client:
        resp, _ = client.request("GET", "/private/page", {"X-Request-ID": "denied-1"})
    assert resp.status == 403 and resp.getheader("X-Request-ID") == "denied-1"
