"""TLS links: a TCP link whose stream is a TlsStream (Proto.SSL).

The dialects import this module when a port starts, but pyOpenSSL (with
cryptography and its OpenSSL, several MiB resident) loads only with the
first TLS link: a port that never opens one never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ..net.resolve import Resolve, resolve
from .link import Proto, Role
from .tcp import TcpLink, open_stream

if TYPE_CHECKING:
    from OpenSSL import SSL


async def connect_tls(host: str, port: int, context: SSL.Context, *, inbound_capacity: int,
                      resolver: Resolve = resolve, server_name: str | None = None,
                      alpn: tuple[str, ...] = ()) -> TcpLink:
    """Connect (ConnectError) and shake hands (HandshakeError); the caller
    bounds the time. SNI is ``server_name`` if given, else the host's name."""
    from OpenSSL import SSL

    from ..net.tls import sni_name

    transport = await open_stream(host, port, resolver)
    connection = SSL.Connection(context)
    connection.set_connect_state()
    name = server_name.encode("idna") if server_name else sni_name(host)
    if name is not None:
        connection.set_tlsext_host_name(name)
    if alpn:
        connection.set_alpn_protos([protocol.encode() for protocol in alpn])
    return await _shake_hands(transport, connection, Role.CLIENT, inbound_capacity)


async def accept_tls(transport: trio.SocketStream, context: SSL.Context, *,
                     inbound_capacity: int) -> TcpLink:
    """A seed after its server-side handshake (HandshakeError if it fails)."""
    from OpenSSL import SSL

    connection = SSL.Connection(context)
    connection.set_accept_state()
    return await _shake_hands(transport, connection, Role.SEED, inbound_capacity)


async def _shake_hands(transport: trio.SocketStream, connection: SSL.Connection, role: Role,
                       inbound_capacity: int) -> TcpLink:
    from .tls_stream import TlsStream

    stream = TlsStream(transport, connection)
    try:
        await stream.do_handshake()
    except BaseException:
        transport.socket.close()
        raise
    return TcpLink(stream, transport, role=role, inbound_capacity=inbound_capacity,
                   proto=Proto.SSL)
