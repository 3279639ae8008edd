"""`python -m proxy`: run the proxy with settings from the environment."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from proxy.config import ConfigError, Settings
from proxy.server import serve


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s proxy: %(message)s")
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"proxy: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve(settings))
    except OSError as exc:
        print(f"proxy: cannot listen on {settings.listen}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
