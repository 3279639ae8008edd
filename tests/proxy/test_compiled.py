"""Choosing between the mypyc-compiled modules and the Python sources (proxy/compiled.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxy import compiled
from proxy.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("setting", "problem", "expected"),
    [
        ("auto", None, True),
        ("auto", "no build", False),
        ("0", None, False),
        ("0", "no build", False),
        ("1", None, True),
    ],
    ids=["auto-fresh", "auto-missing", "off-fresh", "off-missing", "on-fresh"],
)
def test_decide(setting: str, problem: str | None, expected: bool) -> None:
    assert compiled.decide(setting, problem) is expected


def test_asking_for_a_build_that_cannot_be_used_is_refused() -> None:
    with pytest.raises(ValueError, match="1 asks for the compiled modules, but no build"):
        compiled.decide("1", "no build")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", r"setting PROXY_COMPILED: must be auto, 0 or 1 \(got 'yes'\)"),
        ("1", r"setting PROXY_COMPILED: 1 asks for the compiled modules, but .* \(got '1'\)"),
    ],
    ids=["bad-value", "asked-for-but-stale"],
)
def test_the_proxy_settings_refuse_what_cannot_be(
    value: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(compiled, "BUILD", tmp_path / "no-build")
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({compiled.SETTING: value})


def write_build(build: Path, root: Path, python: str = sys.version) -> None:
    build.mkdir(parents=True)
    manifest = {"python": python, "sources": compiled.fingerprint(root)}
    (build / compiled.MANIFEST_NAME).write_text(json.dumps(manifest))


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for name in compiled.MODULES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"# {name}\n")
    return root


def test_a_build_of_the_current_sources_is_fresh(sources: Path, tmp_path: Path) -> None:
    write_build(tmp_path / "build", sources)
    assert compiled.stale(tmp_path / "build", sources) is None


def test_an_edit_makes_the_build_stale(sources: Path, tmp_path: Path) -> None:
    write_build(tmp_path / "build", sources)
    (sources / compiled.MODULES[0]).write_text("# edited\n")
    assert "the sources changed" in (compiled.stale(tmp_path / "build", sources) or "")


def test_a_build_for_another_python_is_stale(sources: Path, tmp_path: Path) -> None:
    write_build(tmp_path / "build", sources, python="3.10.0")
    assert "another Python" in (compiled.stale(tmp_path / "build", sources) or "")


def test_no_build_is_stale(tmp_path: Path) -> None:
    assert "there is no build" in (compiled.stale(tmp_path / "none") or "")


def module_files(setting: str) -> list[str]:
    """Where a fresh interpreter with PROXY_COMPILED=`setting` finds the hot modules."""
    code = "import proxy.protocol as p, proxy.http1.request as r; print(p.__file__, r.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, compiled.SETTING: setting},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_pure_python_is_always_there() -> None:
    assert all(path.endswith(".py") for path in module_files("0"))


@pytest.mark.skipif(
    os.environ.get(compiled.SETTING) != "1", reason="make test builds and asks for them"
)
def test_the_compiled_modules_are_used_when_asked_for() -> None:
    assert all(path.endswith(".so") for path in module_files("1"))
