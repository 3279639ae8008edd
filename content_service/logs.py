"""Log lines, each tagged with the request it belongs to (issue 11: request ids).

The app sets `current_request_id` at the start of each request, as the raw header
value: it is checked and decoded only when a line is written, which keeps it off the
path of the many requests that log nothing. uvicorn runs every request in its own task,
and a task has its own copy of the context, so the value stays with that request, also
in uvicorn's own lines (an error's traceback).
"""

from __future__ import annotations

import contextvars
import logging
import sys

from content_service.security import request_id

log = logging.getLogger("content_service")

current_request_id: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "request_id", default=None
)


class RequestIdFilter(logging.Filter):
    """Appends ` request_id=...` to lines written while serving a request that has one."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id(current_request_id.get())
        record.request = f" request_id={rid}" if rid else ""
        return True


def configure() -> None:
    """Our lines at INFO, uvicorn's at WARNING, all on stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s%(request)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
