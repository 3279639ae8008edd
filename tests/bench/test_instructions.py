"""`make bench-instructions`: its arithmetic, its Makefile target, and a tiny real run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import instructions
from bench.processes import BenchError, find_tool
from tests.support import REPO

CALLGRIND_OUT = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
cmd:  python -m proxy
events: Ir
summary: 1558173290

fn=(1) main
1 12
totals: 1558173290
"""


def test_parse_total_reads_the_totals_line():
    assert instructions.parse_total(CALLGRIND_OUT) == 1_558_173_290
    only_summary = CALLGRIND_OUT.replace("totals: 1558173290\n", "")
    assert instructions.parse_total(only_summary) == 1_558_173_290
    with pytest.raises(BenchError):
        instructions.parse_total("events: Ir\nfn=(1) main\n")


def test_per_request_is_the_difference_over_the_extra_requests():
    assert instructions.per_request(200, 780_000_000, 2200, 1_558_000_000) == 389_000
    with pytest.raises(ValueError):
        instructions.per_request(200, 1, 200, 2)


def test_summary_line():
    data = {
        "instructions_per_request": 312_345,
        "modules": "compiled",
        "runs": [
            {"requests": 200, "instructions": 4_100_000_000},
            {"requests": 2200, "instructions": 4_724_690_000},
        ],
    }
    assert instructions.summary_line(data) == (
        "instructions per proxied request: 312,345 "
        "(compiled modules; N1=200 -> 4.1e9, N2=2200 -> 4.7e9)"
    )


def _make_dry_run(target: str) -> str:
    # -o: the virtualenv as it is (no pip run from a test); -n: print, run nothing.
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed-dev", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout


def test_valgrind_is_installed_for_bench_instructions_only():
    assert "valgrind" in _make_dry_run("bench-instructions")
    assert "-m bench.instructions" in _make_dry_run("bench-instructions")
    assert "valgrind" not in _make_dry_run("test")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(
    find_tool("valgrind") is None or find_tool("nginx") is None,
    reason="needs valgrind and nginx (`make bench-instructions` installs them)",
)
def test_a_tiny_run_counts_instructions(tmp_path):
    # Two start-ups under callgrind, ~15 s each; a handful of requests.
    done = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--requests", "4,12", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("instructions per proxied request: "), done.stdout
    data = json.loads((tmp_path / "instructions.json").read_text())
    assert [run["requests"] for run in data["runs"]] == [4, 12]
    # Python proxying one small file: surely between 10k and 10M instructions.
    assert 10_000 < data["instructions_per_request"] < 10_000_000, data
