"""Media types by file extension.

A fixed table rather than `mimetypes`, whose answers depend on the host's
/etc/mime.types and so differ between a laptop, CI and the container.
"""

from __future__ import annotations

import posixpath

# Text types carry an explicit charset (RFC 9110 §8.3.1) so browsers do not
# have to sniff one; the shipped site is UTF-8 throughout.
_UTF8 = "; charset=utf-8"

TYPES: dict[str, str] = {
    ".html": "text/html" + _UTF8,
    ".htm": "text/html" + _UTF8,
    ".css": "text/css" + _UTF8,
    # RFC 9239 makes text/javascript the one media type for JavaScript.
    ".js": "text/javascript" + _UTF8,
    ".mjs": "text/javascript" + _UTF8,
    ".txt": "text/plain" + _UTF8,
    ".csv": "text/csv" + _UTF8,
    ".md": "text/markdown" + _UTF8,
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".pdf": "application/pdf",
    ".wasm": "application/wasm",
}

DEFAULT_TYPE = "application/octet-stream"

# Types worth a precomputed gzip variant: markup, styles, scripts and other
# text. Images, audio and fonts are already compressed.
_COMPRESSIBLE_PREFIXES = ("text/",)
_COMPRESSIBLE_TYPES = frozenset(
    {
        "image/svg+xml",
        "application/json",
        "application/manifest+json",
        "application/xml",
        "application/wasm",
    }
)


def content_type_for(path: str) -> str:
    """The Content-Type for a file name; extension match is case-insensitive."""
    ext = posixpath.splitext(path)[1].lower()
    return TYPES.get(ext, DEFAULT_TYPE)


def is_compressible(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip()
    return base.startswith(_COMPRESSIBLE_PREFIXES) or base in _COMPRESSIBLE_TYPES
