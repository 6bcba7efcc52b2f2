"""The CIP dialect (cip-at-commands.rst, the Beken AT server, resolved by
NOTES C1-C11 and C16).

A table of command forms (``AT+CIPMODE=``, ``AT+CIPMODE?``, ...) to small
handlers that take the argument tokens and return the reply bytes; a token
that does not fit raises ArgError, answered with the command's failure word.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .. import __version__
from ..at import cip_replies as replies
from ..at.args import ArgError, parse_command, split_args
from ..at.cip_args import (
    ALL_LINKS,
    bad,
    bind,
    parse_close,
    parse_send,
    parse_start,
    switch,
)
from ..at.framer import Framer, Packing, cip_escape
from ..links.errors import LinkError
from ..links.inbound import Address
from ..links.link import Link
from ..links.tcp import TcpServerLink
from ..links.udp import UdpLink
from .base import LinkDialect
from .cip_net import NetworkServices
from .cip_psk import PskTable
from .cip_start import LinkOpener

if TYPE_CHECKING:
    from ..port import Port

LINK_IDS = range(6)  # C2
STATUS_TYPES = {"tcp": 0, "udp": 1, "ssl": 2, "dtls": 3}  # C11
MAX_FRAME = 2048  # C7
PACKET = Packing(size=1460, quiet=0.020)  # C10

Handler = Callable[[list[str]], Awaitable[bytes | None]]


class CipDialect(LinkDialect):
    name = "cip"
    frame_limit = MAX_FRAME
    frees_ended_links = True  # C8
    transparent_lost_notice = b""  # the pump has printed CLOSED (C8)

    def __init__(self, port: Port) -> None:
        super().__init__(port, LINK_IDS)
        settings = port.settings
        guard = settings.guard_ms / 1000
        self.framer = Framer(line_limit=settings.line_limit, guard=guard,
                             escape=cip_escape(guard), packing=PACKET)
        self.echo = True
        self.multiple = False  # AT+CIPMUX
        self.passthrough_mode = False  # AT+CIPMODE
        self.sysstore = True
        self.services = NetworkServices(port, self._persist)
        self.psks = PskTable()
        self.opener = LinkOpener(self)
        self._pending_send: tuple[Link, Address | None] | None = None
        self.commands: dict[str, Handler] = {
            "AT": self.attention,
            "ATE0": self.echo_off,
            "ATE1": self.echo_on,
            "AT+RST": self.reset,
            "AT+GMR": self.version,
            "AT+CIPMUX=": self.set_mux,
            "AT+CIPMUX?": self.query_mux,
            "AT+CIPMODE=": self.set_mode,
            "AT+CIPMODE?": self.query_mode,
            "AT+CIPMODE": self.query_mode,
            "AT+CIPSTART=": self.start,
            "AT+CIPSEND=": self.send,
            "AT+CIPSEND": self.passthrough,
            "AT+CIPCLOSE=": self.close,
            "AT+CIPCLOSE": self.close,
            "AT+CIPSTATUS?": self.status,
            "AT+SYSSTORE=": self.set_sysstore,
            "AT+SYSSTORE?": self.query_sysstore,
            "AT+CIPSSLCPSK=": self.set_psk,
            "AT+CIPSSLCPSK?": self.query_psk,
            **self.services.commands(),
        }

    # -- the port and its command lines (C1) --------------------------------------

    async def on_open(self) -> None:
        self._restore()
        await self.port.send(replies.READY)

    def _restore(self) -> None:
        """C16: the stored settings, at start and by AT+RST."""
        stored = self.port.store.load()
        self.services.restore(stored)
        try:
            self.psks.restore(stored.get("psk"))
        except (TypeError, ValueError) as exc:
            self.port.log.warning("stored_settings_ignored", why=repr(exc))

    async def _persist(self) -> None:
        """C16: with AT+SYSSTORE=1 a changed setting is saved for the port."""
        if self.sysstore:
            await self.port.store.asave({**self.services.saved(), "psk": self.psks.saved()})

    async def on_command_line(self, line: bytes) -> None:
        if self.echo:
            await self.port.send(replies.echo(line))
        command = parse_command(line)
        key = f"AT{'+' if command.extended else ''}{command.name}{command.op}" if command else ""
        handler = self.commands.get(key)
        if command is None or handler is None:
            self.port.complain("unknown_command", line=line[:80])
            await self.port.send(replies.ERROR)
            return
        try:
            reply = await handler(split_args(command.args))
        except ArgError as exc:
            self.port.complain("bad_arguments", command=key, why=str(exc))
            reply = replies.SEND_ERROR if command.name == "CIPSEND" else replies.ERROR
        if reply:
            await self.port.send(reply)

    async def on_command_head(self, line: bytes) -> None:
        raise AssertionError("CIP has no colon-framed commands")

    async def on_line_too_long(self) -> None:
        await self.port.send(replies.ERROR)  # G1

    @staticmethod
    def no_arguments(tokens: list[str]) -> None:
        if tokens:
            raise bad("takes no arguments")

    async def attention(self, tokens: list[str]) -> bytes:
        return replies.OK

    async def echo_off(self, tokens: list[str]) -> bytes:
        self.echo = False
        return replies.OK

    async def echo_on(self, tokens: list[str]) -> bytes:
        self.echo = True
        return replies.OK

    async def reset(self, tokens: list[str]) -> bytes:
        """C1: every link closed, settings back to their defaults and then to
        what is stored, and the module's greeting again."""
        self.close_all()
        self.echo, self.multiple, self.passthrough_mode, self.sysstore = True, False, False, True
        self._restore()
        self.port.log.info("reset")
        return replies.OK + replies.READY

    async def version(self, tokens: list[str]) -> bytes:
        return b"AT version:at-bridge %s\r\nOK\r\n" % __version__.encode()

    # -- AT+CIPMUX / AT+CIPMODE / AT+SYSSTORE (C3, C10, C16) ---------------------------

    async def set_mux(self, tokens: list[str]) -> bytes:
        (value,) = bind(tokens, switch)
        if len(self.links):
            raise bad("links are open")
        if value and self.passthrough_mode:
            raise bad("CIPMODE=1 allows a single connection only")
        self.multiple = bool(value)
        return replies.OK

    async def query_mux(self, tokens: list[str]) -> bytes:
        return replies.value("CIPMUX", self.multiple)

    async def set_mode(self, tokens: list[str]) -> bytes:
        (value,) = bind(tokens, switch)
        if value and self.multiple:
            raise bad("passthrough needs CIPMUX=0")
        self.passthrough_mode = bool(value)
        return replies.OK

    async def query_mode(self, tokens: list[str]) -> bytes:
        self.no_arguments(tokens)
        return replies.value("CIPMODE", self.passthrough_mode)

    async def set_sysstore(self, tokens: list[str]) -> bytes:
        (value,) = bind(tokens, switch)
        self.sysstore = bool(value)
        return replies.OK

    async def query_sysstore(self, tokens: list[str]) -> bytes:
        return replies.value("SYSSTORE", self.sysstore)

    def notice(self, word: bytes, number: int) -> bytes:
        return replies.notice(word, number, self.multiple)

    # -- AT+CIPSTART (C4-C6) and AT+CIPSSLCPSK (C15) -----------------------------------

    async def start(self, tokens: list[str]) -> bytes:
        return await self.opener.start(parse_start(tokens, multiple=self.multiple))

    async def set_psk(self, tokens: list[str]) -> bytes:
        self.psks.set(tokens, multiple=self.multiple)
        await self._persist()
        return replies.OK

    async def query_psk(self, tokens: list[str]) -> bytes:
        return self.psks.query(multiple=self.multiple)

    # -- data from links (C7, C8) ----------------------------------------------------

    def forwards(self, link: Link) -> bool:
        return True  # C7: data goes to the host as it comes

    def data_frame(self, link: Link, data: bytes, source: Address | None) -> bytes:
        return replies.received(link.con_id, data)

    def ended_frame(self, link: Link) -> bytes:
        return self.notice(b"CLOSED", link.con_id)

    # -- AT+CIPSEND (C9) -------------------------------------------------------------

    async def send(self, tokens: list[str]) -> bytes | None:
        request = parse_send(tokens, multiple=self.multiple)
        link = self._sendable(self.links.get(request.link_id))
        if link is None:
            raise bad(f"link {request.link_id} is not open")
        if request.dest is not None and not isinstance(link, UdpLink):
            raise bad("a destination is for UDP links")
        await self.port.send(replies.PROMPT)
        self.framer.expect_payload(request.length)
        self._pending_send = (link, request.dest)
        return None

    @staticmethod
    def _sendable(link: Link | None) -> Link | None:
        """The link that carries a send: a server link's current peer."""
        if isinstance(link, TcpServerLink):
            return next((peer for peer in link.seeds if not peer.closed), None)
        return link

    async def on_payload(self, data: bytes) -> None:
        assert self._pending_send is not None
        (link, dest), self._pending_send = self._pending_send, None
        if link.closed or (link.inbound is not None and link.inbound.ended
                           and not isinstance(link, UdpLink)):
            await self.port.send(replies.SEND_ERROR)
            return
        try:
            if dest is not None:
                dest = await self._resolve_udp(dest)
            await link.send(data, dest)
        except LinkError as exc:
            self.port.log.warning("send_failed", con_id=link.con_id, why=str(exc))
            await self.port.send(replies.SEND_ERROR)
            return
        self.moved("link_tx", link, data)
        await self.port.send(replies.SEND_OK)

    async def _resolve_udp(self, dest: Address) -> Address:
        _, sockaddr = await self.services.resolver.resolve(dest[0], dest[1], socket.SOCK_DGRAM)
        return sockaddr[0], sockaddr[1]

    # -- passthrough (C10) -------------------------------------------------------------

    async def passthrough(self, tokens: list[str]) -> bytes | None:
        self.no_arguments(tokens)
        link = self.links.get(0)
        if not self.passthrough_mode or self.multiple or link is None \
                or isinstance(link, TcpServerLink):
            raise bad("passthrough needs CIPMODE=1, CIPMUX=0 and a client link 0")
        await self.enter_transparent(link, replies.PROMPT)
        return None

    async def send_transparent(self, link: Link, data: bytes) -> None:
        if link.inbound is not None and link.inbound.datagrams:  # C10: a datagram per packet
            for start in range(0, len(data), PACKET.size):
                await link.send(data[start:start + PACKET.size])
        else:
            await link.send(data)

    async def on_escape(self) -> None:
        await self.leave_transparent(replies.QUIT)

    # -- AT+CIPCLOSE / AT+CIPSTATUS (C2, C8, C11) ------------------------------------------

    async def close(self, tokens: list[str]) -> bytes | None:
        number = parse_close(tokens, multiple=self.multiple)
        link = self.links.get(number)
        if link is None and number != ALL_LINKS:
            raise bad(f"link {number} is not open")
        closing = [link] if link is not None else list(self.links)
        async with self.port.output_lock:
            notices = b""
            for each in closing:
                self.close_link(each)
                notices += self.notice(b"CLOSED", each.con_id)
            await self.port.send(notices + replies.OK)
        return None

    async def status(self, tokens: list[str]) -> bytes:
        lines = [self._status_line(link) for link in self.links]
        return b"".join(lines) or replies.NO_LINKS

    def _status_line(self, link: Link) -> bytes:
        server = isinstance(link, TcpServerLink)
        peer = self._sendable(link)
        remote = (peer.remote if peer is not None else None) or ("0.0.0.0", 0)
        return replies.status_line(STATUS_TYPES[link.proto], remote, link.local[1], server)
