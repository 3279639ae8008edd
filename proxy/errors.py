"""The proxy's error hierarchy: each error carries the status it is answered with.

One place (`pages.error_response`) turns an error into bytes on the wire. Once a response
head has been sent, an error can no longer become a response: the connection is aborted.
"""

from __future__ import annotations

from proxy import http1


class ProxyError(Exception):
    """A request that cannot be served; `status` is what the client gets."""

    status = 500
    # Whether the client connection must close after the error response: true whenever the
    # request framing can no longer be trusted (RFC 9112 §9.6, §11.2).
    close = True

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.__doc__ or "")
        self.detail = detail or (self.__doc__ or "").strip()


class ClientError(ProxyError):
    """The request was malformed."""

    status = 400


class BadRequest(ClientError):
    """The request could not be parsed."""

    status = 400


class Forbidden(ClientError):
    """You need to log in to see this page."""

    status = 403
    close = False


class RequestTimeout(ClientError):
    """The request did not arrive in time."""

    status = 408


class PayloadTooLarge(ClientError):
    """The request body is larger than this server accepts."""

    status = 413


class URITooLong(ClientError):
    """The request target is longer than this server accepts."""

    status = 414


class HeaderFieldsTooLarge(ClientError):
    """The request header section is larger than this server accepts."""

    status = 431


class ExpectationFailed(ClientError):
    """Only `Expect: 100-continue` is supported."""

    status = 417


class NotImplementedByProxy(ProxyError):
    """This server does not implement what the request asks for."""

    status = 501


class VersionNotSupported(ProxyError):
    """This server speaks HTTP/1.0 and HTTP/1.1 only."""

    status = 505


class UpstreamError(ProxyError):
    """The service behind the proxy failed to answer properly."""

    status = 502
    close = False


class BadGateway(UpstreamError):
    """The service behind the proxy is unreachable or sent a broken response."""

    status = 502


class GatewayTimeout(UpstreamError):
    """The service behind the proxy did not answer in time."""

    status = 504


class ServiceUnavailable(ProxyError):
    """The proxy is at its connection limit or shutting down; try again shortly."""

    status = 503


# What the wire layer's protocol errors are answered with (RFC 9110 §15.5, §15.6).
_FROM_PROTOCOL: dict[type[http1.ProtocolError], type[ProxyError]] = {
    http1.MalformedRequest: BadRequest,
    http1.TargetTooLong: URITooLong,
    http1.HeadTooLarge: HeaderFieldsTooLarge,
    http1.BodyTooLarge: PayloadTooLarge,
    http1.UnsupportedVersion: VersionNotSupported,
    http1.UnsupportedFeature: NotImplementedByProxy,
    http1.UnknownExpectation: ExpectationFailed,
}


def from_protocol(error: http1.ProtocolError) -> ProxyError:
    """The answer to a request the wire layer refused, with its detail when it has one."""
    return _FROM_PROTOCOL[type(error)](error.detail)
