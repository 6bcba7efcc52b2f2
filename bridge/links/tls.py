"""TLS links: a TCP link whose stream is a TlsStream (Proto.SSL)."""

from __future__ import annotations

import trio
from OpenSSL import SSL

from ..net.resolve import Resolve, resolve
from ..net.tls import sni_name
from .link import Proto, Role
from .tcp import TcpLink, open_stream
from .tls_stream import TlsStream


async def connect_tls(host: str, port: int, context: SSL.Context, *, inbound_capacity: int,
                      resolver: Resolve = resolve, server_name: str | None = None,
                      alpn: tuple[str, ...] = ()) -> TcpLink:
    """Connect (ConnectError) and shake hands (HandshakeError); the caller
    bounds the time. SNI is ``server_name`` if given, else the host's name."""
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
    connection = SSL.Connection(context)
    connection.set_accept_state()
    return await _shake_hands(transport, connection, Role.SEED, inbound_capacity)


async def _shake_hands(transport: trio.SocketStream, connection: SSL.Connection, role: Role,
                       inbound_capacity: int) -> TcpLink:
    stream = TlsStream(transport, connection)
    try:
        await stream.do_handshake()
    except BaseException:
        transport.socket.close()
        raise
    return TcpLink(stream, transport, role=role, inbound_capacity=inbound_capacity,
                   proto=Proto.SSL)
