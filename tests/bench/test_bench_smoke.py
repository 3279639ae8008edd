"""`make bench` in miniature: every scenario runs for a second, so the bench never rots.

No timing assertions (machines are noisy): only that the bench runs to the end, measures
every scenario for both systems, and sees no errors. `make test` installs nginx and wrk.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.processes import missing_tools
from bench.scenarios import SCENARIOS
from tests.support import REPO

pytestmark = pytest.mark.slow

MISSING = missing_tools()


@pytest.mark.timeout(300)
@pytest.mark.skipif(
    bool(MISSING),
    reason="the bench needs "
    + ", ".join(f"{cmd} (Debian package {pkg})" for cmd, pkg in MISSING.items())
    + "; `make test` installs them",
)
def test_smoke_run_measures_every_scenario_without_errors(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    report = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    data = json.loads((out / "latest.json").read_text())
    assert done.returncode == 0, report

    assert (out / "latest.png").read_bytes().startswith(b"\x89PNG"), report
    assert [s["id"] for s in data["scenarios"]] == sorted(SCENARIOS), report
    assert data["errors"] == 0, report
    for scenario in data["scenarios"]:
        assert "failed" not in scenario, scenario
        assert scenario["errors"] == 0, scenario
        for side in (scenario["ours"], scenario["theirs"]):
            if scenario["id"] == 10:  # stalled downloads: memory, no load
                assert side["stalled"] > 0, scenario
                continue
            assert side["wrk"]["requests"] > 0, scenario
            assert side["value"] > 0, scenario
    for number in (1, 2):  # also against nginx with proxy_cache, one round each in a smoke run
        scenario = next(s for s in data["scenarios"] if s["id"] == number)
        (cached,) = scenario["others"]
        assert cached["row"] == f"{number}c" and cached["ratio"] > 0, scenario
        assert len(cached["theirs"]["rounds"]) == len(scenario["ours"]["rounds"]) == 1, scenario
    assert "1c " in done.stdout and "2c " in done.stdout, report
    held = next(s for s in data["scenarios"] if s["id"] == 5)
    for side in (held["ours"], held["theirs"]):
        hold = side["hold"]
        assert hold["opened"] == hold["target"] == hold["still_answering"], side
