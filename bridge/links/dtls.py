"""DTLS links (DTLS 1.2, T3) on trio's DTLSEndpoint: clients, and servers
that hold one peer at a time (the DTLS form of C6)."""

from __future__ import annotations

import math
import socket
from collections.abc import Awaitable, Callable

import trio
from OpenSSL import SSL

from ..net.errors import HandshakeError, SendError
from ..net.resolve import Resolve, resolve
from ..net.tls import describe
from .inbound import Address, Inbound
from .link import Link, Proto, Role, ServerLink
from .sockets import bind, new_socket

#: datagrams trio queues for one association before it drops them: room for
#: a burst while the receive loop waits for the host (trio's default is 10)
ASSOCIATION_QUEUE = 64


def _addr(sockaddr: tuple) -> Address:
    return sockaddr[0], sockaddr[1]


class DtlsLink(Link):
    """One DTLS association: each send is one record, each record received
    one datagram for the host. A client owns its endpoint; a seed shares its
    server's, and counts as gone after ``idle_timeout`` seconds of silence."""

    def __init__(self, channel: trio.DTLSChannel, *, role: Role, inbound_capacity: int,
                 idle_timeout: float = math.inf) -> None:
        sock = channel.endpoint.socket
        super().__init__(role=role, proto=Proto.DTLS, local=_addr(sock.getsockname()),
                         remote=_addr(channel.peer_address), fileno=sock.fileno(),
                         inbound=Inbound(inbound_capacity, datagrams=True))
        self.channel = channel
        self.idle_timeout = idle_timeout
        self.released = trio.Event()  # set once closed: a server may drop the association

    async def receive_loop(self) -> None:
        assert self.inbound is not None
        while (data := await self._next_datagram()) is not None:
            await self.inbound.put(data, self.remote)

    async def _next_datagram(self) -> bytes | None:
        """The peer's next datagram, or None once it is gone (``inbound.ended``
        says how). Waiting for the host does not count as silence, nor do
        datagrams that are not the peer's."""
        assert self.inbound is not None
        with trio.move_on_after(self.idle_timeout):
            while True:
                try:
                    return await self.channel.receive()
                except (SSL.ZeroReturnError, trio.ClosedResourceError):
                    self.inbound.end("closed")  # the peer's close_notify, or closed here
                    return None
                except trio.BrokenResourceError:
                    self.inbound.end("reset")  # a new handshake from the peer's address
                    return None
                except SSL.Error as exc:
                    if not exc.args or not exc.args[0]:
                        # no reason from OpenSSL: its BIO refused the datagram (an
                        # empty one, which anyone can forge, does that), not the peer
                        continue
                    self.inbound.end("reset")  # a fatal alert: forged records are dropped
                    return None
        self.inbound.end("idle")
        return None

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        try:
            await self.channel.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, SSL.Error) as exc:
            raise SendError(f"DTLS send failed: {exc!r}") from None

    def _close_transport(self) -> None:
        self.channel.close()
        if self.role is Role.CLIENT:
            self.channel.endpoint.close()
        self.released.set()


async def connect_dtls(host: str, port: int, context: SSL.Context, *, bind_host: str,
                       local_port: int, inbound_capacity: int,
                       resolver: Resolve = resolve) -> DtlsLink:
    family, remote = await resolver(host, port, socket.SOCK_DGRAM)
    sock = new_socket(family, socket.SOCK_DGRAM)
    await bind(sock, (bind_host if family == socket.AF_INET else "::", local_port))
    endpoint = trio.DTLSEndpoint(sock, incoming_packets_buffer=ASSOCIATION_QUEUE)
    try:
        channel = endpoint.connect(_addr(remote), context)
        try:
            await channel.do_handshake()
        except (trio.BrokenResourceError, SSL.Error) as exc:
            raise HandshakeError(f"DTLS handshake: {describe(exc)}") from None
    except BaseException:
        endpoint.close()
        raise
    return DtlsLink(channel, role=Role.CLIENT, inbound_capacity=inbound_capacity)


class DtlsServerLink(ServerLink):
    """DTLS served on a bound UDP socket, one peer at a time.

    A client is admitted (made the seed and handed to ``on_accept``) once its
    handshake completes. While a peer is held, a new client is turned away
    before its handshake, so it never completes; a handshake that fails or
    takes longer than ``handshake_timeout`` is dropped, and trio drops
    datagrams that belong to no association: none of them touches the held
    peer. The peer goes on close_notify or after ``idle_timeout`` seconds of
    silence; once its link is closed, the next client may come.
    """

    def __init__(self, endpoint: trio.DTLSEndpoint, context: SSL.Context, *,
                 handshake_timeout: float, idle_timeout: float, inbound_capacity: int) -> None:
        sock = endpoint.socket
        super().__init__(proto=Proto.DTLS, local=_addr(sock.getsockname()),
                         fileno=sock.fileno())
        self.endpoint = endpoint
        self.context = context
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        self.inbound_capacity = inbound_capacity
        #: awaited with each admitted peer, already the server's seed
        self.on_accept: Callable[[DtlsLink], Awaitable[None]] | None = None
        #: told of each client turned away, and why (for the log)
        self.on_refuse: Callable[[Address, str], None] = lambda address, why: None

    async def receive_loop(self) -> None:
        await self.endpoint.serve(self.context, self._serve_client)

    async def _serve_client(self, channel: trio.DTLSChannel) -> None:
        """One task per client past the cookie exchange. trio closes the
        channel when this returns, so an admitted peer's task waits for the
        peer's link to be closed."""
        address = _addr(channel.peer_address)
        if self.peer is not None:
            return self.on_refuse(address, "link busy")
        try:
            with trio.fail_after(self.handshake_timeout):
                await channel.do_handshake()
        except trio.TooSlowError:
            # trio retries past handshake errors (a stray datagram may cause
            # one), so a wrong key or certificate ends here
            return self.on_refuse(address, "handshake timeout")
        except (trio.BrokenResourceError, trio.ClosedResourceError, SSL.Error) as exc:
            return self.on_refuse(address, f"handshake: {describe(exc)}")
        if self.peer is not None:
            return self.on_refuse(address, "link busy")  # another client finished first
        peer = DtlsLink(channel, role=Role.SEED, inbound_capacity=self.inbound_capacity,
                        idle_timeout=self.idle_timeout)
        self.seeds = [peer]
        assert self.on_accept is not None
        await self.on_accept(peer)
        await peer.released.wait()

    def _close_transport(self) -> None:
        self.endpoint.close()


async def listen_dtls(bind_host: str, port: int, context: SSL.Context, *,
                      handshake_timeout: float, idle_timeout: float,
                      inbound_capacity: int) -> DtlsServerLink:
    """A DTLS server link bound to bind_host:port (BindError if it cannot be)."""
    family, sockaddr = await resolve(bind_host, port, socket.SOCK_DGRAM)
    sock = new_socket(family, socket.SOCK_DGRAM)
    await bind(sock, sockaddr)
    endpoint = trio.DTLSEndpoint(sock, incoming_packets_buffer=ASSOCIATION_QUEUE)
    return DtlsServerLink(endpoint, context, handshake_timeout=handshake_timeout,
                          idle_timeout=idle_timeout, inbound_capacity=inbound_capacity)
