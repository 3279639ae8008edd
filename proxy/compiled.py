"""The proxy's hot modules compiled with mypyc: which ones, how they are built, and when the
compiled ones are used instead of the Python sources (issue 13).

`make compiled` builds them into build/mypyc/ (`make run` and `make test` do it
when a source has changed). A build records the SHA-256 of the sources it was made from and
is used only while they match, so an edit never runs stale code: until the next build the
proxy simply runs its Python modules, which always work.

PROXY_COMPILED chooses: `auto` (the default: compiled when a fresh build is there), `1`
(compiled, or refuse to start), `0` (pure Python).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mypyc"
MANIFEST_NAME = "sources.json"
SETTING = "PROXY_COMPILED"

# What a request passes through. Not compiled: the modules whose classes tests replace with
# stand-ins (a compiled function checks its arguments' classes), and the cold ones.
MODULES = (
    "proxy/http1/events.py",
    "proxy/http1/headers.py",
    "proxy/http1/keepalive.py",
    "proxy/http1/request.py",
    "proxy/http1/response.py",
    "proxy/http1/writer.py",
    "proxy/cache.py",
    "proxy/deadline.py",
    "proxy/forward.py",
    "proxy/protocol.py",
    "proxy/replicas.py",
    "proxy/reply.py",
    "proxy/request_id.py",
    "proxy/runner.py",
    "proxy/routing.py",
    "proxy/sink.py",
    "proxy/tally.py",
    "proxy/trace.py",
    "proxy/transaction.py",
    "proxy/upstream.py",
)


def use(package_path: list[str], package: str) -> None:
    """Put `package`'s compiled modules first on its search path when they are wanted and
    fresh (each package's __init__ calls this)."""
    if wanted():
        package_path.insert(0, str(BUILD.joinpath(*package.split("."))))


@functools.cache
def wanted() -> bool:
    """Whether this process runs the compiled modules (decided once, at the first import).
    A bad PROXY_COMPILED means the Python modules here; the proxy's settings refuse it
    (config.Settings), in the same words as any other bad setting."""
    try:
        use_them = decide(os.environ.get(SETTING, "auto"), stale(BUILD))
    except ValueError:
        return False
    if use_them:
        # The library all compiled modules share, imported by its own top-level name.
        sys.path.append(str(BUILD))
    return use_them


def decide(setting: str, problem: str | None) -> bool:
    """PROXY_COMPILED's value and what, if anything, makes the build unusable; ValueError
    if the two do not go together."""
    if setting not in ("auto", "0", "1"):
        raise ValueError("must be auto, 0 or 1")
    if setting == "1" and problem is not None:
        raise ValueError(f"1 asks for the compiled modules, but {problem}")
    return setting != "0" and problem is None


def describe() -> str:
    """For the start-up log line."""
    return "modules compiled with mypyc" if wanted() else "pure-Python modules"


def fingerprint(root: Path = ROOT) -> dict[str, str]:
    """The SHA-256 of each source in MODULES."""
    return {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        for name in MODULES
        if (root / name).exists()
    }


def stale(build: Path, root: Path = ROOT) -> str | None:
    """Why the build in `build` cannot be used with the sources in `root`, or None."""
    try:
        manifest = json.loads((build / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return f"there is no build in {build} (`make compiled`)"
    if manifest.get("python") != sys.version:
        return f"the build in {build} is for another Python ({manifest.get('python')})"
    if manifest.get("sources") != fingerprint(root):
        return f"the sources changed since the build in {build} (`make compiled`)"
    return None


def build_if_stale() -> None:
    problem = stale(BUILD)
    if problem is None:
        print(f"compiled modules in {BUILD} are up to date")
        return
    print(f"compiling {len(MODULES)} modules with mypyc: {problem}")
    build()


def build() -> None:
    """Compile MODULES in a scratch copy of the package, then put the extension modules in
    place of the last build in one rename."""
    sources = fingerprint()  # before compiling: an edit meanwhile makes the build stale
    with tempfile.TemporaryDirectory(prefix="gatehouse-mypyc-") as tmp_name:
        tmp = Path(tmp_name)
        shutil.copytree(
            ROOT / "proxy", tmp / "proxy", ignore=shutil.ignore_patterns("__pycache__", "*.so")
        )
        # mypyc builds with setuptools in the working directory; a scratch copy keeps the
        # repository free of its C files and of extension modules that would shadow the
        # sources.
        subprocess.run(
            [sys.executable, "-m", "mypyc", *MODULES],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        built = [p for p in tmp.rglob("*.so") if p.relative_to(tmp).parts[0] != "build"]
        staging = tmp / "out"
        for library in built:
            target = staging / library.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(library, target)
        (staging / MANIFEST_NAME).write_text(
            json.dumps({"python": sys.version, "sources": sources}, indent=1)
        )
        BUILD.parent.mkdir(exist_ok=True)
        old = BUILD.with_name(BUILD.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if BUILD.exists():
            BUILD.rename(old)
        shutil.move(str(staging), BUILD)
        shutil.rmtree(old, ignore_errors=True)
    print(f"compiled {len(MODULES)} modules with mypyc into {BUILD}")
