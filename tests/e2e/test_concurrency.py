"""Many clients at once, each logging in and loading the story page with its images."""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.test_site import IMAGES

CLIENTS = 50


def visit(stack) -> list[int]:
    conn = stack.connect(timeout=30)
    form = urllib.parse.urlencode({"userid": stack.userid, "passwd": stack.password})
    conn.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    statuses = [resp.status]
    cookie = resp.getheader("Set-Cookie").split(";", 1)[0]
    for path in ["/secret.html", *IMAGES]:
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        body = resp.read()
        statuses.append(resp.status if body else -1)
    conn.close()
    return statuses


def test_fifty_concurrent_clients(stack):
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda _: visit(stack), range(CLIENTS)))
    assert results == [[303] + [200] * 5] * CLIENTS
