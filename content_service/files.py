"""Finding files under the content root, and the cache of what was found.

Every file found is remembered by its canonical request path together with a
stamp of its `os.stat`. A request re-stats the file (a few microseconds) and
reuses the entry while the stamp is unchanged, so edits on disk show up on
the very next request. Files up to `memory_max` bytes are kept in memory with
their response headers built once; larger ones are streamed from disk.

Section numbers (§) refer to RFC 9110 unless another RFC is named.
"""

from __future__ import annotations

import errno
import gzip
import os
import stat
from dataclasses import dataclass
from email.utils import formatdate

from content_service.mime import content_type_for, is_compressible
from content_service.paths import RequestPath, inside_root
from content_service.security import HTML_HEADERS, NOSNIFF

Headers = list[tuple[bytes, bytes]]
Stamp = tuple[int, int, int, int]

# What a failed lookup may mean for a 404: the file is not there, or not ours to show. All
# of them answer alike, so the answer does not reveal what exists outside or why.
_ABSENT = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES,
     errno.EPERM}
)  # fmt: skip


class Unavailable(Exception):
    """A file could not be read for a reason of the server's own (out of file descriptors,
    an I/O error): a 503, never a 404, which would tell the client and caches that the file
    is gone."""


def check_absent(exc: OSError) -> None:
    """Raise Unavailable unless a failed open or stat means "no such file" (a 404)."""
    if exc.errno not in _ABSENT:
        raise Unavailable(exc.strerror or str(exc)) from exc


def cache_control(max_age: int) -> bytes:
    """The freshness this service grants its files (RFC 9111 §5.2.2.1).

    Which files are behind the login is the proxy's knowledge, not ours: the proxy's cache
    reuses responses only after its access check, and the proxy replaces this with
    `private, no-cache` on protected responses, so no cache past it reuses them. Nothing here
    depends on who asks, hence `public`. `max_age=0` makes every use revalidate.
    """
    return b"public, max-age=%d" % max_age if max_age > 0 else b"no-cache"


# A ceiling on the bytes held by the cache, so a huge content root cannot
# exhaust memory; the oldest entries are dropped first.
DEFAULT_CACHE_BUDGET = 64 * 1024 * 1024

# Opening with O_NONBLOCK keeps a FIFO planted in the root from hanging a
# worker thread; it has no effect on regular files.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def stamp_of(st: os.stat_result) -> Stamp:
    """What must stay equal for a cached entry to still describe the file."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class Variant:
    """One representation of a file (identity or gzip) with ready headers."""

    size: int
    etag: str
    body: bytes | None  # None: stream it from the file
    ok_headers: Headers  # for 200
    not_modified_headers: Headers  # for 304
    partial_headers: Headers  # for 206: ok_headers without Content-Length


@dataclass(frozen=True, slots=True)
class Entry:
    """A file found under the root."""

    fs_path: str  # as joined from the request; re-stat'ed to notice changes
    real_path: str  # symlinks resolved; what is opened
    stamp: Stamp
    content_type: str
    mtime: int  # whole seconds, the precision of Last-Modified
    identity: Variant | None  # None for large files: built per request
    gzip: Variant | None  # only for small compressible files

    @property
    def cost(self) -> int:
        return sum(len(v.body) for v in (self.identity, self.gzip) if v and v.body) + 512


def make_validators(st: os.stat_result) -> tuple[str, str, int]:
    """ETag, Last-Modified and the mtime in seconds for a stat result.

    The ETag is built from mtime (ns) and size like nginx's, so it is cheap,
    changes whenever the file is rewritten, and is identical across processes
    serving the same files (RFC 9110 §8.8.3).
    """
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    mtime = int(st.st_mtime)
    return etag, formatdate(mtime, usegmt=True), mtime


def make_variant(
    content_type: str,
    etag: str,
    last_modified: str,
    size: int,
    body: bytes | None,
    *,
    caching: bytes,
    gzipped: bool = False,
) -> Variant:
    validators: Headers = [(b"etag", etag.encode()), (b"last-modified", last_modified.encode())]
    # Vary on every response of a type that has a gzip variant, including
    # identity, 206 and 304 answers, so caches keep the two apart (§12.5.5).
    vary: Headers = [(b"vary", b"Accept-Encoding")] if is_compressible(content_type) else []
    coding: Headers = [(b"content-encoding", b"gzip")] if gzipped else []
    security = HTML_HEADERS if content_type.startswith("text/html") else [NOSNIFF]
    partial: Headers = [
        (b"content-type", content_type.encode()),
        *coding,
        (b"accept-ranges", b"bytes"),
        *validators,
        *vary,
        (b"cache-control", caching),
        *security,
    ]
    ok = [(b"content-length", str(size).encode()), *partial]
    # §15.4.5: a 304 carries the fields a 200 would have had for caching
    # (ETag, Vary, Cache-Control) and nothing describing a body.
    not_modified = [*validators, *vary, (b"cache-control", caching)]
    return Variant(size, etag, body, ok, not_modified, partial)


def large_variant(entry: Entry, st: os.stat_result, caching: bytes) -> Variant:
    """The identity variant of a streamed file, from the stat of the open fd."""
    etag, last_modified, _mtime = make_validators(st)
    return make_variant(entry.content_type, etag, last_modified, st.st_size, None, caching=caching)


class FileStore:
    """Looks up request paths under the root and caches what it finds.

    `cached` runs on the event loop and only stats; `load` does the blocking
    work (realpath, read, gzip) and belongs in a worker thread; `remember`
    puts its result into the cache back on the event loop, so the dict is
    only ever touched from one thread.
    """

    def __init__(
        self,
        root: str,
        memory_max: int,
        cache_budget: int = DEFAULT_CACHE_BUDGET,
        caching: bytes = b"no-cache",
    ) -> None:
        self.root = os.path.abspath(root)
        self.caching = caching  # the Cache-Control value of every file
        self.real_root = os.path.realpath(root)
        self.memory_max = memory_max
        self.cache_budget = cache_budget
        self._entries: dict[str, Entry] = {}
        self._held = 0

    def cached(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        try:
            st = os.stat(entry.fs_path)
        except (OSError, ValueError):
            self.forget(key)
            return None
        if stamp_of(st) != entry.stamp:
            self.forget(key)
            return None
        return entry

    def remember(self, key: str, entry: Entry) -> None:
        self.forget(key)
        cost = entry.cost
        if cost > self.cache_budget:
            return
        while self._entries and self._held + cost > self.cache_budget:
            self.forget(next(iter(self._entries)))
        self._entries[key] = entry
        self._held += cost

    def forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._held -= entry.cost

    def __len__(self) -> int:
        return len(self._entries)

    def root_problem(self) -> str | None:
        """Why the root cannot be served, or None (for /readyz). Blocking: use a thread.

        It lists the directory rather than asking os.access, which says yes to root
        for any mode, so an unreadable or vanished root is really noticed.
        """
        try:
            with os.scandir(self.root) as entries:
                next(entries, None)
        except OSError as exc:
            return f"content root {self.root!r} is not readable: {exc.strerror or exc}"
        return None

    def load(self, request_path: RequestPath) -> Entry | None:
        """Find the file for a checked request path; None means 404, Unavailable 503.

        Blocking: call it from a worker thread.
        """
        fs_path = os.path.join(self.root, *request_path.segments)
        try:
            st = os.stat(fs_path)
            if stat.S_ISDIR(st.st_mode):
                fs_path = os.path.join(fs_path, "index.html")
                st = os.stat(fs_path)
            elif request_path.directory:
                # `/file.html/` names a directory that is not there.
                return None
            if not stat.S_ISREG(st.st_mode):
                return None
            real_path = os.path.realpath(fs_path)
            if not inside_root(real_path, self.real_root):
                # A symlink that leads out of the root (or to a dotfile).
                return None
            return self._read(fs_path, real_path)
        except ValueError:  # an embedded NUL
            return None
        except OSError as exc:
            check_absent(exc)
            return None

    def _read(self, fs_path: str, real_path: str) -> Entry | None:
        # The type follows the name that was asked for, not a symlink's target.
        content_type = content_type_for(fs_path)
        fd = os.open(real_path, OPEN_FLAGS)
        with open(fd, "rb", closefd=True) as f:
            # Validators come from the open file, so they describe the bytes
            # we read even if the path was replaced meanwhile.
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            body = f.read() if st.st_size <= self.memory_max else None
        etag, last_modified, mtime = make_validators(st)
        identity = gz = None
        if body is not None:
            identity = make_variant(
                content_type, etag, last_modified, len(body), body, caching=self.caching
            )
            if is_compressible(content_type):
                gz = self._gzip_variant(content_type, etag, last_modified, body)
        return Entry(fs_path, real_path, stamp_of(st), content_type, mtime, identity, gz)

    def _gzip_variant(
        self, content_type: str, etag: str, last_modified: str, body: bytes
    ) -> Variant | None:
        # mtime=0 keeps the gzip bytes (and so the variant) stable across
        # restarts; level 9 costs nothing here because it runs once per file.
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        if len(packed) >= len(body):
            return None
        # A distinct strong ETag for the coded representation (§8.8.3.3: the
        # gzip bytes differ, so they must not share the identity tag).
        gz_etag = etag[:-1] + '-gz"'
        return make_variant(
            content_type,
            gz_etag,
            last_modified,
            len(packed),
            packed,
            caching=self.caching,
            gzipped=True,
        )
