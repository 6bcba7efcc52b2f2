"""The ESP-AT dialect (esp-at.md E1-E31, profiles 2.4 and 1.7).

Its command tables (one per profile) are in table.py; settings the module
only stores and shows are ``Setting`` rows there. Every failure is ``ERROR`` unless an
item says otherwise (E6). The port keeps unsolicited frames out of a
command's reply and spaces them after it (E26), and answers ``busy p...``
to lines that arrive while a command runs (E5).
"""

from __future__ import annotations

import socket
from dataclasses import astuple, replace
from functools import partial
from typing import Any

import trio

from ... import __version__
from ...at.commands import (
    CommandTable,
    ExpectPayload,
    Form,
    Outcome,
    Refused,
    Setting,
)
from ...at.framer import Framer, Packing, plus_escape
from ...links.inbound import Address
from ...links.link import Link, Proto, Role
from ...links.tcp import TcpLink, connect_tcp
from ...links.tls import connect_tls
from ...links.udp import UdpLink, open_udp
from ...net.errors import LinkError, ResolveError
from ...net.services import NetworkServices
from ...uart.line import LineSettings
from ..api import PortServices
from ..base import DialectBase
from ..links import Delivery, Ending, Links
from ..tls import TlsContexts
from ..transparent import Transparent
from . import replies
from .args import (
    ALL_LINKS,
    LINK_IDS,
    UDP_LISTENER,
    Send,
    Start,
    bad,
)
from .net import EspNetwork
from .replies import PROFILES, Profile
from .server import EspServer
from .station import VirtualStation
from .wifi import WifiCommands

LINE_LIMIT = 256  # E3
PACKET = Packing(size=1460, quiet=0.020)  # E23, as CIP's passthrough
BUILD_DATE = "Nov 30 2026 00:00:00"
MAX_DATAGRAM = 65535
STATUS_KINDS = {Proto.TCP: "TCP", Proto.UDP: "UDP", Proto.SSL: "SSL"}


def make_framer(line_limit: int, guard: float) -> Framer:
    return Framer(line_limit=line_limit, guard=guard, escape=plus_escape(guard), packing=PACKET)


class EspDialect(WifiCommands, DialectBase):
    """The port's ESP-AT module; ``tables`` maps a profile to its commands
    (bridge/dialects/esp/table.py)."""

    holds_reply_span = True  # E26

    def __init__(self, port: PortServices, tables: dict[str, CommandTable]) -> None:
        super().__init__(port)
        settings = port.settings
        self.profile: Profile = PROFILES[settings.esp_at_version]
        self.commands = tables[self.profile.name]
        self.reply_gap = settings.urc_gap_ms / 1000
        self.framer = make_framer(min(settings.line_limit, LINE_LIMIT), settings.guard_ms / 1000)
        self.links = Links(port, LINK_IDS, self, Ending.FREE)  # E20, E25
        self.transparent = Transparent(port, self.links, self.framer, lost_notice=b"",
                                       datagram_size=PACKET.size)
        self.tls = TlsContexts(settings, port.state_dir, port.log)
        self.services = NetworkServices(settings, port.log)
        self.network = EspNetwork(self.services, self.profile, self._persist, port.start_task)
        self.station = VirtualStation(list(settings.wifi_networks), settings.interface)
        self.server = EspServer(port, self.links, self.tls, self.profile, self.notice,
                                multiple=lambda: self.multiple, opened=self._link_opened)
        self.uart = self._configured_line()
        self._greeting: trio.CancelScope | None = None
        self._pending_send: tuple[Link, Address | None] | None = None
        self._closing: list[Link] = []  # links a station change closes with its reply
        self._defaults()

    def _defaults(self) -> None:
        """E7: what a reset restores (then what is stored, E30)."""
        self.echoing = True  # ATE0 / ATE1
        self.multiple = False  # AT+CIPMUX
        self.passthrough_mode = False  # AT+CIPMODE
        self.passive = False  # AT+CIPRECVMODE
        self.dinfo = False  # AT+CIPDINFO
        self.syslog = False  # AT+SYSLOG
        self.sysstore = True  # AT+SYSSTORE
        self.close_modes: dict[int, int] = {}  # AT+CIPCLOSEMODE
        self.ssl_config: dict[int, tuple[int, int, int]] = {}  # AT+CIPSSLCCONF
        self.sni: dict[int, str] = {}  # AT+CIPSSLCSNI
        self.alpn: dict[int, tuple[str, ...]] = {}  # AT+CIPSSLCALPN
        self.settings.clear()
        self.network.defaults()
        self.station.mode, self.station.joined = 1, None
        self.station.ever_joined = self.station.quit = self.station.had_link = False

    # -- boot, reset, persistence (E7, E11, E30) --------------------------------------

    async def on_open(self) -> None:
        self._restore()
        line = self._boot_line()
        if line != self.uart:
            self.uart = line
            await self._switch_line(line)
        self._greet()

    def _greet(self) -> None:
        """E7: `ready` after the pause, as an unsolicited frame; E11: joined at boot."""
        if self._greeting is not None:
            self._greeting.cancel()
        self._greeting = trio.CancelScope()
        self.port.start_task(self._ready, self._greeting)

    async def _ready(self, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep(self.port.settings.ready_ms / 1000)
            joined = b""
            stored = self._stored_network()
            network = stored or (self.station.boot_network()
                                 if self.port.settings.boot_joined else None)
            if network is not None and self.station.enabled \
                    and self.station.join(*network) is None:
                joined = replies.CONNECTED + replies.GOT_IP
            async with self.port.output.frame_slot():
                await self.port.output.send(replies.READY + joined)

    def _stored_network(self) -> tuple[str, str] | None:
        stored = self.port.store.load().get("network")
        if isinstance(stored, list) and len(stored) == 2 and self.setting("CWAUTOCONN")[0]:
            return str(stored[0]), str(stored[1])
        return None

    def _restore(self) -> None:
        stored = self.port.store.load()
        try:
            self.station.mode = int(stored.get("cwmode", 1))
            self.network.restore(stored)
            self.ssl_config = {int(k): tuple(v) for k, v in stored.get("ssl", {}).items()}
            for name, values in stored.get("settings", {}).items():
                if name in self.commands:
                    self.settings[name] = tuple(values)
        except (TypeError, ValueError, KeyError) as exc:
            self.port.log.warning("stored_settings_ignored", why=repr(exc))

    async def _persist(self, **values: Any) -> None:
        """E30: with AT+SYSSTORE=1 a setter's value is saved for the port."""
        if self.sysstore:
            await self.port.store.asave({**self.port.store.load(), **values})

    async def reset(self) -> Outcome:
        """E7: links closed without notices, the server stopped, the defaults
        and then what is stored; `ready` after the pause."""
        self.server.stop(close_peers=True)
        self.links.close_all()
        self._defaults()
        self.server.defaults()
        self._restore()
        self.port.log.info("reset")
        line = self._boot_line()
        switch, self.uart = line != self.uart, line

        async def restart() -> None:
            if switch:  # E29: back to AT+UART_DEF's line, after the OK
                await self._switch_line(line)
            self._greet()  # E7: the pause counts from the OK

        return Outcome(replies.OK, after=restart)

    async def restore(self) -> Outcome:
        """E30: AT+RESTORE clears what is stored, then resets."""
        await self.port.store.asave({})
        return await self.reset()

    async def deep_sleep(self, milliseconds: int) -> Outcome:
        """E31: AT+GSLP answers its time, then resets as E7."""
        outcome = await self.reset()
        return Outcome(b"%d\r\n" % milliseconds + outcome.reply, after=outcome.after)

    # -- lines, echo, busy, errors (E3-E6) --------------------------------------------

    def echo(self, line: bytes) -> bytes:
        return line + self.profile.echo_end if self.echoing else b""

    def busy_reply(self, line: bytes) -> bytes:
        return (replies.CODE_BUSY if self.syslog else b"") + replies.BUSY

    def unknown(self, line: bytes) -> Outcome:
        return Outcome((replies.CODE_UNKNOWN if self.syslog else b"") + replies.ERROR)

    def refused(self, refusal: Refused) -> Outcome:
        code = replies.CODE_PARAMETER if self.syslog else b""
        return Outcome(code + (refusal.error or replies.ERROR))

    def on_line_too_long(self) -> Outcome:
        return Outcome(replies.ERROR)  # E3

    def setting_reply(self, setting: Setting, form: Form) -> bytes:
        if form is Form.SET:
            return replies.OK
        return replies.value(setting.name, setting.text(self.setting(setting.name))) + replies.OK

    async def setting_changed(self, setting: Setting) -> None:
        if setting.persisted:
            await self._persist_setting(setting.name)

    async def _persist_setting(self, name: str) -> None:
        if self.sysstore:
            stored = self.port.store.load()
            saved = {**stored.get("settings", {}), name: list(self.settings[name])}
            await self.port.store.asave({**stored, "settings": saved})

    async def attention(self) -> Outcome:
        return Outcome(replies.OK)

    async def echo_off(self) -> Outcome:
        self.echoing = False
        return Outcome(replies.OK)

    async def echo_on(self) -> Outcome:
        self.echoing = True
        return Outcome(replies.OK)

    async def version(self) -> Outcome:
        return Outcome(replies.version(__version__, self.profile, BUILD_DATE))

    async def set_syslog(self, value: int) -> Outcome:
        self.syslog = bool(value)
        return Outcome(replies.OK)

    async def query_syslog(self) -> Outcome:
        return Outcome(replies.value("SYSLOG", str(int(self.syslog))) + replies.OK)

    async def set_sysstore(self, value: int) -> Outcome:
        self.sysstore = bool(value)
        return Outcome(replies.OK)

    async def query_sysstore(self) -> Outcome:
        return Outcome(replies.value("SYSSTORE", str(int(self.sysstore))) + replies.OK)

    # -- links (E15-E20) ---------------------------------------------------------------

    def _link_opened(self) -> None:
        self.station.had_link = True  # E18: STATUS 4 once every link is closed again

    def notice(self, word: bytes, link_id: int) -> bytes:
        return replies.link_notice(word, link_id, self.multiple)

    async def set_mux(self, value: int) -> Outcome:
        """E15."""
        if value != self.multiple and (len(self.links) or self.server.running):
            raise bad("links or the server are open")
        if value and self.passthrough_mode:
            raise bad("CIPMODE=1 allows a single connection only")
        self.multiple = bool(value)
        return Outcome(replies.OK)

    async def query_mux(self) -> Outcome:
        return Outcome(replies.value("CIPMUX", str(int(self.multiple))) + replies.OK)

    async def start(self, request: Start) -> Outcome:
        """E16: CONNECT then OK; failures ERROR then CLOSED, both in the reply."""
        if self.station.joined is None:
            return Outcome(self.profile.no_ip + replies.ERROR)
        if self.links.get(request.link_id) is not None:
            return Outcome(replies.ALREADY + replies.ERROR)
        notice_closed = self.notice(b"CLOSED", request.link_id)
        try:
            with trio.fail_after(self.port.settings.connect_timeout):
                link = await self._connect(request)
        except (trio.TooSlowError, LinkError) as exc:
            self.port.log.warning("connect_failed", host=request.host, remote_port=request.port,
                                  kind=request.kind, why=str(exc) or "timeout")
            dns_fail = self.profile.dns_fail if isinstance(exc, ResolveError) else b""
            return Outcome(dns_fail + replies.ERROR + notice_closed)
        self.links.add(link, request.link_id)
        self._link_opened()
        return Outcome(self.notice(b"CONNECT", request.link_id) + replies.OK)

    async def start_any(self, request: Start) -> Outcome:
        """E16: AT+CIPSTARTEX takes the lowest free id (always shown)."""
        number = self.links.free_id() if self.multiple else 0
        if number is None:
            return Outcome(replies.ERROR)
        multiple, self.multiple = self.multiple, True  # the id is shown even with CIPMUX=0
        try:
            return await self.start(replace(request, link_id=number))
        finally:
            self.multiple = multiple

    async def _connect(self, request: Start) -> Link:
        settings = self.port.settings
        resolver = self.services.resolver.resolve
        capacity = settings.link_buffer
        if request.kind == "UDP":
            listener = request.host == UDP_LISTENER
            return await open_udp(role=Role.CLIENT,
                                  bind_host=request.local_ip or settings.bind_address,
                                  local_port=request.local_port,
                                  peer=None if listener else (request.host, request.port),
                                  inbound_capacity=capacity, resolver=resolver,
                                  peer_changes={0: 0, 1: 1, 2: None}[request.udp_mode])
        if request.kind == "SSL":
            context = self.tls.client(request.host)
            link: TcpLink = await connect_tls(
                request.host, request.port, context, inbound_capacity=capacity,
                resolver=resolver, server_name=self.sni.get(request.link_id),
                alpn=self.alpn.get(request.link_id, ()))
        else:
            link = await connect_tcp(request.host, request.port, inbound_capacity=capacity,
                                     resolver=resolver)
        if request.keepalive:
            link.keep_alive(request.keepalive)
        self._tcp_options(link, request.link_id)
        return link

    def _tcp_options(self, link: TcpLink, number: int) -> None:
        """E31: AT+CIPTCPOPT's nodelay and keepalive for link ``number``."""
        options = self.settings.get(f"CIPTCPOPT{number}")
        if options:
            _, nodelay, _, keepalive = options
            sock = link.socket_stream.socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
            if keepalive:
                link.keep_alive(keepalive)

    async def status(self) -> Outcome:
        """E18: STATUS and one +CIPSTATUS line per link."""
        number = self.station.status(bool(len(self.links)),
                                     five_when_unjoined=self.profile.station_status_5_when_unjoined)
        return Outcome(b"STATUS:%d\r\n" % number + self._link_lines(b"+CIPSTATUS")
                       + replies.OK)

    async def query_state_links(self) -> Outcome:
        """E18: AT+CIPSTATE? (2.4)."""
        return Outcome(self._link_lines(b"+CIPSTATE") + replies.OK)

    def _link_lines(self, prefix: bytes) -> bytes:
        lines = []
        for link in self.links:
            remote = link.remote or ("0.0.0.0", 0)
            lines.append(replies.status_line(prefix, link.con_id, STATUS_KINDS[link.proto],
                                             remote, link.local[1], link.role is Role.SEED))
        return b"".join(lines)

    async def close(self, number: int) -> Outcome:
        """E19: CLOSED notices then OK; id 5 closes every link."""
        link = self.links.get(number)
        if link is None and number != ALL_LINKS:
            return Outcome((self.profile.unlink if self.multiple else b"") + replies.ERROR)
        closing = [link] if link is not None else list(self.links)
        for each in closing:
            if self.close_modes.get(each.con_id) and isinstance(each, TcpLink):
                each.reset_on_close()

        def commit() -> None:
            for each in closing:
                self.links.close(each)

        return Outcome(b"".join(self.notice(b"CLOSED", each.con_id) for each in closing)
                       + replies.OK, commit=commit)

    async def set_close_mode(self, number: int, mode: int) -> Outcome:
        self.close_modes[number] = mode
        return Outcome(replies.OK)

    # -- how link data reaches the host (Framing, E24, E25) ------------------------------

    def delivery(self, link: Link) -> Delivery:
        if self.transparent.link is link:
            return Delivery.RAW
        if self.passive and (self.profile.passive_udp or link.proto is not Proto.UDP):
            return Delivery.ANNOUNCE
        return Delivery.FORWARD

    def frame_limit(self, link: Link) -> int:
        """E24: ipd_chunk bytes a frame; a datagram is never split."""
        return MAX_DATAGRAM if link.proto is Proto.UDP else self.port.settings.ipd_chunk

    def data_frame(self, link: Link, data: bytes, source: Address | None) -> bytes:
        where = self._source(link, source) if self.dinfo else None
        return replies.received(link.con_id if self.multiple else None, data, where)

    def _source(self, link: Link, source: Address | None) -> bytes:
        peer = source or link.remote or ("0.0.0.0", 0)
        return replies.address(peer[0], peer[1], self.profile)

    def announcement(self, link: Link, size: int) -> bytes:
        return replies.announced(link.con_id if self.multiple else None, size)

    def end_frame(self, link: Link) -> bytes:
        return self.notice(b"CLOSED", link.con_id)

    async def set_recv_mode(self, mode: int) -> Outcome:
        """E25: the mode is the port's, not per link."""

        def commit() -> None:
            self.passive = bool(mode)
            self.links.wake()

        return Outcome(replies.OK, commit=commit)

    async def set_recv_type(self, number: int, mode: int) -> Outcome:
        return await self.set_recv_mode(mode)

    async def query_recv_mode(self) -> Outcome:
        return Outcome(replies.value("CIPRECVMODE", str(int(self.passive))) + replies.OK)

    async def query_recv_type(self) -> Outcome:
        ids = LINK_IDS if self.multiple else range(1)
        return Outcome(b"".join(b"+CIPRECVTYPE:%d,%d\r\n" % (number, self.passive)
                                for number in ids) + replies.OK)

    async def recv_data(self, number: int, most: int) -> Outcome:
        """E25: up to ``most`` bytes of the link's buffer (one datagram)."""
        link = self.links.get(number)
        if not self.passive or link is None or link.inbound is None:
            raise bad("no buffered data")
        taken = link.inbound.take(most)
        if taken is None:
            raise bad("nothing buffered")
        data, source = taken
        self.links.account("link_rx", link, data)
        where = self._source(link, source) if self.dinfo else None

        def commit() -> None:
            link.announced = False
            link.inbound.wake()  # type: ignore[union-attr]

        return Outcome(replies.recv_data(data, where, self.profile), commit=commit)

    async def query_recv_lengths(self) -> Outcome:
        """E25: every id's buffered bytes; -1 (2.4) / 0 (1.7) for ids with no link."""
        sizes = []
        for number in LINK_IDS:
            link = self.links.get(number)
            sizes.append(link.inbound.size if link is not None and link.inbound is not None
                         else self.profile.unused_link_length)
        return Outcome(b"+CIPRECVLEN:%s\r\n" % b",".join(b"%d" % s for s in sizes)
                       + replies.OK)

    async def set_dinfo(self, value: int) -> Outcome:
        self.dinfo = bool(value)
        return Outcome(replies.OK)

    async def query_dinfo(self) -> Outcome:
        """As the firmware answers it: ``+CIPDINFO:true`` / ``false``."""
        return Outcome(replies.value("CIPDINFO", "true" if self.dinfo else "false") + replies.OK)

    # -- sending (E21-E23) ----------------------------------------------------------------

    async def send(self, request: Send) -> Outcome:
        return self._prompt(request, None)

    async def send_ex(self, request: Send) -> Outcome:
        return self._prompt(request, b"\\0")

    def _prompt(self, request: Send, terminator: bytes | None) -> Outcome:
        link = self.links.get(request.link_id)
        if link is None:
            return Outcome(replies.NOT_VALID + replies.ERROR)
        if request.dest is not None and not isinstance(link, UdpLink):
            raise bad("a destination is for UDP links")
        self._pending_send = (link, request.dest)
        return Outcome(self.profile.prompt, ExpectPayload(request.length, terminator))

    async def on_payload(self, data: bytes) -> Outcome:
        assert self._pending_send is not None
        (link, dest), self._pending_send = self._pending_send, None
        received = b"\r\nRecv %d bytes\r\n" % len(data)
        if link.closed or (link.inbound is not None and link.inbound.ended
                                           and not isinstance(link, UdpLink)):
            return Outcome(received + replies.SEND_FAIL)
        try:
            if dest is not None:
                _, sockaddr = await self.services.resolver.resolve(dest[0], dest[1],
                                                                   socket.SOCK_DGRAM)
                dest = (sockaddr[0], sockaddr[1])
            await link.send(data, dest)
        except LinkError as exc:
            self.port.log.warning("send_failed", con_id=link.con_id, why=str(exc))
            return Outcome(received + replies.SEND_FAIL)
        self.links.account("link_tx", link, data)
        return Outcome(received + replies.SEND_OK)

    async def set_transfer_mode(self, value: int) -> Outcome:
        """E23: AT+CIPMODE."""
        if value and self.multiple:
            raise bad("passthrough needs CIPMUX=0")
        self.passthrough_mode = bool(value)
        return Outcome(replies.OK)

    async def query_transfer_mode(self) -> Outcome:
        return Outcome(replies.value("CIPMODE", str(int(self.passthrough_mode))) + replies.OK)

    async def passthrough(self) -> Outcome:
        """E23: AT+CIPSEND with CIPMODE=1 and one link."""
        link = self.links.get(0)
        if not self.passthrough_mode or self.multiple or link is None:
            raise bad("passthrough needs CIPMODE=1, CIPMUX=0 and a link")
        return self.transparent.enter(link, replies.PASSTHROUGH_PROMPT)

    def on_escape(self) -> Outcome:
        return self.transparent.leave(b"")  # E23: `+++` prints nothing

    # -- SSL settings (E17) ------------------------------------------------------------------

    async def set_ssl_config(self, number: int, auth: int, pki: int, ca: int) -> Outcome:
        """Stored and shown; verification stays the port's (tls_verify)."""
        self.ssl_config[number] = (auth, pki, ca)
        await self._persist(ssl={str(k): list(v) for k, v in self.ssl_config.items()})
        return Outcome(replies.OK)

    async def query_ssl_config(self) -> Outcome:
        ids = LINK_IDS if self.multiple else range(1)
        return Outcome(b"".join(b"+CIPSSLCCONF:%d,%d,%d,%d\r\n" % (
            number, *self.ssl_config.get(number, (0, 0, 0))) for number in ids) + replies.OK)

    async def ssl_size(self, size: int) -> Outcome:
        return Outcome(self.profile.ssl_size_answer)

    async def set_sni(self, number: int, name: str) -> Outcome:
        self.sni[number] = name
        return Outcome(replies.OK)

    async def query_sni(self) -> Outcome:
        return Outcome(b"".join(b'+CIPSSLCSNI:%d,"%s"\r\n' % (number, name.encode())
                                for number, name in sorted(self.sni.items())) + replies.OK)

    async def set_alpn(self, number: int, protocols: tuple[str, ...]) -> Outcome:
        self.alpn[number] = protocols
        return Outcome(replies.OK)

    async def query_alpn(self) -> Outcome:
        return Outcome(b"".join(b"+CIPSSLCALPN:%d%s\r\n" % (number, b"".join(
            b',"%s"' % name.encode() for name in names))
            for number, names in sorted(self.alpn.items())) + replies.OK)

    # -- the UART (E29) ----------------------------------------------------------------------

    async def set_uart(self, line: LineSettings, *, persist: bool) -> Outcome:
        """OK at the old settings, then a serial device really switches."""
        self.uart = line
        if persist:  # whatever AT+SYSSTORE says: the firmware always saves UART_DEF
            await self.port.store.asave({**self.port.store.load(),
                                         "uart": list(astuple(line))})
        return Outcome(replies.OK, after=partial(self._switch_line, line))

    async def _switch_line(self, line: LineSettings) -> None:
        applied = await self.port.switch_uart(line)
        self.port.log.info("uart_switched" if applied else "uart_recorded",
                           baudrate=line.baudrate, bits=line.bytesize,
                           stopbits=line.stopbits, parity=line.parity, flow=line.flow)

    def _configured_line(self) -> LineSettings:
        settings = self.port.settings
        return LineSettings(settings.baudrate, flow=int(settings.flow_control == "rtscts"))

    def _boot_line(self) -> LineSettings:
        """E29/E30: the line a boot or reset comes up with: AT+UART_DEF's,
        else the port's configuration."""
        stored = self.port.store.load().get("uart")
        try:
            return LineSettings(*stored) if stored else self._configured_line()
        except TypeError:
            self.port.log.warning("stored_settings_ignored", why=f"uart {stored!r}")
            return self._configured_line()

    async def set_uart_current(self, *values: int) -> Outcome:
        return await self.set_uart(LineSettings(*values), persist=False)

    async def set_uart_default(self, *values: int) -> Outcome:
        return await self.set_uart(LineSettings(*values), persist=True)

    async def query_uart(self) -> Outcome:
        return Outcome(replies.value("UART_CUR", ",".join(
            str(value) for value in astuple(self.uart))) + replies.OK)

    async def query_uart_default(self) -> Outcome:
        return Outcome(replies.value("UART_DEF", ",".join(
            str(value) for value in astuple(self._boot_line()))) + replies.OK)

    async def set_tcp_options(self, number: int, *values: int) -> Outcome:
        """E31: stored per link; nodelay and keepalive apply to TCP links."""
        self.settings[f"CIPTCPOPT{number}"] = values
        link = self.links.get(number)
        if isinstance(link, TcpLink):
            self._tcp_options(link, number)
        return Outcome(replies.OK)

    async def query_tcp_options(self) -> Outcome:
        ids = LINK_IDS if self.multiple else range(1)
        return Outcome(b"".join(b"+CIPTCPOPT:%d,%s\r\n" % (number, b",".join(
            b"%d" % v for v in self.settings.get(f"CIPTCPOPT{number}", (-1, 0, 0, 0))))
            for number in ids) + replies.OK)
