"""What the forwarding pipeline sends upstream, and what comes back: from an upstream, or from
the response cache that wraps the upstream step (`cache.CachingSend`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol

from proxy.access import Session
from proxy.http1 import RequestHead, ResponseHead
from proxy.routing import Route
from proxy.sink import Sink
from proxy.transaction import RequestBody
from proxy.upstream import UpstreamConnection


class Outbound:
    """A request on its way upstream: what the upstream step builds the request from. (A
    plain class: see http1.events on mypyc and dataclass-made __init__s.)"""

    def __init__(
        self,
        head: RequestHead,
        target: bytes,
        route: Route,
        body: RequestBody | None,
        session: Session | None,
        peer_ip: bytes,
        tls: bool,
        request_id: bytes,
    ) -> None:
        self.head = head  # as the client sent it
        self.target = target  # as the upstream gets it (see forward.rewrite_target)
        self.route = route
        self.body = body
        self.session = session  # the upstream is told the user (X-Auth-User)
        self.peer_ip = peer_ip
        self.tls = tls
        self.request_id = request_id
        # Set by the cache to revalidate a stored response: ask with its ETag in place of
        # the client's conditionals (RFC 9111 §4.3.1).
        self.if_none_match: bytes | None = None

    @property
    def identified(self) -> bool:
        """It names its user: the upstream may have tailored the response to them."""
        return self.session is not None


class Reply(Protocol):
    """A response to relay: its head, then its body into a sink. As a context manager it
    gives back what it holds (an upstream connection) when the block ends."""

    @property
    def head(self) -> ResponseHead: ...

    @property
    def sent_whole(self) -> bool:
        """The whole request body went out (else the client connection must close)."""

    @property
    def source(self) -> UpstreamConnection | None:
        """Where the body comes from, for flow control (None: it is all here)."""

    @property
    def cache(self) -> str:
        """What the response cache did, for the access log: "-", "hit", "miss" (the body is
        being stored) or "revalidated" (a stored response the upstream confirmed)."""

    def relay(self, sink: Sink) -> asyncio.Future[None] | None:
        """Send the body to `sink`: None if it all went, else a future for its end."""

    def __enter__(self) -> Reply: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


Send = Callable[[Outbound], Awaitable[Reply]]
