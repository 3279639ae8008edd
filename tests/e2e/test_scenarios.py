"""The curl scripts in scenarios/ (`make scenarios`), run against a real stack so they never rot.

The stack runs with SESSION_TTL=3 so the expiry scenario waits seconds, not half a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Stack, running_stack
from tests.support import REPO

pytestmark = pytest.mark.slow

SESSION_TTL = 3
# The same glob as `make scenarios`; 07-https needs a TLS stack (tests/e2e/test_https.py).
SCENARIOS = [s for s in sorted((REPO / "scenarios").glob("[0-9]*.sh")) if s.stem != "07-https"]
EXPECTED = {
    "01-login-and-browse",
    "02-keep-alive",
    "03-forbidden-before-login",
    "04-expiry",
    "05-not-found",
    "06-range",
}


@pytest.fixture(scope="module")
def scenario_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (`make test` installs Debian's package)")
    tmp = tmp_path_factory.mktemp("scenarios")
    with running_stack(tmp, auth_env={"SESSION_TTL": str(SESSION_TTL)}) as stack:
        yield stack


def test_every_scenario_is_here():
    assert {path.stem for path in SCENARIOS} >= EXPECTED


@pytest.mark.parametrize("script", SCENARIOS, ids=lambda path: path.stem)
def test_scenario(scenario_stack, script):
    env = {
        **os.environ,
        "BASE_URL": scenario_stack.url,
        "DEMO_USERID": scenario_stack.userid,
        "DEMO_PASSWORD": scenario_stack.password,
        "SESSION_TTL": str(SESSION_TTL),
    }
    result = subprocess.run(
        ["bash", str(script)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
        f"--- proxy log (last lines)\n{_tail(scenario_stack.proxy_log())}"
    )


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])
