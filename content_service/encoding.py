"""Content coding negotiation: may we answer with gzip? (RFC 9110 §12.5.3)"""

from __future__ import annotations

from functools import lru_cache


def _qvalue(params: str) -> float:
    """The `q` weight among `;`-separated parameters (§12.4.2); 1 if absent."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


# Clients send a handful of distinct Accept-Encoding values, so caching the
# answer per value keeps parsing off the hot path; the bound stops a client
# from growing it without limit.
@lru_cache(maxsize=512)
def accepts_gzip(header: str) -> bool:
    """True if gzip is acceptable and not less preferred than identity.

    gzip is acceptable when listed as `gzip` (or the legacy `x-gzip`,
    §8.4.1.3) with q > 0, or when not listed but `*` is with q > 0. An
    explicit `identity` with a higher weight wins, as the client asked.
    """
    gzip_q: float | None = None
    star_q: float | None = None
    identity_q: float | None = None
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = _qvalue(params)
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
        elif coding == "identity":
            identity_q = q
    chosen = gzip_q if gzip_q is not None else star_q
    if chosen is None or chosen <= 0.0:
        return False
    return identity_q is None or chosen >= identity_q
