"""The SKT dialect (skt-at-commands.rst, resolved by NOTES S1-S13).

``COMMANDS`` at the end is the command table: each row's signature carries
the spec's error numbers. Link data reaches the host per the host's mode:
kept for AT+SKTREAD, framed as +SKTREAD (auto-receive, S8) or raw
(transparent, S9).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from ...at.args import (
    ArgError,
    Param,
    Signature,
    host,
    int_in,
    integer,
    ip_address,
    port_number,
    split_args,
)
from ...at.commands import (
    NOTHING,
    Action,
    CommandTable,
    ExpectPayload,
    Outcome,
    Refused,
    row,
)
from ...at.framer import SKT_ESCAPE, Framer
from ...links.inbound import Address
from ...links.link import Link, Proto, Role
from ...links.tcp import TcpLink, TcpServerLink, connect_tcp, listen_tcp
from ...links.tls import connect_tls
from ...links.udp import open_udp
from ...net.errors import (
    BindError,
    CertificateFileError,
    ConnectError,
    HandshakeError,
    KeyFileError,
    LinkError,
    ListenError,
    ResolveError,
    SendError,
    TlsSetupError,
)
from ..api import PortServices
from ..base import DialectBase
from ..links import Delivery, Ending, Links, LowestFreeId
from ..tls import TlsContexts
from ..transparent import Transparent
from . import replies

SEND_PREFIX = b"AT+SKTSEND="
TCP, UDP, SSL = 0, 1, 2
PROTOS = {TCP: Proto.TCP, UDP: Proto.UDP, SSL: Proto.SSL}
CON_IDS = range(1, 10)  # NOTES S2


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


def make_framer(line_limit: int, guard: float) -> Framer:
    return Framer(line_limit=line_limit, guard=guard, escape=SKT_ESCAPE,
                  colon_commands=(SEND_PREFIX,))


def send_destination(tokens: list[str]) -> tuple[int, tuple[str, int] | None]:
    """AT+SKTSEND's arguments after the size: ``<con_id>[,<ip>,<port>]``
    (ValueError if they do not fit: error 1)."""
    if len(tokens) not in (1, 3):
        raise ArgError(1, f"{len(tokens)} arguments after the size")
    con_id = integer(tokens[0])
    return con_id, ((ip_address(tokens[1]), port_number(tokens[2])) if len(tokens) == 3
                    else None)


class SktDialect(DialectBase):
    def __init__(self, port: PortServices) -> None:
        super().__init__(port)
        settings = port.settings
        self.commands = COMMANDS
        self.payload_limit = settings.payload_limit
        self.framer = make_framer(settings.line_limit, settings.guard_ms / 1000)
        self.links = Links(port, CON_IDS, self, Ending.KEEP)  # S7
        self.transparent = Transparent(port, self.links, self.framer,
                                       lost_notice=replies.TT_EXIT,  # S9
                                       on_leave=self._auto_receive_off)
        self.tls = TlsContexts(settings, port.state_dir, port.log)
        self.admission = LowestFreeId()  # S4
        self.auto_receive = False
        self._pending_send: list[str] | None = None

    # -- replies the dispatcher needs ----------------------------------------------

    def unknown(self, line: bytes) -> Outcome:
        return NOTHING  # NOTES S13: the firmware answers nothing to what it does not know

    def refused(self, refusal: Refused) -> Outcome:
        return Outcome(replies.error(refusal.row.name, refusal.why.code))

    def on_line_too_long(self) -> Outcome:
        return NOTHING  # NOTES G1/S13: SKT stays silent

    def on_escape(self) -> Outcome:
        return self.transparent.leave(replies.TT_EXIT)  # S9

    def _auto_receive_off(self) -> None:
        self.auto_receive = False  # S9, S10 (firmware)

    # -- AT+SKTSERVER / AT+SKTCLIENT (NOTES S3, S4) ---------------------------

    async def server(self, mode: int, local_port: int) -> Outcome:
        name = "SKTSERVER"
        proto = PROTOS[mode]
        if any(link.role is Role.SERVER and link.proto is proto and link.local[1] == local_port
               for link in self.links):
            return Outcome(replies.error(name, 12 if mode == UDP else 9))
        con_id = self.links.free_id()
        if con_id is None:
            return Outcome(replies.error(name, 3))
        bind = self.port.settings.bind_address
        try:
            if mode == UDP:
                # S6: replies go to the last peer heard from
                link: Link = await open_udp(role=Role.SERVER, bind_host=bind,
                                            local_port=local_port, peer=None,
                                            inbound_capacity=self.port.settings.link_buffer,
                                            peer_changes=None)
            else:
                context = self.tls.server() if mode == SSL else None
                link = await listen_tcp(bind, local_port, proto=proto)
                # S12: an SSL seed is announced after its handshake; one that
                # fails it takes no con_id (error 26, logged)
                link.on_accept = self.tls.acceptor(
                    link, context, lambda seed, server=link: self._admit_seed(server, seed))
        except LinkError as exc:
            self.port.log.warning("server_failed", local_port=local_port, why=str(exc))
            return Outcome(replies.error(name, server_error(mode, exc)))
        self.links.add(link, con_id)
        return Outcome(replies.opened(name, con_id))

    async def client(self, mode: int, remote_host: str, remote_port: int,
                     local_port: int = 0) -> Outcome:
        name = "SKTCLIENT"
        con_id = self.links.free_id()
        if con_id is None:
            return Outcome(replies.error(name, 4))
        settings = self.port.settings
        try:
            with trio.fail_after(settings.connect_timeout):
                if mode == TCP:
                    link: Link = await connect_tcp(remote_host, remote_port,
                                                   inbound_capacity=settings.link_buffer)
                elif mode == SSL:
                    link = await connect_tls(remote_host, remote_port,
                                             self.tls.client(remote_host),
                                             inbound_capacity=settings.link_buffer)
                else:
                    link = await open_udp(role=Role.CLIENT, bind_host=settings.bind_address,
                                          local_port=local_port,
                                          peer=(remote_host, remote_port),
                                          inbound_capacity=settings.link_buffer)
        except trio.TooSlowError:
            self.port.log.warning("connect_timeout", host=remote_host, remote_port=remote_port)
            return Outcome(replies.error(name, 18 if mode == SSL else 9))
        except LinkError as exc:
            self.port.log.warning("client_failed", host=remote_host, remote_port=remote_port,
                                  why=str(exc))
            return Outcome(replies.error(name, client_error(mode, exc)))
        self.links.add(link, con_id)
        return Outcome(replies.opened(name, con_id))

    async def _admit_seed(self, server: TcpServerLink, seed: TcpLink) -> None:
        con_id = self.admission.choose(self.links, server)
        if con_id is None or self.transparent.link is not None:
            # NOTES S4: no con_id for the peer, so it cannot be served
            self.port.log.warning("seed_refused", server=server.con_id, reason="no free con_id")
            seed.close()
            return
        server.seeds = [s for s in server.seeds if not s.closed] + [seed]
        assert seed.remote is not None
        async with self.port.output.frame_slot():
            await self.port.output.send(replies.seed_connected(
                server.con_id, con_id, seed.proto.value, seed.remote, seed.fileno))
            self.links.add(seed, con_id)

    # -- AT+SKTSEND (NOTES S5, G7) --------------------------------------------

    async def on_command_head(self, line: bytes) -> Outcome:
        tokens = split_args(line[len(SEND_PREFIX):].decode("latin-1"))
        try:
            size = integer(tokens[0]) if tokens else integer("")
        except ValueError:
            # G7: a count that does not parse: the rest of the line is discarded
            return Outcome(replies.error("SKTSEND", 1))
        if not 1 <= size <= self.payload_limit:
            # a count we will not buffer is discarded like one that does not parse
            return Outcome(replies.error("SKTSEND", 2))
        self._pending_send = tokens[1:]
        return Outcome(then=ExpectPayload(size))

    async def on_payload(self, data: bytes) -> Outcome:
        tokens, self._pending_send = self._pending_send or [], None
        return Outcome(await self._send(tokens, data))

    async def _send(self, tokens: list[str], data: bytes) -> bytes:
        name = "SKTSEND"
        try:
            con_id, dest = send_destination(tokens)
        except ValueError as exc:
            self.port.complain("bad_arguments", command=name, why=str(exc))
            return replies.error(name, 1)
        link = self.links.get(con_id)
        if link is None:
            return replies.error(name, 3)
        if link.role is Role.SERVER and link.proto is not Proto.UDP:
            return replies.error(name, 7)  # a TCP or SSL server has no peer of its own
        if dest is not None and link.proto is not Proto.UDP:
            return replies.error(name, 1)
        if link.proto is Proto.UDP and dest is None and link.remote is None:
            return replies.error(name, 4)
        if link.inbound is not None and link.inbound.ended and link.proto is not Proto.UDP:
            return replies.error(name, 8)  # NOTES S7
        try:
            await link.send(data, dest)
        except SendError as exc:
            self.port.log.warning("send_failed", con_id=con_id, why=str(exc))
            if link.proto is Proto.UDP:
                return replies.error(name, 5 if link.role is Role.SERVER else 6)
            return replies.error(name, 8)
        self.links.account("link_tx", link, data)
        return replies.ok(name)

    # -- AT+SKTREAD / AT+SKTRECVCFG (NOTES S6-S8) ------------------------------

    async def read(self, con_id: int, size: int) -> Outcome:
        name = "SKTREAD"
        if size > self.payload_limit:
            return Outcome(replies.error(name, 2))
        if self.auto_receive:
            return Outcome(replies.error(name, 11))
        link = self.links.get(con_id)
        if link is None:
            return Outcome(replies.error(name, 3))
        if link.inbound is None:
            return Outcome(replies.error(name, 6))
        taken = link.inbound.take(size)
        if taken is None:
            if link.inbound.ended:
                return Outcome(replies.error(name, self._loss_number(link)))
            return Outcome(replies.read_data(con_id, b""))
        data, source = taken
        self.links.account("link_rx", link, data)
        return Outcome(replies.read_data(con_id, data,
                                         source if link.role is Role.SERVER else None))

    async def receive_config(self, enable: int) -> Outcome:
        def commit() -> None:
            self.auto_receive = bool(enable)
            self.links.wake()

        return Outcome(replies.ok("SKTRECVCFG"), commit=commit)

    @staticmethod
    def _loss_number(link: Link) -> int:
        """S7: a peer that closed is 'connection lost' (7); a reset is a read error (8)."""
        assert link.inbound is not None
        return 8 if link.inbound.ended == "reset" else 7

    # -- how link data reaches the host (Framing) ----------------------------------

    def delivery(self, link: Link) -> Delivery:
        """S8, S9: auto-receive, or the link in transparent mode."""
        if self.transparent.link is not None:
            return Delivery.RAW if self.transparent.link is link else Delivery.KEEP
        return Delivery.FORWARD if self.auto_receive else Delivery.KEEP

    def frame_limit(self, link: Link) -> int:
        return self.payload_limit  # auto-receive frames, as SKTREAD's largest

    def data_frame(self, link: Link, data: bytes, source: Address | None) -> bytes:
        return replies.read_data(link.con_id, data,
                                 source if link.role is Role.SERVER else None)

    def announcement(self, link: Link, size: int) -> bytes:
        raise AssertionError("SKT never announces data")

    def end_frame(self, link: Link) -> bytes:
        if self.transparent.link is link:
            return b""  # S9: the interpreter prints \r\n#\r\n as it leaves
        return replies.read_lost(link.con_id, self._loss_number(link))  # S7

    # -- AT+SKTTT (NOTES S9, G5) -------------------------------------------------

    async def transparent_mode(self, enable: int) -> Outcome:
        name = "SKTTT"
        links = list(self.links)
        if not links:
            return Outcome(replies.error(name, 2))
        if len(links) > 1:
            return Outcome(replies.error(name, 4))
        link = links[0]
        if link.role is not Role.CLIENT:
            return Outcome(replies.error(name, 3))
        if link.inbound is not None and link.inbound.ended and not link.inbound:
            return Outcome(replies.error(name, 2))  # its connection is lost: nothing to talk to
        return self.transparent.enter(link, replies.ok(name))

    # -- AT+SKTSTATE / AT+SKTDEL (NOTES S10, S11) ------------------------------

    async def state(self) -> Outcome:
        lines = [replies.state_line(link.con_id, link.role.value, link.proto.value,
                                    link.local if link.role is Role.SERVER
                                    or link.remote is None else link.remote, link.fileno)
                 for link in self.links]
        return Outcome(b"".join(lines) + replies.ok("SKTSTATE"))

    async def delete(self, con_id: int) -> Outcome:
        if con_id == 0:
            self.links.close_all()
            self.auto_receive = False  # S10 (firmware)
        elif (link := self.links.get(con_id)) is not None:
            self.links.close(link)
        return Outcome(replies.ok("SKTDEL"))


def _set_only(handler: Callable[..., Awaitable[Outcome]], signature: Signature) -> dict:
    """A command that takes arguments: its other forms are answered with the
    signature's count error (NOTES S1), not ignored as unknown."""
    refusal = Action(None, refusal=signature.count_error)
    return {"set": Action(handler, signature), "execute": refusal, "query": refusal,
            "test": refusal}


COMMANDS = CommandTable([
    row("SKTSERVER", **_set_only(SktDialect.server, Signature(
        (Param(int_in(0, 2), 14), Param(port_number, 2))))),
    row("SKTCLIENT", **_set_only(SktDialect.client, Signature(
        (Param(int_in(0, 2), 17), Param(host, 6), Param(port_number, 3)),
        (Param(port_number, 11),)))),
    row("SKTDEL", **_set_only(SktDialect.delete, Signature((Param(int_in(0, 9), 1),)))),
    row("SKTTT", **_set_only(SktDialect.transparent_mode, Signature((Param(int_in(1, 1), 1),)))),
    # the size's upper bound is the port's payload_limit, checked by the handler (S6)
    row("SKTREAD", **_set_only(SktDialect.read, Signature(
        (Param(integer, 3), Param(int_in(1, 1 << 20), 2))))),
    row("SKTRECVCFG", **_set_only(SktDialect.receive_config,
                                  Signature((Param(int_in(0, 1), 1),)))),
    row("SKTSTATE", execute=Action(SktDialect.state)),
    # framed as a line (no colon), so no data: error 1 whatever the form (G7)
    row("SKTSEND", **{form: Action(None, refusal=1)
                      for form in ("execute", "query", "set", "test")}),
])
