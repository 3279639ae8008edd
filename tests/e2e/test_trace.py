"""PROXY_TRACE=1 shows each head crossing the proxy, with secrets redacted."""

from __future__ import annotations

import time

from tests.e2e.conftest import running_stack


def test_trace_shows_heads_and_hides_secrets(tmp_path):
    with running_stack(tmp_path, proxy_env={"PROXY_TRACE": "1"}) as stack:
        cookie = stack.login()
        conn = stack.connect()
        conn.request("GET", "/cookie.html", headers={"Cookie": cookie})
        conn.getresponse().read()
        conn.close()
        time.sleep(0.2)
        log = stack.proxy_log()
    assert "> POST /login HTTP/1.1" in log
    assert "< HTTP/1.1 303  (keep-alive budget left: 99)" in log
    assert "set-cookie: session=<redacted>; max-age=30" in log.lower()
    assert "> GET /cookie.html HTTP/1.1" in log
    assert "cookie: session=<redacted>" in log
    assert cookie.split("=", 1)[1] not in log
    assert stack.password not in log
