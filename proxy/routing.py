"""Which upstream serves a request, and whether it needs a session."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final


class Upstream(enum.Enum):
    AUTH = "auth"
    CONTENT = "content"


@dataclass(frozen=True)
class Route:
    upstream: Upstream
    public: bool
    # `/` and `/index.html` show the login page, or the secret page to a logged-in user.
    home: bool = False
    # `POST /logout`: the proxy drops its cached verdicts for the session as it passes.
    logout: bool = False
    # Derived once per route (routes are remembered, see `route`):
    # `per_session`: whether the answer depends on the session: protected routes, and the
    # home page, which is the secret page for a logged-in user. The access check looks the
    # session up for these, and their responses are private to the browser.
    per_session: bool = field(init=False)
    label: str = field(init=False)  # for metrics: auth, home, public or protected
    to_auth: bool = field(init=False)  # the auth service answers it
    upstream_name: str = field(init=False)

    def __post_init__(self) -> None:
        to_auth = self.upstream is Upstream.AUTH
        if to_auth:
            label = "auth"
        elif self.home:
            label = "home"
        else:
            label = "public" if self.public else "protected"
        object.__setattr__(self, "per_session", not self.public or self.home)
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "to_auth", to_auth)
        object.__setattr__(self, "upstream_name", self.upstream.value)


_AUTH_ROUTES: Final = frozenset(
    {(b"POST", b"/login"), (b"POST", b"/logout"), (b"GET", b"/cookie.html")}
)
_HOME: Final = frozenset({b"/", b"/index.html"})
_PUBLIC_FILES: Final = frozenset({b"/favicon.ico"})
SECRET_PAGE: Final = b"/secret.html"


# Routes are immutable and few paths are hot: remembering the answers saves the path
# checks on nearly every request. Bounded, as paths come from the network: when full it
# starts again, and the hot paths are back after a request each. (A dict, not
# functools.lru_cache: from compiled code that wrapper's call cost ~500 instructions.)
_REMEMBERED: Final = 256
_routes: Final[dict[tuple[bytes, bytes], Route]] = {}


def route(method: bytes, path: bytes) -> Route:
    key = (method, path)
    found = _routes.get(key)
    if found is None:
        if len(_routes) >= _REMEMBERED:
            _routes.clear()
        found = _routes[key] = _route(method, path)
    return found


def _route(method: bytes, path: bytes) -> Route:
    auth_method = b"GET" if method == b"HEAD" else method
    if (auth_method, path) in _AUTH_ROUTES:
        return Route(
            Upstream.AUTH,
            public=(method, path) == (b"POST", b"/login"),
            logout=(method, path) == (b"POST", b"/logout"),
        )
    if path in _HOME and method in (b"GET", b"HEAD"):
        return Route(Upstream.CONTENT, public=True, home=True)
    return Route(Upstream.CONTENT, public=_is_public_file(path))


def _is_public_file(path: bytes) -> bool:
    """`/favicon.ico` and `/static/**`, for paths whose meaning is plain.

    Anything percent-encoded, with dot segments, empty segments or backslashes is not public:
    normalising it here and again in the content service is how `/static/../secret.html`
    style bypasses happen, so such paths simply need a session.
    """
    if path in _PUBLIC_FILES:
        return True
    if not path.startswith(b"/static/") or b"%" in path or b"\\" in path:
        return False
    segments = path[len(b"/static/") :].split(b"/")
    return all(segment not in (b"", b".", b"..") for segment in segments)
