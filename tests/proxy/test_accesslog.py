"""Access-log lines: text with timestamp, version and request id; or one JSON object."""

from __future__ import annotations

import dataclasses
import io
import json

from proxy.accesslog import AccessLog, Record, format_json, format_text, timestamp
from proxy.transaction import Transaction

RECORD = Record(
    time=1_796_000_000.25,
    worker=2,
    client="127.0.0.1",
    conn=3,
    req=1,
    request_id="ab12-7",
    method="GET",
    target="/images/coast.jpg",
    version="1.1",
    status=200,
    bytes=1234,
    ms=1.26,
    user="alice",
    cache="-",
)


def test_timestamp_is_utc_iso8601_with_milliseconds():
    assert timestamp(1_796_000_000.25) == "2026-11-30T00:53:20.250Z"


def test_text_line():
    assert format_text(RECORD) == (
        "2026-11-30T00:53:20.250Z 127.0.0.1 worker=2 conn=3 req=1 id=ab12-7 "
        '"GET /images/coast.jpg HTTP/1.1" 200 1234 1.3ms user=alice cache=-\n'
    )


def test_json_line():
    line = format_json(RECORD)
    assert line.endswith("\n") and line.count("\n") == 1
    fields = json.loads(line)
    assert fields["request_id"] == "ab12-7" and fields["worker"] == 2
    assert (fields["method"], fields["target"], fields["version"]) == (
        "GET",
        "/images/coast.jpg",
        "1.1",
    )
    assert (fields["status"], fields["bytes"], fields["ms"]) == (200, 1234, 1.3)


def test_json_escapes_what_the_client_sent():
    line = format_json(dataclasses.replace(RECORD, target='/"\n\\'))
    assert line.count("\n") == 1
    assert json.loads(line)["target"] == '/"\n\\'


def test_access_log_writes_a_transaction_as_a_line():
    out = io.StringIO()
    tx = Transaction(4, None)  # no request head: the parser refused the bytes
    tx.status, tx.bytes_sent = 400, 99
    AccessLog(out, "text", worker=2).write(tx, b"10.0.0.9", conn=7, seconds=0.0021)
    assert out.getvalue().split(" ", 1)[1] == (
        '10.0.0.9 worker=2 conn=7 req=4 id=- "-" 400 99 2.1ms user=- cache=-\n'
    )
