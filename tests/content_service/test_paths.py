"""Path safety: request paths, the root check, and lookups through FileStore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content_service.files import FileStore
from content_service.paths import BadPath, RequestPath, inside_root, parse_request_path
from tests.content_service.conftest import SECRET_MARKER, Site, build_site


@pytest.mark.parametrize(
    ("path", "segments", "directory"),
    [
        pytest.param("/", (), True, id="root"),
        pytest.param("/index.html", ("index.html",), False, id="file"),
        pytest.param("/static/style.css", ("static", "style.css"), False, id="nested"),
        pytest.param("/docs/", ("docs",), True, id="directory"),
        pytest.param("//static///style.css", ("static", "style.css"), False, id="empty-segments"),
        pytest.param("//etc/passwd", ("etc", "passwd"), False, id="double-slash-stays-relative"),
        pytest.param("/a b/%2e.txt", ("a b", "%2e.txt"), False, id="still-encoded-is-literal"),
        pytest.param("/caf\u00e9.html", ("caf\u00e9.html",), False, id="unicode"),
    ],
)
def test_accepted_paths(path: str, segments: tuple[str, ...], directory: bool) -> None:
    assert parse_request_path(path) == RequestPath(segments, directory)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/../etc/passwd", 404, id="dotdot"),
        pytest.param("/../../etc/passwd", 404, id="dotdot-twice"),
        pytest.param("/images/../../secret", 404, id="dotdot-inside"),
        pytest.param("/images/..", 404, id="dotdot-last"),
        pytest.param("/./index.html", 404, id="single-dot"),
        pytest.param("/.env", 404, id="dotfile"),
        pytest.param("/.git/config", 404, id="dot-directory"),
        pytest.param("/static/.hidden.css", 404, id="nested-dotfile"),
        pytest.param("/..\\..\\etc\\passwd", 404, id="backslash-dotdot"),
        pytest.param("/images\\secret", 404, id="backslash"),
        pytest.param("/index.html\x00.jpg", 400, id="nul"),
        pytest.param("/\x00", 400, id="nul-only"),
        pytest.param("*", 400, id="asterisk-form"),
        pytest.param("index.html", 400, id="relative"),
        pytest.param("", 400, id="empty"),
    ],
)
def test_rejected_paths(path: str, status: int) -> None:
    with pytest.raises(BadPath) as info:
        parse_request_path(path)
    assert info.value.status == status


@pytest.mark.parametrize(
    ("path", "key"),
    [("/", ""), ("/a", "a"), ("/a/", "a/"), ("//a//b//", "a/b/"), ("/a/b", "a/b")],
)
def test_cache_key_is_canonical(path: str, key: str) -> None:
    assert parse_request_path(path).key == key


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b.txt", ".x", "c\\d", "%2e"]), max_size=6))
def test_no_accepted_path_has_a_dangerous_segment(parts: list[str]) -> None:
    try:
        parsed = parse_request_path("/" + "/".join(parts))
    except BadPath:
        return
    for segment in parsed.segments:
        assert (
            segment and not segment.startswith(".") and "\\" not in segment and "/" not in segment
        )


@pytest.mark.parametrize(
    ("real", "inside"),
    [
        pytest.param("/srv/site", True, id="root-itself"),
        pytest.param("/srv/site/a.html", True, id="child"),
        pytest.param("/srv/site/x/y/z.css", True, id="deep"),
        pytest.param("/srv/site-other/a.html", False, id="sibling-with-same-prefix"),
        pytest.param("/srv/a.html", False, id="parent"),
        pytest.param("/etc/passwd", False, id="elsewhere"),
        pytest.param("/srv/site/.git/config", False, id="dot-directory-via-link"),
        pytest.param("/srv/site/x/.env", False, id="dotfile-via-link"),
    ],
)
def test_inside_root(real: str, inside: bool) -> None:
    assert inside_root(real, "/srv/site") is inside


@pytest.fixture
def store_site(tmp_path: Path) -> tuple[FileStore, Site]:
    site = build_site(tmp_path)
    return FileStore(str(site.root), memory_max=1024 * 1024), site


def load(store: FileStore, path: str) -> bytes | None:
    entry = store.load(parse_request_path(path))
    if entry is None:
        return None
    if entry.identity is not None and entry.identity.body is not None:
        return entry.identity.body
    with open(entry.real_path, "rb") as f:
        return f.read()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/link-out", id="symlink-to-outside-file"),
        pytest.param("/dir-out/secret.txt", id="symlinked-dir-outside"),
        pytest.param("/link-dot", id="symlink-to-dotfile"),
        pytest.param("/missing.html", id="missing"),
        pytest.param("/empty/", id="directory-without-index"),
        pytest.param("/empty", id="directory-without-index-no-slash"),
        pytest.param("/index.html/", id="file-with-trailing-slash"),
        pytest.param("/" + "a" * 300, id="name-too-long"),
    ],
)
def test_store_refuses(store_site: tuple[FileStore, Site], path: str) -> None:
    store, _site = store_site
    assert store.load(parse_request_path(path)) is None


def test_store_serves_symlink_inside_root(store_site: tuple[FileStore, Site]) -> None:
    store, site = store_site
    assert load(store, "/link-in.txt") == (site.root / "hello.txt").read_bytes()


def test_store_directory_index(store_site: tuple[FileStore, Site]) -> None:
    store, site = store_site
    assert load(store, "/") == (site.root / "index.html").read_bytes()
    assert load(store, "/docs") == (site.root / "docs" / "index.html").read_bytes()
    assert load(store, "/docs/") == (site.root / "docs" / "index.html").read_bytes()


def test_store_does_not_follow_fifo(store_site: tuple[FileStore, Site]) -> None:
    store, site = store_site
    os.mkfifo(site.root / "pipe.txt")
    assert store.load(parse_request_path("/pipe.txt")) is None


def test_root_that_is_a_symlink_still_works(tmp_path: Path) -> None:
    site = build_site(tmp_path)
    link = tmp_path / "root-link"
    link.symlink_to(site.root, target_is_directory=True)
    store = FileStore(str(link), memory_max=1024)
    assert load(store, "/hello.txt") == (site.root / "hello.txt").read_bytes()
    assert store.load(parse_request_path("/link-out")) is None


def test_nothing_reachable_shows_the_secret(store_site: tuple[FileStore, Site]) -> None:
    store, site = store_site
    for dirpath, dirnames, filenames in os.walk(site.root, followlinks=True):
        rel = os.path.relpath(dirpath, site.root)
        for name in [*filenames, *dirnames]:
            url = "/" + name if rel == "." else f"/{rel}/{name}"
            try:
                body = load(store, url)
            except Exception:  # parse errors are refusals too
                continue
            assert body is None or SECRET_MARKER not in body, url


def test_cache_budget_drops_oldest(store_site: tuple[FileStore, Site]) -> None:
    store, _site = store_site
    store.cache_budget = 3000
    for path in ("/hello.txt", "/static/style.css", "/index.html"):
        rp = parse_request_path(path)
        entry = store.load(rp)
        assert entry is not None
        store.remember(rp.key, entry)
    assert store._held <= 3000
    assert store.cached("hello.txt") is None  # the oldest went first
    assert store.cached("index.html") is not None
