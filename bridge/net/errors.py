"""Why opening or using a link or a network service failed, in terms a dialect
maps to its replies."""


class LinkError(Exception):
    """Base of every link failure; the message says why, for the log."""


class ResolveError(LinkError):
    """The host name did not resolve."""


class SocketError(LinkError):
    """The socket could not be created or configured."""


class BindError(LinkError):
    """The local address or port could not be bound (in use, not ours)."""

    def __init__(self, why: str, errno: int | None = None) -> None:
        super().__init__(why)
        self.errno = errno


class ListenError(LinkError):
    """The bound socket could not listen."""


class ConnectError(LinkError):
    """The peer refused, did not answer in time, or the route failed."""


class SendError(LinkError):
    """The link could not take the bytes (closed, reset, unreachable)."""


class TlsSetupError(LinkError):
    """A certificate, key or CA file could not be used (or made)."""


class CertificateFileError(TlsSetupError):
    """The certificate (chain) file could not be loaded."""


class KeyFileError(TlsSetupError):
    """The private key could not be loaded or does not match the certificate."""


class HandshakeError(LinkError):
    """The handshake failed: verification, wrong key, wrong protocol, EOF."""
