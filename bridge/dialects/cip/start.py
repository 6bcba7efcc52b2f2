"""AT+CIPSTART (NOTES C4-C6, C15, T1-T3): opening every kind of CIP link.

TCP and TLS clients, UDP and DTLS links, and TCP, TLS or DTLS server links
that hold one peer at a time.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import trio

from ...at.commands import Outcome
from ...links.inbound import Address
from ...links.link import Link, Proto, Role, ServerLink
from ...links.tcp import TcpLink, connect_tcp, listen_tcp
from ...links.tls import connect_tls
from ...links.udp import open_udp
from ...net.errors import BindError, LinkError
from ...net.psk import Psk
from ...net.services import NetworkServices
from ..api import PortServices
from ..links import Links, ServerId
from ..tls import TlsContexts
from . import replies
from .args import DTLS, TLS, UDP, Start, bad
from .psk import PskTable

if TYPE_CHECKING:
    from OpenSSL import SSL

Notice = Callable[[bytes, int], bytes]
Server = TypeVar("Server", bound=ServerLink)


class LinkOpener:
    def __init__(self, port: PortServices, links: Links, tls: TlsContexts, psks: PskTable,
                 services: NetworkServices, notice: Notice) -> None:
        self.port = port
        self.links = links
        self.tls = tls
        self.psks = psks
        self.services = services
        self.notice = notice  # `[<id>,]CONNECT` in the host's CIPMUX mode
        self.admission = ServerId()  # C6: one peer at a time, on the server's id

    async def start(self, request: Start) -> Outcome:
        if self.links.get(request.link_id) is not None:
            raise bad(f"link {request.link_id} is busy")
        psk = self.psks.for_link(request.link_id)
        try:
            if request.listen:
                if request.kind == DTLS:
                    return await self._open_dtls_server(
                        request, self.tls.server(psk=psk, datagram=True))
                context = self.tls.server(psk=psk) if request.kind == TLS else None
                return await self._open_server(request, context)
            with trio.fail_after(self.port.settings.connect_timeout):
                link = await self._connect(request, psk)
        except trio.TooSlowError:
            self.port.log.warning("connect_timeout", host=request.host, remote_port=request.port)
            return Outcome(replies.ERROR)
        except LinkError as exc:
            self.port.log.warning("connect_failed", host=request.host, remote_port=request.port,
                                  kind=request.kind, why=str(exc))
            return Outcome(replies.ERROR)
        self.links.add(link, request.link_id)
        return Outcome(self.notice(b"CONNECT", request.link_id) + replies.OK)  # C5

    async def _connect(self, request: Start, psk: Psk | None) -> Link:
        settings = self.port.settings
        resolver = self.services.resolver.resolve
        capacity = settings.link_buffer
        if request.kind in (UDP, DTLS):
            bind_host = request.local_ip or settings.bind_address
            if request.kind == UDP:
                return await open_udp(role=Role.CLIENT, bind_host=bind_host,
                                      local_port=request.local_port,
                                      peer=(request.host, request.port),
                                      inbound_capacity=capacity, resolver=resolver)
            from ...links.dtls import connect_dtls  # pyOpenSSL: with the first DTLS link

            context = self.tls.client(request.host, psk=psk, datagram=True)
            return await connect_dtls(request.host, request.port, context, bind_host=bind_host,
                                      local_port=request.local_port,
                                      inbound_capacity=capacity, resolver=resolver)
        if request.kind == TLS:
            context = self.tls.client(request.host, psk=psk)
            link = await connect_tls(request.host, request.port, context,
                                     inbound_capacity=capacity, resolver=resolver)
        else:
            link = await connect_tcp(request.host, request.port, inbound_capacity=capacity,
                                     resolver=resolver)
        if request.keepalive:
            link.keep_alive(request.keepalive)  # C4
        return link

    # -- server links (C6) ---------------------------------------------------------------

    async def _listen(self, request: Start, listen: Callable[[str], Awaitable[Server]]) -> Server:
        """Listen on localip if it is ours, else on the configured address."""
        assert request.local_ip is not None
        try:
            return await listen(request.local_ip)
        except BindError as exc:
            fallback = self.port.settings.bind_address
            if exc.errno != errno.EADDRNOTAVAIL or fallback == request.local_ip:
                raise
            self.port.log.warning("server_address_not_ours", localip=request.local_ip,
                                  listening_on=fallback)
            return await listen(fallback)

    async def _open_server(self, request: Start, context: object | None) -> Outcome:
        proto = Proto.TCP if context is None else Proto.SSL
        server = await self._listen(
            request, lambda host: listen_tcp(host, request.local_port, proto=proto))

        def free() -> bool:
            return self.admission.choose(self.links, server) is not None

        async def admit(peer: TcpLink) -> None:
            if not free():  # another peer's handshake finished first
                peer.close()
                return
            await self._admit(server, peer)

        server.on_accept = self.tls.acceptor(server, context, admit, wanted=free)
        self.links.add(server, request.link_id)
        return Outcome(replies.OK)

    async def _open_dtls_server(self, request: Start, context: SSL.Context) -> Outcome:
        """The link admits a peer once its handshake completes and turns the
        others away itself (ServerId's rule, kept before the handshake); the
        peer is announced as a TCP server's is."""
        from ...links.dtls import listen_dtls  # pyOpenSSL: with the first DTLS link

        settings = self.port.settings
        server = await self._listen(request, lambda host: listen_dtls(
            host, request.local_port, context, handshake_timeout=settings.tls_handshake_timeout,
            idle_timeout=settings.dtls_idle_timeout, inbound_capacity=settings.link_buffer))

        def refused(address: Address, why: str) -> None:
            self.port.log.info("peer_refused", con_id=server.con_id, remote=address, reason=why)

        server.on_accept = lambda peer: self._admit(server, peer)
        server.on_refuse = refused
        self.links.add(server, request.link_id)
        return Outcome(replies.OK)

    async def _admit(self, server: ServerLink, peer: Link) -> None:
        peer.con_id = server.con_id
        server.seeds = [peer]
        async with self.port.output.frame_slot():
            await self.port.output.send(self.notice(b"CONNECT", server.con_id))
        self.port.log.info("peer_connected", con_id=server.con_id, remote=peer.remote)
        self.links.start_peer(peer)
