"""What every dialect shares: the link table, the pumps, transparent mode.

A dialect subclasses ``LinkDialect`` and adds its command table and reply
words. Link data reaches the host through one pump per link; the pump takes
data and queues its frame while holding the port's output lock, and every
host-mode switch happens under the same lock, so no frame from before a
switch is written after the switch's reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio
from OpenSSL import SSL

from ..at.events import (
    CommandHead,
    CommandLine,
    EscapeSeen,
    LineTooLong,
    Payload,
    TransparentData,
)
from ..at.framer import Framer
from ..links.errors import SendError
from ..links.inbound import Address
from ..links.link import Link
from ..links.table import LinkTable
from ..links.tcp import RECEIVE_CHUNK, TcpLink, TcpServerLink
from ..links.tls import accept_tls
from ..log import traced
from ..net.certs import local_server_certificate
from ..net.tls import ClientCertificates, HandshakeError, Psk, client_context, server_context

if TYPE_CHECKING:
    from ..port import Port


CLIENT_CONTEXTS = 32  # TLS client contexts a port keeps for reuse


@dataclass(frozen=True)
class TransparentLinkLost:
    """The link in transparent mode ended; the interpreter must leave the mode."""

    link: Link


class LinkDialect:
    name: str
    framer: Framer

    def __init__(self, port: Port, link_ids: range) -> None:
        self.port = port
        self.links = LinkTable(link_ids)
        self.transparent: Link | None = None
        self._client_contexts: dict[tuple[str, Psk | None, bool], SSL.Context] = {}

    # -- what a dialect defines ----------------------------------------------

    async def on_open(self) -> None:
        """Called once the port's device is open (CIP prints ``ready``)."""

    async def on_command_line(self, line: bytes) -> None:
        raise NotImplementedError

    async def on_command_head(self, line: bytes) -> None:
        raise NotImplementedError

    async def on_payload(self, data: bytes) -> None:
        raise NotImplementedError

    async def on_line_too_long(self) -> None:
        raise NotImplementedError

    async def on_escape(self) -> None:
        raise NotImplementedError

    def forwards(self, link: Link) -> bool:
        """Whether data received on ``link`` goes to the host by itself now."""
        raise NotImplementedError

    def data_frame(self, link: Link, data: bytes, source: Address | None) -> bytes:
        """Received data as the host sees it outside transparent mode."""
        raise NotImplementedError

    frame_limit: int

    def ended_frame(self, link: Link) -> bytes:
        """What the host is told once a link's peer has gone and its data is out."""
        raise NotImplementedError

    #: whether a link whose peer is gone is freed at once (CIP, C8) or keeps
    #: its id until the host deletes it (SKT, S7)
    frees_ended_links: bool

    # -- events from the framer ------------------------------------------------

    async def handle(self, event: object) -> None:
        match event:
            case CommandLine(line):
                await self.on_command_line(line)
            case CommandHead(line):
                await self.on_command_head(line)
            case Payload(data):
                await self.on_payload(data)
            case TransparentData(data):
                await self._transparent_data(data)
            case EscapeSeen():
                await self.on_escape()
            case LineTooLong():
                self.port.complain("line_too_long", limit=self.framer.line_limit)
                await self.on_line_too_long()

    async def handle_notice(self, notice: object) -> None:
        if isinstance(notice, TransparentLinkLost) and notice.link is self.transparent:
            await self._transparent_link_lost(notice.link)

    # -- links -------------------------------------------------------------------

    def add_link(self, link: Link, link_id: int) -> None:
        self.links.add(link, link_id)
        self.port.log.info("link_opened", con_id=link_id, role=link.role, proto=link.proto,
                           local=link.local, remote=link.remote)
        self.port.start_link(link, self.pump)

    def close_link(self, link: Link) -> None:
        if isinstance(link, TcpServerLink):
            for seed in link.seeds:
                self.close_link(seed)
        link.close()
        self.links.remove(link)
        self.port.log.info("link_closed", con_id=link.con_id, role=link.role)

    def close_all(self) -> None:
        for link in self.links:
            self.close_link(link)

    async def pump(self, link: Link) -> None:
        inbound = link.inbound
        assert inbound is not None
        told = False

        def has_news() -> bool:
            return self.forwards(link) and (bool(inbound) or
                                            (inbound.ended is not None and not told))

        while True:
            await inbound.wait_until(has_news)
            lost_in_transparent = False
            async with self.port.output_lock:
                if not has_news() or link.closed:
                    continue
                if inbound:
                    transparent = self.transparent is link
                    data, source = inbound.take(RECEIVE_CHUNK if transparent
                                                else self.frame_limit)
                    self.moved("link_rx", link, data)
                    await self.port.send(data if transparent
                                         else self.data_frame(link, data, source))
                    self.port.counters.frames_out += not transparent
                    continue
                told = True
                lost_in_transparent = self.transparent is link
                self.port.log.info("peer_gone", con_id=link.con_id, how=inbound.ended)
                await self.port.send(self.ended_frame(link))
                if self.frees_ended_links:
                    self.links.remove(link)
            if lost_in_transparent:
                await self.port.notify(TransparentLinkLost(link))
            if self.frees_ended_links:
                link.close()  # ends this task too

    # -- transparent (SKTTT) and passthrough (CIPMODE=1) mode ------------------------

    async def enter_transparent(self, link: Link, reply: bytes) -> None:
        async with self.port.output_lock:
            await self.port.send(reply)
            self.transparent = link
            self.framer.enter_transparent(trio.current_time())
        self.port.log.info("transparent_on", con_id=link.con_id)
        self.wake_pumps()

    async def leave_transparent(self, notice: bytes) -> None:
        async with self.port.output_lock:
            link, self.transparent = self.transparent, None
            self.on_transparent_off()
            await self.port.send(notice)
        self.port.log.info("transparent_off", con_id=link.con_id if link else None)
        self.wake_pumps()

    def on_transparent_off(self) -> None:
        """Host-mode changes that come with leaving (SKT: auto-receive off)."""

    async def send_transparent(self, link: Link, data: bytes) -> None:
        await link.send(data)

    async def _transparent_data(self, data: bytes) -> None:
        link = self.transparent
        if link is None:
            return  # the mode already ended (its link went away)
        try:
            await self.send_transparent(link, data)
        except SendError as exc:
            self.port.log.warning("transparent_send_failed", con_id=link.con_id, why=str(exc))
            await self._transparent_link_lost(link)
            return
        self.moved("link_tx", link, data)

    async def _transparent_link_lost(self, link: Link) -> None:
        dropped = self.framer.leave_transparent()
        self.port.log.info("transparent_link_lost", con_id=link.con_id,
                           dropped_uart_bytes=dropped)
        await self.leave_transparent(self.transparent_lost_notice)

    transparent_lost_notice: bytes

    # -- TLS contexts from the port's settings (T1, T2) ----------------------------

    def client_tls(self, host: str, *, psk: Psk | None = None,
                   datagram: bool = False) -> SSL.Context:
        """One context per (host, key, kind), shared by the links that use it:
        loading the system CA store costs about 4 ms and 1 MiB per context."""
        key = (host, psk, datagram)
        context = self._client_contexts.get(key)
        if context is None:
            settings = self.port.settings
            certificates = ClientCertificates(settings.tls_verify, settings.tls_ca_file,
                                              settings.tls_cert_file, settings.tls_key_file)
            context = client_context(host, datagram=datagram, certificates=certificates,
                                     psk=psk)
            if len(self._client_contexts) >= CLIENT_CONTEXTS:
                self._client_contexts.clear()
            self._client_contexts[key] = context
        return context

    def server_tls(self, *, psk: Psk | None = None, datagram: bool = False) -> SSL.Context:
        settings = self.port.settings
        cert_file, key_file = settings.tls_server_cert_file, settings.tls_server_key_file
        if psk is None and cert_file is None:
            generated = local_server_certificate(self.port.state_dir)
            cert_file, key_file = str(generated[0]), str(generated[1])
        return server_context(cert_file or "", key_file or cert_file or "", datagram=datagram,
                              psk=psk)

    async def accept_tls_peer(self, server: TcpServerLink, stream: trio.SocketStream,
                              context: SSL.Context) -> TcpLink | None:
        """An accepted peer after its handshake, or None (logged, closed) if
        it fails or takes longer than tls_handshake_timeout."""
        settings = self.port.settings
        try:
            with trio.fail_after(settings.tls_handshake_timeout):
                return await accept_tls(stream, context, inbound_capacity=settings.link_buffer)
        except (HandshakeError, trio.TooSlowError) as exc:
            self.port.log.warning("tls_peer_failed", con_id=server.con_id,
                                  why=str(exc) or "handshake timeout")
            stream.socket.close()
            return None

    def wake_pumps(self) -> None:
        for link in self.links:
            for each in [link, *getattr(link, "seeds", ())]:
                if each.inbound is not None:
                    each.inbound.wake()

    def moved(self, what: str, link: Link, data: bytes) -> None:
        """Account link traffic ("link_rx" / "link_tx"), traced when asked."""
        counters = self.port.counters
        if what == "link_rx":
            link.bytes_in += len(data)
            counters.link_in += len(data)
        else:
            link.bytes_out += len(data)
            counters.link_out += len(data)
        if self.port.trace:
            self.port.log.debug(what, con_id=link.con_id, **traced(data))
