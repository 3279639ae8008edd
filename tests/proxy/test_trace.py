import io

import pytest

from proxy.trace import Tracer, redact, redact_target


@pytest.mark.parametrize(
    "name,value,expected",
    [
        (b"Cookie", b"session=abc.def; theme=dark", b"session=<redacted>; theme=<redacted>"),
        (
            b"Set-Cookie",
            b"session=abc.def; Max-Age=30; Path=/; HttpOnly",
            b"session=<redacted>; Max-Age=30; Path=/; HttpOnly",
        ),
        (b"Authorization", b"Basic dXNlcjpwYXNz", b"<redacted>"),
        (b"Host", b"example.test", b"example.test"),
    ],
    ids=["cookie", "set-cookie", "authorization", "host-untouched"],
)
def test_redact(name, value, expected):
    assert redact(name, value) == expected


def test_password_in_query_is_redacted():
    assert redact_target(b"/login?userid=a&passwd=hunter2") == b"/login?userid=a&passwd=<redacted>"


def test_trace_lines_carry_connection_request_and_budget():
    out = io.StringIO()
    tracer = Tracer(out)
    tracer.request(7, 2, b"GET", b"/secret.html", b"1.1", [(b"Cookie", b"session=xyz")])
    tracer.response(7, 2, 200, [(b"Set-Cookie", b"session=new; Path=/")], 98)
    text = out.getvalue()
    assert "[conn 7 #2] > GET /secret.html HTTP/1.1" in text
    assert "[conn 7 #2] < HTTP/1.1 200  (keep-alive budget left: 98)" in text
    assert "xyz" not in text and "new" not in text
