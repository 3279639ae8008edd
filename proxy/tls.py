"""TLS on the client listener: the server SSLContext (stdlib `ssl`) and HSTS.

The proxy speaks only HTTP/1.1, so the keep-alive rules are the same as over plain TCP: TLS
is a property of the transport, not of the protocol code.
"""

from __future__ import annotations

import ssl

from proxy.config import ConfigError, Settings

# RFC 6797: browsers that saw this over TLS use https only, for a year. No `includeSubDomains`
# by default: the proxy cannot know that every subdomain of its host serves TLS, and the
# directive would cut off any that does not; no `preload`, which asks browser vendors to ship
# the host in their lists, a decision for the site's owner (hstspreload.org).
HSTS = (b"Strict-Transport-Security", b"max-age=31536000")

# TLS 1.2 suites with forward secrecy and an AEAD cipher only (Mozilla's "intermediate"
# profile without the DHE ones). TLS 1.3 suites are all of that kind and set_ciphers leaves
# them alone.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(settings: Settings) -> ssl.SSLContext:
    """The SSLContext for the listener; ConfigError when the files cannot be used."""
    assert settings.tls_cert is not None and settings.tls_key is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    # Client-initiated renegotiation costs the server a handshake per request (a DoS lever)
    # and TLS 1.3 has none; compression invites CRIME.
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    # RFC 7301: say which protocol we speak, so an ALPN client never assumes h2.
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except OSError as exc:  # ssl.SSLError included
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(
            f"setting PROXY_TLS_CERT: cannot use it with PROXY_TLS_KEY ({reason}) "
            f"(got '{settings.tls_cert}')"
        ) from None
    return context
