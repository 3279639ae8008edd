"""`python -m content_service`: serve CONTENT_ROOT with uvicorn."""

from __future__ import annotations

import os
import sys

import uvicorn

from content_service.app import create_app
from content_service.config import ConfigError, Settings


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"content_service: configuration error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.bind,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=5,
        # The proxy in front is the only client; its X-Forwarded-* headers
        # mean nothing to a file server, so they are not interpreted.
        proxy_headers=False,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
