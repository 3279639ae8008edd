"""`python -m proxy`: run the proxy with settings from the environment.

With PROXY_WORKERS=1 (the default) this process serves; with more, it is the master of
that many worker processes (`proxy.master`), which it starts as `python -m proxy --worker N`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Coroutine
from typing import Any

from proxy.config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s proxy: %(message)s")
    args = _parse(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"proxy: {exc}", file=sys.stderr)
        return 2
    if args.worker is not None:
        return _worker(settings, args.worker, args.fds)
    if settings.workers > 1:
        from proxy import master

        return master.run(settings)
    from proxy.server import ListenError, listeners, serve

    try:
        socks = listeners(settings)
    except ListenError as exc:
        print(f"proxy: {exc}", file=sys.stderr)
        return 1
    _run(serve(settings, socks))
    return 0


def _worker(settings: Settings, worker: int, fds: str) -> int:
    logging.getLogger().handlers[0].setFormatter(
        logging.Formatter(f"%(asctime)s proxy[worker {worker}]: %(message)s")
    )
    from proxy.server import Listeners, serve

    socks = Listeners(*(socket.socket(fileno=int(fd)) for fd in fds.split(",")))
    _run(serve(settings, socks, worker=worker, parent=os.getppid()))
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        asyncio.run(main)
    else:
        uvloop.run(main)


class _Args(argparse.Namespace):
    worker: int | None
    fds: str


def _parse(argv: list[str] | None) -> _Args:
    parser = argparse.ArgumentParser(prog="python -m proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # started by the master
    parser.add_argument("--fds", default="", help=argparse.SUPPRESS)  # its inherited sockets
    return parser.parse_args(argv, namespace=_Args())


if __name__ == "__main__":
    sys.exit(main())
