"""UDP links: a client with a default peer, or a server bound to a port."""

from __future__ import annotations

import socket

import trio

from ..net.errors import SendError
from ..net.resolve import Resolve, resolve
from .inbound import Address, Inbound
from .link import Link, Proto, Role
from .sockets import bind, new_socket

MAX_DATAGRAM = 65535


class UdpLink(Link):
    """Receives datagrams from anyone; sends to ``dest`` or the default peer.

    With no peer yet, the first sender becomes it. After that the peer
    changes to a new sender ``peer_changes`` more times (None: always, as a
    server does, so a reply needs no address).
    """

    def __init__(self, sock: trio.socket.SocketType, *, role: Role, peer: Address | None,
                 inbound_capacity: int, peer_changes: int | None = 0) -> None:
        local = sock.getsockname()
        super().__init__(role=role, proto=Proto.UDP, local=(local[0], local[1]), remote=peer,
                         fileno=sock.fileno(),
                         inbound=Inbound(inbound_capacity, datagrams=True))
        self.sock = sock
        self.peer_changes = peer_changes

    async def receive_loop(self) -> None:
        assert self.inbound is not None
        while True:
            try:
                data, source = await self.sock.recvfrom(MAX_DATAGRAM)
            except ConnectionRefusedError:
                continue  # an ICMP error for an earlier send; the link lives on
            except (OSError, trio.ClosedResourceError):
                self.inbound.end("reset")
                return
            source = (source[0], source[1])
            if source != self.remote and (self.remote is None or self.peer_changes != 0):
                self.remote = source
                if self.peer_changes:
                    self.peer_changes -= 1
            await self.inbound.put(data, source)

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        target = dest or self.remote
        if target is None:
            raise SendError("no destination: nothing has been received yet")
        try:
            await self.sock.sendto(data, target)
        except (OSError, trio.ClosedResourceError) as exc:
            raise SendError(f"sendto {target}: {exc}") from None

    def _close_transport(self) -> None:
        self.sock.close()


async def open_udp(*, role: Role, bind_host: str, local_port: int,
                   peer: tuple[str, int] | None, inbound_capacity: int,
                   resolver: Resolve = resolve, peer_changes: int | None = 0) -> UdpLink:
    """A UDP socket bound to ``local_port`` (0: any) with an optional peer."""
    family = socket.AF_INET
    peer_addr = None
    if peer is not None:
        family, peer_addr = await resolver(peer[0], peer[1], socket.SOCK_DGRAM)
        if family == socket.AF_INET6 and bind_host == "0.0.0.0":
            bind_host = "::"
    _, bind_addr = await resolve(bind_host, local_port, socket.SOCK_DGRAM)
    sock = new_socket(family, socket.SOCK_DGRAM)
    await bind(sock, bind_addr)
    return UdpLink(sock, role=role, peer=(peer_addr[0], peer_addr[1]) if peer_addr else None,
                   inbound_capacity=inbound_capacity, peer_changes=peer_changes)
