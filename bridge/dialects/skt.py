"""The SKT dialect (skt-at-commands.rst, resolved by NOTES S1-S13).

A table of commands, each a signature of checked arguments and one small
handler that returns the reply bytes. Link data reaches the host through one
pump per link, whose output depends on the host's mode: kept for AT+SKTREAD,
framed as +SKTREAD (auto-receive, S8) or raw (transparent, S9).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio
from OpenSSL.SSL import Context as TlsContext

from ..at import skt_replies as replies
from ..at.args import (
    ArgError,
    Param,
    Signature,
    host,
    int_in,
    integer,
    ip_address,
    parse_command,
    port_number,
    split_args,
)
from ..at.framer import SKT_ESCAPE, Framer
from ..links.errors import (
    BindError,
    ConnectError,
    LinkError,
    ListenError,
    ResolveError,
    SendError,
)
from ..links.inbound import Address
from ..links.link import Link
from ..links.tcp import TcpLink, TcpServerLink, connect_tcp, listen_tcp
from ..links.tls import connect_tls
from ..links.udp import open_udp
from ..net.tls import CertificateFileError, HandshakeError, KeyFileError, TlsSetupError
from .base import LinkDialect

if TYPE_CHECKING:
    from ..port import Port

SEND_PREFIX = b"AT+SKTSEND="
TCP, UDP, SSL = 0, 1, 2
PROTOS = {TCP: "tcp", UDP: "udp", SSL: "ssl"}


def server_error(mode: int, exc: LinkError) -> int:
    """SKTSERVER's numbers for a failure to open (S12 for mode 2)."""
    if mode == SSL:
        return {CertificateFileError: 18, KeyFileError: 20, TlsSetupError: 24}.get(
            type(exc), 15)
    return {BindError: 7, ListenError: 8}.get(type(exc), 5)


def client_error(mode: int, exc: LinkError) -> int:
    """SKTCLIENT's numbers for a failure to open (S12 for mode 2)."""
    if isinstance(exc, ResolveError):
        return 2
    if mode == SSL:
        return {HandshakeError: 21, ConnectError: 18}.get(type(exc), 20)
    return {ConnectError: 9, BindError: 12}.get(type(exc), 7)


@dataclass(frozen=True)
class SktCommand:
    signature: Signature | None  # None: the command takes no arguments
    #: returns the reply, or None when it already sent it (under the output lock)
    handler: Callable[..., Awaitable[bytes | None]]


class SktDialect(LinkDialect):
    name = "skt"
    transparent_lost_notice = replies.TT_EXIT  # S9
    frees_ended_links = False  # S7

    def __init__(self, port: Port) -> None:
        super().__init__(port, range(1, 10))  # NOTES S2
        settings = port.settings
        self.payload_limit = self.frame_limit = settings.payload_limit
        self.framer = Framer(line_limit=settings.line_limit, guard=settings.guard_ms / 1000,
                             escape=SKT_ESCAPE, colon_commands=(SEND_PREFIX,))
        self.auto_receive = False
        self._pending_send: list[str] | None = None
        self.commands: dict[str, SktCommand] = {
            "SKTSERVER": SktCommand(Signature((Param(int_in(0, 2), 14), Param(port_number, 2))),
                                    self.server),
            "SKTCLIENT": SktCommand(Signature((Param(int_in(0, 2), 17), Param(host, 6),
                                               Param(port_number, 3)),
                                              (Param(port_number, 11),)),
                                    self.client),
            "SKTDEL": SktCommand(Signature((Param(int_in(0, 9), 1),)), self.delete),
            "SKTTT": SktCommand(Signature((Param(int_in(1, 1), 1),)), self.transparent_mode),
            "SKTREAD": SktCommand(Signature((Param(integer, 3),
                                             Param(int_in(1, self.payload_limit), 2))),
                                  self.read),
            "SKTRECVCFG": SktCommand(Signature((Param(int_in(0, 1), 1),)), self.receive_config),
            "SKTSTATE": SktCommand(None, self.state),
        }

    # -- events from the framer --------------------------------------------

    async def on_line_too_long(self) -> None:
        """NOTES G1/S13: SKT stays silent."""

    async def on_escape(self) -> None:
        await self.leave_transparent(replies.TT_EXIT)  # S9

    def on_transparent_off(self) -> None:
        self.auto_receive = False  # S9 (firmware)

    async def on_command_line(self, line: bytes) -> None:
        command = parse_command(line)
        if command is not None and command.extended and command.name == "SKTSEND":
            # framed as a line: no colon, so no data (G7: nothing to consume)
            await self.port.send(replies.error("SKTSEND", 1))
            return
        entry = self.commands.get(command.name) if command and command.extended else None
        if command is None or entry is None or (entry.signature is None and command.op):
            # NOTES S13: the firmware answers nothing to what it does not know
            self.port.complain("unknown_command", line=line[:80])
            return
        try:
            if entry.signature is None:
                values = []
            elif command.op != "=":
                raise ArgError(entry.signature.count_error, f"form AT+{command.name}{command.op}")
            else:
                values = entry.signature.bind(split_args(command.args))
        except ArgError as exc:
            self.port.complain("bad_arguments", command=command.name, why=str(exc))
            await self.port.send(replies.error(command.name, exc.code))
            return
        reply = await entry.handler(*values)
        if reply is not None:
            await self.port.send(reply)

    # -- AT+SKTSERVER / AT+SKTCLIENT (NOTES S3, S4) ---------------------------

    async def server(self, mode: int, local_port: int) -> bytes:
        name = "SKTSERVER"
        proto = PROTOS[mode]
        if any(link.role == "server" and link.proto == proto and link.local[1] == local_port
               for link in self.links):
            return replies.error(name, 12 if mode == UDP else 9)
        con_id = self.links.free_id()
        if con_id is None:
            return replies.error(name, 3)
        bind = self.port.settings.bind_address
        try:
            if mode == UDP:
                link: Link = await open_udp(role="server", bind_host=bind, local_port=local_port,
                                            peer=None,
                                            inbound_capacity=self.port.settings.link_buffer)
            else:
                context = self.server_tls() if mode == SSL else None
                link = await listen_tcp(bind, local_port)
                link.proto = proto
                link.on_accept = self._seed_acceptor(link, context)
        except LinkError as exc:
            self.port.log.warning("server_failed", local_port=local_port, why=str(exc))
            return replies.error(name, server_error(mode, exc))
        self.add_link(link, con_id)
        return replies.opened(name, con_id)

    async def client(self, mode: int, remote_host: str, remote_port: int,
                     local_port: int = 0) -> bytes:
        name = "SKTCLIENT"
        con_id = self.links.free_id()
        if con_id is None:
            return replies.error(name, 4)
        settings = self.port.settings
        try:
            with trio.fail_after(settings.connect_timeout):
                if mode == TCP:
                    link: Link = await connect_tcp(remote_host, remote_port,
                                                   inbound_capacity=settings.link_buffer)
                elif mode == SSL:
                    link = await connect_tls(remote_host, remote_port,
                                             self.client_tls(remote_host),
                                             inbound_capacity=settings.link_buffer)
                else:
                    link = await open_udp(role="client", bind_host=settings.bind_address,
                                          local_port=local_port,
                                          peer=(remote_host, remote_port),
                                          inbound_capacity=settings.link_buffer)
        except trio.TooSlowError:
            self.port.log.warning("connect_timeout", host=remote_host, remote_port=remote_port)
            return replies.error(name, 18 if mode == SSL else 9)
        except LinkError as exc:
            self.port.log.warning("client_failed", host=remote_host, remote_port=remote_port,
                                  why=str(exc))
            return replies.error(name, client_error(mode, exc))
        self.add_link(link, con_id)
        return replies.opened(name, con_id)

    def _seed_acceptor(self, server: TcpServerLink, context: TlsContext | None
                       ) -> Callable[[trio.SocketStream], Awaitable[None]]:
        async def accept(stream: trio.SocketStream) -> None:
            if context is None:
                seed = TcpLink(stream, stream, role="seed",
                               inbound_capacity=self.port.settings.link_buffer)
                await self._admit_seed(server, seed)
            else:  # S12: announced after its handshake, which must not hold up accept
                assert server.pending is not None
                server.pending.start_soon(self._tls_seed, server, stream, context)

        return accept

    async def _tls_seed(self, server: TcpServerLink, stream: trio.SocketStream,
                        context: TlsContext) -> None:
        # S12: a peer that fails the handshake takes no con_id (error 26, logged)
        seed = await self.accept_tls_peer(server, stream, context)
        if seed is not None:
            await self._admit_seed(server, seed)

    async def _admit_seed(self, server: TcpServerLink, seed: TcpLink) -> None:
        con_id = self.links.free_id()
        if con_id is None or self.transparent is not None or server.closed:
            # NOTES S4: no con_id for the peer, so it cannot be served
            self.port.log.warning("seed_refused", server=server.con_id, reason="no free con_id")
            seed.close()
            return
        server.seeds = [s for s in server.seeds if not s.closed] + [seed]
        assert seed.remote is not None
        await self.port.send(replies.seed_connected(server.con_id, con_id, seed.proto,
                                                    seed.remote, seed.fileno))
        self.add_link(seed, con_id)

    # -- AT+SKTSEND (NOTES S5, G7) --------------------------------------------

    async def on_command_head(self, line: bytes) -> None:
        tokens = split_args(line[len(SEND_PREFIX):].decode("latin-1"))
        try:
            size = integer(tokens[0]) if tokens else integer("")
        except ValueError:
            # G7: a count that does not parse: the rest of the line is discarded
            await self.port.send(replies.error("SKTSEND", 1))
            return
        if not 1 <= size <= self.payload_limit:
            # a count we will not buffer is discarded like one that does not parse
            await self.port.send(replies.error("SKTSEND", 2))
            return
        self.framer.expect_payload(size)
        self._pending_send = tokens[1:]

    async def on_payload(self, data: bytes) -> None:
        tokens, self._pending_send = self._pending_send or [], None
        await self.port.send(await self._send(tokens, data))

    async def _send(self, tokens: list[str], data: bytes) -> bytes:
        name = "SKTSEND"
        try:
            if len(tokens) not in (1, 3):
                raise ArgError(1, f"{len(tokens)} arguments after the size")
            con_id = integer(tokens[0])
            dest = (ip_address(tokens[1]), port_number(tokens[2])) if len(tokens) == 3 else None
        except ValueError as exc:
            self.port.complain("bad_arguments", command=name, why=str(exc))
            return replies.error(name, 1)
        link = self.links.get(con_id)
        if link is None:
            return replies.error(name, 3)
        if link.role == "server" and link.proto == "tcp":
            return replies.error(name, 7)
        if dest is not None and link.proto != "udp":
            return replies.error(name, 1)
        if link.proto == "udp" and dest is None and link.remote is None:
            return replies.error(name, 4)
        if link.inbound is not None and link.inbound.ended and link.proto != "udp":
            return replies.error(name, 8)  # NOTES S7
        try:
            await link.send(data, dest)
        except SendError as exc:
            self.port.log.warning("send_failed", con_id=con_id, why=str(exc))
            if link.proto == "udp":
                return replies.error(name, 5 if link.role == "server" else 6)
            return replies.error(name, 8)
        self.moved("link_tx", link, data)
        return replies.ok(name)

    # -- AT+SKTREAD / AT+SKTRECVCFG (NOTES S6-S8) ------------------------------

    async def read(self, con_id: int, size: int) -> bytes:
        name = "SKTREAD"
        if self.auto_receive:
            return replies.error(name, 11)
        link = self.links.get(con_id)
        if link is None:
            return replies.error(name, 3)
        if link.inbound is None:
            return replies.error(name, 6)
        taken = link.inbound.take(size)
        if taken is None:
            if link.inbound.ended:
                return replies.error(name, self._loss_number(link))
            return replies.read_data(con_id, b"")
        data, source = taken
        return replies.read_data(con_id, data, source if link.role == "server" else None)

    async def receive_config(self, enable: int) -> None:
        async with self.port.output_lock:
            self.auto_receive = bool(enable)
            await self.port.send(replies.ok("SKTRECVCFG"))
        self.wake_pumps()

    @staticmethod
    def _loss_number(link: Link) -> int:
        """S7: a peer that closed is 'connection lost' (7); a reset is a read error (8)."""
        assert link.inbound is not None
        return 8 if link.inbound.ended == "reset" else 7

    def forwards(self, link: Link) -> bool:
        """S8, S9: auto-receive, or the link in transparent mode."""
        if self.transparent is not None:
            return self.transparent is link
        return self.auto_receive

    def data_frame(self, link: Link, data: bytes, source: Address | None) -> bytes:
        return replies.read_data(link.con_id, data, source if link.role == "server" else None)

    def ended_frame(self, link: Link) -> bytes:
        if self.transparent is link:
            return b""  # S9: the interpreter prints \r\n#\r\n as it leaves
        return replies.read_lost(link.con_id, self._loss_number(link))  # S7

    # -- AT+SKTTT (NOTES S9, G5) -------------------------------------------------

    async def transparent_mode(self, enable: int) -> bytes | None:
        name = "SKTTT"
        links = list(self.links)
        if not links:
            return replies.error(name, 2)
        if len(links) > 1:
            return replies.error(name, 4)
        link = links[0]
        if link.role != "client":
            return replies.error(name, 3)
        if link.inbound is not None and link.inbound.ended and not link.inbound:
            return replies.error(name, 2)  # its connection is lost: nothing to talk to
        await self.enter_transparent(link, replies.ok(name))
        return None

    # -- AT+SKTSTATE / AT+SKTDEL (NOTES S10, S11) ------------------------------

    async def state(self) -> bytes:
        lines = [replies.state_line(link.con_id, link.role, link.proto,
                                    link.local if link.role == "server" or link.remote is None
                                    else link.remote, link.fileno)
                 for link in self.links]
        return b"".join(lines) + replies.ok("SKTSTATE")

    async def delete(self, con_id: int) -> bytes:
        if con_id == 0:
            self.close_all()
            self.auto_receive = False  # S10 (firmware)
        elif (link := self.links.get(con_id)) is not None:
            self.close_link(link)
        return replies.ok("SKTDEL")
