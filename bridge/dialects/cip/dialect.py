"""The CIP dialect (cip-at-commands.rst, the Beken AT server, resolved by
NOTES C1-C16).

``COMMANDS`` at the end is the command table; a form whose arguments do
not fit is answered with the command's failure word (ERROR, or
CMDRSP:ERROR for AT+CIPSEND).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from ... import __version__
from ...at.args import exactly
from ...at.commands import (
    Action,
    CommandTable,
    ExpectPayload,
    Form,
    Outcome,
    Refused,
    Setting,
    row,
)
from ...at.framer import Framer, Packing, plus_escape
from ...links.inbound import Address
from ...links.link import Link, Proto, ServerLink
from ...links.udp import UdpLink
from ...net.errors import LinkError
from ...net.services import NetworkServices
from ..api import PortServices
from ..base import DialectBase
from ..links import Delivery, Ending, Links
from ..tls import TlsContexts
from ..transparent import Transparent
from . import replies
from .args import ALL_LINKS, Send, Start, bad, parse_close, parse_send, parse_start, switch
from .net import CipNetwork, dns_arguments, name_argument, sntp_arguments
from .psk import PskTable, parse_psk
from .start import LinkOpener

LINK_IDS = range(6)  # C2
STATUS_TYPES = {Proto.TCP: 0, Proto.UDP: 1, Proto.SSL: 2, Proto.DTLS: 3}  # C11
MAX_FRAME = 2048  # C7
PACKET = Packing(size=1460, quiet=0.020)  # C10


def make_framer(line_limit: int, guard: float) -> Framer:
    return Framer(line_limit=line_limit, guard=guard, escape=plus_escape(guard), packing=PACKET)


class CipDialect(DialectBase):

    def __init__(self, port: PortServices) -> None:
        super().__init__(port)
        settings = port.settings
        self.commands = COMMANDS
        self.framer = make_framer(settings.line_limit, settings.guard_ms / 1000)
        self.links = Links(port, LINK_IDS, self, Ending.FREE)  # C8
        # C8: the pump has printed CLOSED when a passthrough link goes
        self.transparent = Transparent(port, self.links, self.framer, lost_notice=b"",
                                       datagram_size=PACKET.size)
        self.echo_on = True
        self.multiple = False  # AT+CIPMUX
        self.passthrough_mode = False  # AT+CIPMODE
        self.services = NetworkServices(settings, port.log)
        self.network = CipNetwork(self.services, self._persist, port.start_task)
        self.psks = PskTable()
        self.tls = TlsContexts(settings, port.state_dir, port.log)
        self.opener = LinkOpener(port, self.links, self.tls, self.psks, self.services,
                                 self.notice)
        self._pending_send: tuple[Link, Address | None] | None = None

    # -- the port and its command lines (C1) --------------------------------------

    async def on_open(self) -> None:
        self._restore()
        await self.port.output.send(replies.READY)

    def _restore(self) -> None:
        """C16: the stored settings, at start and by AT+RST."""
        stored = self.port.store.load()
        self.network.restore(stored)
        try:
            self.psks.restore(stored.get("psk"))
        except (TypeError, ValueError) as exc:
            self.port.log.warning("stored_settings_ignored", why=repr(exc))

    async def _persist(self) -> None:
        """C16: with AT+SYSSTORE=1 a changed setting is saved for the port."""
        if self.setting("SYSSTORE")[0]:
            await self.port.store.asave({**self.network.saved(), "psk": self.psks.saved()})

    def echo(self, line: bytes) -> bytes:
        return replies.echo(line) if self.echo_on else b""

    def unknown(self, line: bytes) -> Outcome:
        return Outcome(replies.ERROR)

    def refused(self, refusal: Refused) -> Outcome:
        return Outcome(refusal.error or replies.ERROR)

    def setting_reply(self, setting: Setting, form: Form) -> bytes:
        if form is Form.SET:
            return replies.OK
        return b"+%s:%s\r\n" % (setting.name.encode(),
                                setting.text(self.setting(setting.name)).encode()) + replies.OK

    def on_line_too_long(self) -> Outcome:
        return Outcome(replies.ERROR)  # G1

    async def attention(self) -> Outcome:
        return Outcome(replies.OK)

    async def set_echo_off(self) -> Outcome:
        self.echo_on = False
        return Outcome(replies.OK)

    async def set_echo_on(self) -> Outcome:
        self.echo_on = True
        return Outcome(replies.OK)

    async def reset(self) -> Outcome:
        """C1: every link closed, settings back to their defaults and then to
        what is stored, and the module's greeting again."""
        self.links.close_all()
        self.echo_on, self.multiple, self.passthrough_mode = True, False, False
        self.settings.clear()  # AT+SYSSTORE is 1 again: it is not persisted
        self._restore()
        self.port.log.info("reset")
        return Outcome(replies.OK + replies.READY)

    async def version(self) -> Outcome:
        return Outcome(b"AT version:at-bridge %s\r\nOK\r\n" % __version__.encode())

    # -- AT+CIPMUX / AT+CIPMODE (C3, C10) ----------------------------------------------

    async def set_mux(self, value: int) -> Outcome:
        if len(self.links):
            raise bad("links are open")
        if value and self.passthrough_mode:
            raise bad("CIPMODE=1 allows a single connection only")
        self.multiple = bool(value)
        return Outcome(replies.OK)

    async def query_mux(self) -> Outcome:
        return Outcome(replies.value("CIPMUX", self.multiple))

    async def set_mode(self, value: int) -> Outcome:
        if value and self.multiple:
            raise bad("passthrough needs CIPMUX=0")
        self.passthrough_mode = bool(value)
        return Outcome(replies.OK)

    async def query_mode(self) -> Outcome:
        return Outcome(replies.value("CIPMODE", self.passthrough_mode))

    def notice(self, word: bytes, number: int) -> bytes:
        return replies.notice(word, number, self.multiple)

    # -- AT+CIPSTART (C4-C6) and AT+CIPSSLCPSK (C15) -----------------------------------

    async def start(self, request: Start) -> Outcome:
        return await self.opener.start(request)

    async def set_psk(self, number: int, key: str, identity: str) -> Outcome:
        self.psks.set(number, key, identity)
        await self._persist()
        return Outcome(replies.OK)

    async def query_psk(self) -> Outcome:
        return Outcome(replies.psk_config(self.psks.keys,
                                          ALL_LINKS if self.multiple else 0))

    # -- how link data reaches the host (Framing, C7, C8) -----------------------------

    def delivery(self, link: Link) -> Delivery:
        return Delivery.RAW if self.transparent.link is link else Delivery.FORWARD

    def frame_limit(self, link: Link) -> int:
        return MAX_FRAME

    def data_frame(self, link: Link, data: bytes, source: Address | None) -> bytes:
        return replies.received(link.con_id, data)

    def announcement(self, link: Link, size: int) -> bytes:
        raise AssertionError("CIP never announces data")

    def end_frame(self, link: Link) -> bytes:
        return self.notice(b"CLOSED", link.con_id)

    # -- AT+CIPSEND (C9) -------------------------------------------------------------

    async def send(self, request: Send) -> Outcome:
        link = self._sendable(self.links.get(request.link_id))
        if link is None:
            raise bad(f"link {request.link_id} is not open")
        if request.dest is not None and not isinstance(link, UdpLink):
            raise bad("a destination is for UDP links")
        self._pending_send = (link, request.dest)
        return Outcome(replies.PROMPT, ExpectPayload(request.length))

    @staticmethod
    def _sendable(link: Link | None) -> Link | None:
        """The link that carries a send: a server link's current peer."""
        if isinstance(link, ServerLink):
            return link.peer
        return link

    async def on_payload(self, data: bytes) -> Outcome:
        assert self._pending_send is not None
        (link, dest), self._pending_send = self._pending_send, None
        if link.closed or (link.inbound is not None and link.inbound.ended
                           and not isinstance(link, UdpLink)):
            return Outcome(replies.SEND_ERROR)
        try:
            if dest is not None:
                dest = await self._resolve_udp(dest)
            await link.send(data, dest)
        except LinkError as exc:
            self.port.log.warning("send_failed", con_id=link.con_id, why=str(exc))
            return Outcome(replies.SEND_ERROR)
        self.links.account("link_tx", link, data)
        return Outcome(replies.SEND_OK)

    async def _resolve_udp(self, dest: Address) -> Address:
        _, sockaddr = await self.services.resolver.resolve(dest[0], dest[1], socket.SOCK_DGRAM)
        return sockaddr[0], sockaddr[1]

    # -- passthrough (C10) -------------------------------------------------------------

    async def passthrough(self) -> Outcome:
        link = self.links.get(0)
        if not self.passthrough_mode or self.multiple or link is None \
                or isinstance(link, ServerLink):
            raise bad("passthrough needs CIPMODE=1, CIPMUX=0 and a client link 0")
        return self.transparent.enter(link, replies.PROMPT)

    def on_escape(self) -> Outcome:
        return self.transparent.leave(replies.QUIT)

    # -- AT+CIPCLOSE / AT+CIPSTATUS (C2, C8, C11) ------------------------------------------

    async def close(self, number: int) -> Outcome:
        link = self.links.get(number)
        if link is None and number != ALL_LINKS:
            raise bad(f"link {number} is not open")
        closing = [link] if link is not None else list(self.links)
        # closed in the same step as the notices are written, so no pump
        # writes a frame of a link the host already saw closed

        def commit() -> None:
            for each in closing:
                self.links.close(each)

        return Outcome(b"".join(self.notice(b"CLOSED", each.con_id) for each in closing)
                       + replies.OK, commit=commit)

    async def status(self) -> Outcome:
        lines = [self._status_line(link) for link in self.links]
        return Outcome(b"".join(lines) or replies.NO_LINKS)

    def _status_line(self, link: Link) -> bytes:
        server = isinstance(link, ServerLink)
        peer = self._sendable(link)
        remote = (peer.remote if peer is not None else None) or ("0.0.0.0", 0)
        return replies.status_line(STATUS_TYPES[link.proto], remote, link.local[1], server)


# -- arguments that depend on CIPMUX (C3) -------------------------------------------------


def start_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Start]:
    return (parse_start(tokens, multiple=dialect.multiple),)


def send_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Send]:
    return (parse_send(tokens, multiple=dialect.multiple),)


def close_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int]:
    return (parse_close(tokens, multiple=dialect.multiple),)


def psk_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int, str, str]:
    return parse_psk(tokens, multiple=dialect.multiple)


def _network(handler: Any, arguments: Any = None) -> Action:
    return Action(handler, arguments, on="network")


COMMANDS = CommandTable(
    [
        row("", basic=True, execute=Action(CipDialect.attention)),
        row("E0", basic=True, execute=Action(CipDialect.set_echo_off)),
        row("E1", basic=True, execute=Action(CipDialect.set_echo_on)),
        row("RST", execute=Action(CipDialect.reset)),
        row("GMR", execute=Action(CipDialect.version)),
        row("CIPMUX", set=Action(CipDialect.set_mux, exactly(switch)),
            query=Action(CipDialect.query_mux)),
        # C10: AT+CIPMODE and AT+CIPMODE? both query
        row("CIPMODE", set=Action(CipDialect.set_mode, exactly(switch)),
            query=Action(CipDialect.query_mode), execute=Action(CipDialect.query_mode)),
        row("CIPSTART", set=Action(CipDialect.start, start_arguments)),
        row("CIPSEND", set=Action(CipDialect.send, send_arguments, error=replies.SEND_ERROR),
            execute=Action(CipDialect.passthrough, error=replies.SEND_ERROR)),
        row("CIPCLOSE", set=Action(CipDialect.close, close_arguments),
            execute=Action(CipDialect.close, close_arguments)),
        row("CIPSTATUS", query=Action(CipDialect.status)),
        row("CIPSSLCPSK", set=Action(CipDialect.set_psk, psk_arguments),
            query=Action(CipDialect.query_psk)),
        row("CIPDNS", set=_network(CipNetwork.set_dns, dns_arguments),
            query=_network(CipNetwork.query_dns)),
        row("CIPDOMAIN", set=_network(CipNetwork.domain, name_argument)),
        row("PING", set=_network(CipNetwork.ping, name_argument)),
        row("CIPSNTPCFG", set=_network(CipNetwork.set_sntp, sntp_arguments),
            query=_network(CipNetwork.query_sntp)),
        row("CIPSNTPTIME", query=_network(CipNetwork.sntp_time)),
    ],
    settings=[
        # C16: AT+SYSSTORE itself is not persisted: 1 at start and after AT+RST
        Setting("SYSSTORE", exactly(switch), default=(1,)),
    ],
)
