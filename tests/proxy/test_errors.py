"""The one place the wire layer's protocol errors become answers (errors.from_protocol)."""

from __future__ import annotations

import pytest

from proxy import errors, http1


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (http1.MalformedRequest, 400),
        (http1.TargetTooLong, 414),
        (http1.HeadTooLarge, 431),
        (http1.BodyTooLarge, 413),
        (http1.UnsupportedVersion, 505),
        (http1.UnsupportedFeature, 501),
        (http1.UnknownExpectation, 417),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_each_protocol_error_has_its_answer_and_closes(kind, status):
    answer = errors.from_protocol(kind("why"))
    assert (answer.status, answer.close, answer.detail) == (status, True, "why")


def test_without_a_detail_the_answer_says_what_it_is():
    assert errors.from_protocol(http1.TargetTooLong()).detail == errors.URITooLong().detail
