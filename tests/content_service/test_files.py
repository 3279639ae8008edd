"""FileStore.load: what a failed lookup answers."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from content_service.files import FileStore, Unavailable
from content_service.paths import RequestPath


@contextlib.contextmanager
def out_of_file_descriptors() -> Iterator[None]:
    """This process's next open fails with EMFILE, as when a busy server runs out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def store(root: Path) -> FileStore:
    (root / "page.html").write_text("<p>hi</p>")
    return FileStore(str(root), memory_max=1024)


PAGE = RequestPath(("page.html",), False)


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert store(tmp_path).load(RequestPath(("missing.html",), False)) is None


def test_a_file_under_a_file_is_none(tmp_path: Path) -> None:
    assert store(tmp_path).load(RequestPath(("page.html", "x"), False)) is None  # ENOTDIR


def test_out_of_descriptors_is_unavailable_not_missing(tmp_path: Path) -> None:
    files = store(tmp_path)
    with out_of_file_descriptors(), pytest.raises(Unavailable, match="Too many open files"):
        files.load(PAGE)
    entry = files.load(PAGE)  # and once descriptors are free again, it is there
    assert entry is not None and entry.identity is not None
