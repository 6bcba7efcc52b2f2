"""DTLS client links (DTLS 1.2, T3) on trio's DTLSEndpoint."""

from __future__ import annotations

import socket

import trio
from OpenSSL import SSL

from ..net.errors import HandshakeError, SendError
from ..net.resolve import Resolve, resolve
from ..net.tls import describe
from .inbound import Address, Inbound
from .link import Link, Proto, Role
from .sockets import bind, new_socket


class DtlsLink(Link):
    """One DTLS association: each send is one record, each record received
    one datagram for the host."""

    def __init__(self, endpoint: trio.DTLSEndpoint, channel: trio.DTLSChannel,
                 remote: Address, *, inbound_capacity: int) -> None:
        local = endpoint.socket.getsockname()
        super().__init__(role=Role.CLIENT, proto=Proto.DTLS, local=(local[0], local[1]),
                         remote=remote, fileno=endpoint.socket.fileno(),
                         inbound=Inbound(inbound_capacity, datagrams=True))
        self.endpoint = endpoint
        self.channel = channel

    async def receive_loop(self) -> None:
        assert self.inbound is not None
        try:
            while True:
                await self.inbound.put(await self.channel.receive(), self.remote)
        except trio.BrokenResourceError:
            self.inbound.end("reset")
        except trio.ClosedResourceError:
            self.inbound.end("closed")

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        try:
            await self.channel.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise SendError(f"DTLS send failed: {exc!r}") from None

    def _close_transport(self) -> None:
        self.channel.close()
        self.endpoint.close()


async def connect_dtls(host: str, port: int, context: SSL.Context, *, bind_host: str,
                       local_port: int, inbound_capacity: int,
                       resolver: Resolve = resolve) -> DtlsLink:
    family, remote = await resolver(host, port, socket.SOCK_DGRAM)
    sock = new_socket(family, socket.SOCK_DGRAM)
    await bind(sock, (bind_host if family == socket.AF_INET else "::", local_port))
    endpoint = trio.DTLSEndpoint(sock)
    try:
        channel = endpoint.connect((remote[0], remote[1]), context)
        try:
            await channel.do_handshake()
        except (trio.BrokenResourceError, SSL.Error) as exc:
            raise HandshakeError(f"DTLS handshake: {describe(exc)}") from None
    except BaseException:
        endpoint.close()
        raise
    return DtlsLink(endpoint, channel, (remote[0], remote[1]), inbound_capacity=inbound_capacity)
