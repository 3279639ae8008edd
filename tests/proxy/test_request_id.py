"""X-Request-ID: a well-formed client value is kept, anything else replaced by ours."""

from __future__ import annotations

import pytest

from proxy.request_id import RequestIds


@pytest.mark.parametrize(
    "value",
    [b"abc", b"0f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", b"a.b_c-D", b"x" * 64],
    ids=["short", "uuid", "punctuation", "64-chars"],
)
def test_well_formed_client_id_is_kept(value):
    assert RequestIds().take([(b"host", b"h"), (b"x-request-id", value)]) == value


@pytest.mark.parametrize(
    "value",
    [b"", b"x" * 65, b"a b", b"a;b", b"<script>", b"\xc3\xa9", b"a\tb"],
    ids=["empty", "65-chars", "space", "semicolon", "markup", "non-ascii", "tab"],
)
def test_anything_else_is_replaced(value):
    assert RequestIds("p").take([(b"x-request-id", value)]) == b"p-1"


def test_generated_ids_are_a_prefix_and_a_counter():
    ids = RequestIds("w1")
    assert [ids.take([]) for _ in range(3)] == [b"w1-1", b"w1-2", b"w1-3"]
    assert RequestIds().new() != RequestIds().new()  # random prefix per process
