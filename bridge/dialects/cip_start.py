"""AT+CIPSTART (NOTES C4-C6, C15, T1-T3): opening every kind of CIP link.

TCP and TLS clients, UDP and DTLS links, and TCP or TLS server links that
hold one peer at a time.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

import trio
from OpenSSL.SSL import Context as TlsContext

from ..at import cip_replies as replies
from ..at.cip_args import DTLS, TLS, UDP, Start, bad
from ..links.dtls import connect_dtls
from ..links.errors import BindError, LinkError
from ..links.link import Link
from ..links.tcp import TcpLink, TcpServerLink, connect_tcp, listen_tcp
from ..links.tls import connect_tls
from ..links.udp import open_udp

if TYPE_CHECKING:
    from .cip import CipDialect

KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 1, 3  # C4


class LinkOpener:
    def __init__(self, dialect: CipDialect) -> None:
        self.dialect = dialect
        self.port = dialect.port

    async def start(self, request: Start) -> bytes:
        if self.dialect.links.get(request.link_id) is not None:
            raise bad(f"link {request.link_id} is busy")
        psk = self.dialect.psks.for_link(request.link_id)
        try:
            if request.listen:
                assert request.local_ip is not None
                context = self.dialect.server_tls(psk=psk) if request.kind == TLS else None
                return await self._open_server(request, context)
            with trio.fail_after(self.port.settings.connect_timeout):
                link = await self._connect(request, psk)
        except trio.TooSlowError:
            self.port.log.warning("connect_timeout", host=request.host, remote_port=request.port)
            return replies.ERROR
        except LinkError as exc:
            self.port.log.warning("connect_failed", host=request.host, remote_port=request.port,
                                  kind=request.kind, why=str(exc))
            return replies.ERROR
        self.dialect.add_link(link, request.link_id)
        return self.dialect.notice(b"CONNECT", request.link_id) + replies.OK  # C5

    async def _connect(self, request: Start, psk: object) -> Link:
        settings = self.port.settings
        resolver = self.dialect.services.resolver.resolve
        capacity = settings.link_buffer
        if request.kind in (UDP, DTLS):
            bind_host = request.local_ip or settings.bind_address
            if request.kind == UDP:
                return await open_udp(role="client", bind_host=bind_host,
                                      local_port=request.local_port,
                                      peer=(request.host, request.port),
                                      inbound_capacity=capacity, resolver=resolver)
            context = self.dialect.client_tls(request.host, psk=psk, datagram=True)
            return await connect_dtls(request.host, request.port, context, bind_host=bind_host,
                                      local_port=request.local_port,
                                      inbound_capacity=capacity, resolver=resolver)
        if request.kind == TLS:
            context = self.dialect.client_tls(request.host, psk=psk)
            link = await connect_tls(request.host, request.port, context,
                                     inbound_capacity=capacity, resolver=resolver)
        else:
            link = await connect_tcp(request.host, request.port, inbound_capacity=capacity,
                                     resolver=resolver)
        if request.keepalive:
            sock = link.socket_stream.socket
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, request.keepalive)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
        return link

    # -- server links (C6) ---------------------------------------------------------------

    async def _open_server(self, request: Start, context: TlsContext | None) -> bytes:
        """Listen on localip if it is ours, else on the configured address."""
        assert request.local_ip is not None
        try:
            server = await listen_tcp(request.local_ip, request.local_port)
        except BindError as exc:
            fallback = self.port.settings.bind_address
            if exc.errno != errno.EADDRNOTAVAIL or fallback == request.local_ip:
                raise
            self.port.log.warning("server_address_not_ours", localip=request.local_ip,
                                  listening_on=fallback)
            server = await listen_tcp(fallback, request.local_port)
        if context is not None:
            server.proto = "ssl"

        async def accept(stream: trio.SocketStream) -> None:
            if self._busy(server):
                return self._refuse(server, stream)
            if context is None:
                await self._admit(server, TcpLink(stream, stream, role="seed",
                                                  inbound_capacity=self.port.settings.link_buffer))
            else:
                assert server.pending is not None
                server.pending.start_soon(self._tls_peer, server, stream, context)

        server.on_accept = accept
        self.dialect.add_link(server, request.link_id)
        return replies.OK

    @staticmethod
    def _busy(server: TcpServerLink) -> bool:
        return any(not peer.closed for peer in server.seeds)

    def _refuse(self, server: TcpServerLink, stream: trio.SocketStream) -> None:
        self.port.log.info("peer_refused", con_id=server.con_id, reason="link busy")
        stream.socket.close()

    async def _tls_peer(self, server: TcpServerLink, stream: trio.SocketStream,
                        context: TlsContext) -> None:
        peer = await self.dialect.accept_tls_peer(server, stream, context)
        if peer is None:
            return
        if self._busy(server):
            peer.close()
            return
        await self._admit(server, peer)

    async def _admit(self, server: TcpServerLink, peer: TcpLink) -> None:
        peer.con_id = server.con_id
        server.seeds = [peer]
        await self.port.send(self.dialect.notice(b"CONNECT", server.con_id))
        self.port.log.info("peer_connected", con_id=server.con_id, remote=peer.remote)
        self.port.start_link(peer, self.dialect.pump)
