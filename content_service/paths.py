"""Turning a request path into a safe relative file path, and checking results.

The ASGI server has already percent-decoded `scope["path"]` once, so `%2e%2e`
arrives here as `..` and `%2f` as `/`. Everything is checked on that decoded
form and nothing is decoded again, so double encodings such as `%252e` stay
literal file names and cannot turn into traversal later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class BadPath(Exception):
    """The request path cannot name a file we serve; `status` is 400 or 404."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RequestPath:
    """A request path split into checked segments.

    `directory` records a trailing slash: `/docs/` asks for a directory's
    index, and `/index.html/` must not serve the file `index.html`.
    """

    segments: tuple[str, ...]
    directory: bool

    @property
    def key(self) -> str:
        """A canonical form, used as the cache key: `//a///b` and `/a/b` share it."""
        joined = "/".join(self.segments)
        return joined + "/" if self.directory and joined else joined


def parse_request_path(path: str) -> RequestPath:
    """Split and vet a decoded request path.

    Raises BadPath(400) for a NUL byte or a target that is not origin-form
    (RFC 9110 §7.1), BadPath(404) for anything that could step outside the
    root or reveal a hidden file: `.`/`..` segments, dotfiles, backslashes.
    """
    if "\x00" in path:
        raise BadPath(400, "NUL byte in path")
    if not path.startswith("/"):
        raise BadPath(400, "request target is not an absolute path")
    parts = path.split("/")
    segments: list[str] = []
    for part in parts[1:]:
        if not part:
            # Empty segments (`//`) are harmless: joining skips them, so they
            # cannot make the path absolute.
            continue
        if part.startswith("."):
            # Covers `.` and `..` as well as dotfiles such as `.env` or `.git`.
            raise BadPath(404, "dot segment")
        if "\\" in part:
            # A backslash is a separator on Windows and in some proxies' eyes;
            # no served file needs one.
            raise BadPath(404, "backslash in path")
        segments.append(part)
    directory = parts[-1] == "" and len(parts) > 1
    return RequestPath(tuple(segments), directory or not segments)


def inside_root(real_path: str, real_root: str) -> bool:
    """True if `real_path` (already symlink-resolved) lies in `real_root`.

    Also refuses a path that resolves, through a symlink, to a dotfile or into
    a dot directory inside the root, so a link cannot expose `.git`.
    """
    if real_path == real_root:
        return True
    prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep
    if not real_path.startswith(prefix):
        return False
    relative = real_path[len(prefix) :]
    return not any(part.startswith(".") for part in relative.split(os.sep))
