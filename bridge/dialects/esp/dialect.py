"""The ESP-AT dialect (esp-at.md E1-E31, profiles 2.4 and 1.7).

``COMMANDS`` at the end is the command table; settings the module only
stores and shows are ``Setting`` rows. Every failure is ``ERROR`` unless an
item says otherwise (E6). The port keeps unsolicited frames out of a
command's reply and spaces them after it (E26), and answers ``busy p...``
to lines that arrive while a command runs (E5).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import trio

from ... import __version__
from ...at.args import Param, Signature, int_in, unquote
from ...at.commands import (
    Action,
    CommandTable,
    ExpectPayload,
    Form,
    Outcome,
    Refused,
    Row,
    Setting,
    row,
)
from ...at.framer import Framer, Packing, plus_escape
from ...links.inbound import Address
from ...links.link import Link, Proto, Role
from ...links.tcp import TcpLink, TcpServerLink, connect_tcp, listen_tcp
from ...links.tls import connect_tls
from ...links.udp import UdpLink, open_udp
from ...net.clock import SntpSettings
from ...net.errors import LinkError, ResolveError
from ...net.services import NetworkServices, PingFailed
from ...uart.line import LineSettings
from ..api import PortServices
from ..base import DialectBase
from ..links import Delivery, Ending, Links, LowestFreeId
from ..tls import TlsContexts
from ..transparent import Transparent
from . import replies
from .args import (
    ALL_LINKS,
    LINK_IDS,
    UDP_LISTENER,
    Send,
    Server,
    Start,
    bad,
    parse,
    parse_close,
    parse_id_and,
    parse_send,
    parse_server,
    parse_start,
    string,
    switch,
)
from .replies import PROFILES, Profile
from .station import VirtualStation

LINE_LIMIT = 256  # E3
PACKET = Packing(size=1460, quiet=0.020)  # E23, as CIP's passthrough
KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 1, 3  # E16, as CIP's
BUILD_DATE = "Nov 30 2026 00:00:00"
SERVER_PORT = 333  # E27
DHCP_BOTH = 3  # E13: AT+CWDHCP's state at boot: station and SoftAP DHCP on
COUNTRY = (0, "CN", 1, 13)  # E13: AT+CWCOUNTRY's policy, code, first channel, channels
SOFTAP_ADDRESSES = ("192.168.4.1", "192.168.4.1", "255.255.255.0")  # E8: ip, gateway, netmask
MAX_DATAGRAM = 65535
STATUS_KINDS = {Proto.TCP: "TCP", Proto.UDP: "UDP", Proto.SSL: "SSL"}


def make_framer(line_limit: int, guard: float) -> Framer:
    return Framer(line_limit=line_limit, guard=guard, escape=plus_escape(guard), packing=PACKET)


class EspDialect(DialectBase):
    holds_reply_span = True  # E26

    def __init__(self, port: PortServices) -> None:
        super().__init__(port)
        settings = port.settings
        self.profile: Profile = PROFILES[settings.esp_at_version]
        self.commands = TABLES[self.profile.name]
        self.reply_gap = settings.urc_gap_ms / 1000
        self.framer = make_framer(min(settings.line_limit, LINE_LIMIT), settings.guard_ms / 1000)
        self.links = Links(port, LINK_IDS, self, Ending.FREE)  # E20, E25
        self.transparent = Transparent(port, self.links, self.framer, lost_notice=b"",
                                       datagram_size=PACKET.size)
        self.tls = TlsContexts(settings, port.state_dir, port.log)
        self.services = NetworkServices(settings, port.log)
        self.station = VirtualStation(list(settings.wifi_networks), settings.interface)
        self.admission = LowestFreeId()
        self.server: TcpServerLink | None = None
        self.server_config: Server | None = None
        self.uart = self._configured_line()
        self._greeting: trio.CancelScope | None = None
        self._pending_send: tuple[Link | None, Address | None, int] | None = None
        self._closing: list[Link] = []  # links a station change closes with its reply
        self._defaults()

    def _defaults(self) -> None:
        """E7: what a reset restores (then what is stored, E30)."""
        self.echo_on = True
        self.multiple = False  # AT+CIPMUX
        self.passthrough_mode = False  # AT+CIPMODE
        self.passive = False  # AT+CIPRECVMODE
        self.dinfo = False  # AT+CIPDINFO
        self.syslog = False  # AT+SYSLOG
        self.sysstore = True  # AT+SYSSTORE
        self.max_conn = 5  # AT+CIPSERVERMAXCONN
        self.server_timeout = 180  # AT+CIPSTO
        self.close_modes: dict[int, int] = {}  # AT+CIPCLOSEMODE
        self.ssl_config: dict[int, tuple[int, int, int]] = {}  # AT+CIPSSLCCONF
        self.sni: dict[int, str] = {}  # AT+CIPSSLCSNI
        self.alpn: dict[int, tuple[str, ...]] = {}  # AT+CIPSSLCALPN
        self.settings.clear()
        self.services.resolver.servers = ()  # AT+CIPDNS=0: the system resolver
        self._dns_enabled = False
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
            dns = stored.get("dns")
            if dns is not None:  # [] is AT+CIPDNS=1 with no server: the system resolver
                self.services.resolver.servers = tuple(dns)
                self._dns_enabled = True
            sntp = stored.get("sntp")
            self.services.clock.reset(self.port.start_task,
                                      SntpSettings(bool(sntp[0]), int(sntp[1]), tuple(sntp[2]))
                                      if sntp else SntpSettings())
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
        self._stop_server(close_peers=True)
        self.links.close_all()
        self._defaults()
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
        return line + self.profile.echo_end if self.echo_on else b""

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

    async def set_echo(self, on: bool) -> Outcome:
        self.echo_on = on
        return Outcome(replies.OK)

    async def echo_off(self) -> Outcome:
        return await self.set_echo(False)

    async def echo_on_(self) -> Outcome:
        return await self.set_echo(True)

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

    # -- the virtual station (E8-E14) ---------------------------------------------------

    async def set_mode(self, mode: int, autoconnect: int | None = None, *,
                       called_as: str = "CWMODE") -> Outcome:
        """E8: modes 0 and 2 drop the station."""
        reply = b""
        if mode in (0, 2) and self.station.joined is not None:
            reply = self._disconnect_station()
        self.station.mode = mode
        if saves(called_as):
            await self._persist(cwmode=mode)
        return Outcome(reply + replies.OK, commit=self._close_for_station)

    async def query_mode(self, *, called_as: str = "CWMODE") -> Outcome:
        return Outcome(replies.value(called_as, str(self.station.mode)) + replies.OK)

    def _disconnect_station(self) -> bytes:
        """CLOSED notices for every link, then WIFI DISCONNECT (E9, E10);
        the links close when the reply is written (``_close_for_station``)."""
        self._closing = list(self.links)
        notices = b"".join(self.notice(b"CLOSED", link.con_id) for link in self._closing)
        self.station.leave()
        return notices + replies.DISCONNECTED

    def _close_for_station(self) -> None:
        for link in self._closing:
            self.links.close(link)
        self._closing = []

    async def join(self, ssid: str, password: str, *rest: Any,
                   called_as: str = "CWJAP") -> Outcome:
        """E9: join any SSID (or a configured one), WIFI CONNECTED, WIFI GOT IP, OK."""
        if not self.station.enabled:
            raise bad("AT+CWJAP needs station mode (AT+CWMODE=1 or 3)")
        reply = b""
        if self.station.joined is not None:
            reply = self._disconnect_station()
        failure = self.station.join(ssid, password)
        if failure is not None:
            self.port.log.info("join_failed", ssid=ssid, why=failure.name.lower())
            return Outcome(reply + b"+CWJAP:%d\r\n" % failure.value + self.profile.join_failure,
                           commit=self._close_for_station)
        self.port.log.info("joined", ssid=ssid)
        if saves(called_as):
            await self._persist(network=[ssid, password])
        return Outcome(reply + replies.CONNECTED + replies.GOT_IP + replies.OK,
                       commit=self._close_for_station)

    async def query_join(self, *, called_as: str = "CWJAP") -> Outcome:
        """E10: 1.7 answers `+CWJAP_CUR:` to both AT+CWJAP_CUR? and AT+CWJAP_DEF?."""
        network = self.station.joined
        if network is None:
            return Outcome(replies.NO_AP + replies.OK)
        fields = [replies.quoted(network.ssid), b'"%s"' % (network.bssid or "").encode(),
                  b"%d" % network.channel, b"%d" % network.rssi]
        fields += [b"0"] * (self.profile.cwjap_fields - 4)
        name = b"CWJAP" if called_as == "CWJAP" else b"CWJAP_CUR"
        return Outcome(b"+%s:%s\r\n" % (name, b",".join(fields)) + replies.OK)

    async def query_state(self) -> Outcome:
        """E10: 0 never joined, 2 got an address, 4 disconnected."""
        joined = self.station.joined
        ssid = replies.quoted(joined.ssid) if joined is not None else b'""'
        return Outcome(b"+CWSTATE:%d,%s\r\n" % (self.station.state.value, ssid) + replies.OK)

    async def quit(self) -> Outcome:
        """E10: AT+CWQAP."""
        if self.station.joined is None:
            return Outcome(replies.OK)
        self.port.log.info("quit")
        return Outcome(self._disconnect_station() + replies.OK, commit=self._close_for_station)

    async def scan(self, ssid: str | None = None, mac: str | None = None,
                   channel: int | None = None, *scan_times: int) -> Outcome:
        """E14: the configured networks and the joined one, strongest first,
        fields per AT+CWLAPOPT's mask, none weaker than its RSSI filter or
        of an ecn its authmode mask leaves out;
        ``AT+CWLAP=[<ssid>][,<mac>][,<channel>][,<scan type>,<min>,<max>]``
        filters them (the scan times mean nothing here)."""
        _, mask, weakest, authmodes = self.setting("CWLAPOPT")
        lines = []
        for network in self.station.scan():
            ecn = 3 if network.password else 0  # WPA2_PSK or OPEN
            if (ssid and network.ssid != ssid) or (channel and network.channel != channel) \
                    or (mac and network.bssid != mac.lower()) or network.rssi < weakest \
                    or not authmodes >> ecn & 1:
                continue
            fields = [b"%d" % ecn, replies.quoted(network.ssid),
                      b"%d" % network.rssi, b'"%s"' % (network.bssid or "").encode(),
                      b"%d" % network.channel, b"-1", b"-1", b"4", b"4", b"7", b"0"]
            shown = [field for bit, field in enumerate(fields) if mask >> bit & 1]
            lines.append(b"+CWLAP:(%s)\r\n" % b",".join(shown))
        return Outcome(b"".join(lines) + replies.OK)

    async def addresses(self) -> Outcome:
        """E12: AT+CIFSR."""
        station = self.station.addresses()
        return Outcome(b'+CIFSR:STAIP,"%s"\r\n+CIFSR:STAMAC,"%s"\r\n' % (
            station.address.encode(), station.mac.encode()) + replies.OK)

    async def query_station(self, *, called_as: str = "CIPSTA") -> Outcome:
        """E12: AT+CIPSTA? (1.7 also AT+CIPSTA_CUR?: +CIPSTA_CUR:)."""
        station = self.station.addresses()
        return Outcome(replies.addresses(called_as.encode(), station.address, station.gateway,
                                         station.netmask) + replies.OK)

    async def query_mac(self, *, called_as: str = "CIPSTAMAC") -> Outcome:
        return Outcome(b'+%s:"%s"\r\n' % (called_as.encode(), self.station.mac().encode())
                       + replies.OK)

    async def set_softap_addresses(self, *addresses: str) -> Outcome:
        """E8: stored and shown, nothing more."""
        self.settings["CIPAP"] = addresses
        await self._persist_setting("CIPAP")
        return Outcome(replies.OK)

    async def query_softap_addresses(self) -> Outcome:
        """E8: in CIPSTA?'s form."""
        return Outcome(replies.addresses(b"CIPAP", *self.settings.get("CIPAP", SOFTAP_ADDRESSES))
                       + replies.OK)

    async def set_dhcp(self, operate: int, mode: int, *, called_as: str = "CWDHCP") -> Outcome:
        """E13: <operate> turns the <mode> bits (0 station, 1 SoftAP) on or off."""
        state = self._dhcp_state()
        self.settings["CWDHCP"] = ((state | mode) if operate else (state & ~mode),)
        if saves(called_as):
            await self._persist_setting("CWDHCP")
        return Outcome(replies.OK)

    async def query_dhcp(self, *, called_as: str = "CWDHCP") -> Outcome:
        return Outcome(replies.value(called_as, str(self._dhcp_state())) + replies.OK)

    def _dhcp_state(self) -> int:
        return int(self.settings.get("CWDHCP", (DHCP_BOTH,))[0])

    async def store_only(self, *values: Any, called_as: str = "") -> Outcome:
        """E13: a setter that must not change the board's networking."""
        return Outcome(replies.OK)

    async def set_sysmsg(self, value: int, *, called_as: str = "SYSMSG") -> Outcome:
        """E31: stored and shown; 1.7's AT+SYSMSG_DEF saves it too."""
        self.settings["SYSMSG"] = (value,)
        if called_as.endswith("_DEF"):
            await self._persist_setting("SYSMSG")
        return Outcome(replies.OK)

    async def query_sysmsg(self, *, called_as: str = "SYSMSG") -> Outcome:
        return Outcome(replies.value(called_as, str(self.settings.get("SYSMSG", (0,))[0]))
                       + replies.OK)

    async def set_country(self, *values: Any, called_as: str = "CWCOUNTRY") -> Outcome:
        """E13: stored and shown; 1.7's AT+CWCOUNTRY_DEF saves it too (Mbed's
        driver sets _DEF and _CUR at start)."""
        self.settings["CWCOUNTRY"] = values
        if called_as.endswith("_DEF"):
            await self._persist_setting("CWCOUNTRY")
        return Outcome(replies.OK)

    async def query_country(self, *, called_as: str = "CWCOUNTRY") -> Outcome:
        policy, code, first, count = self.settings.get("CWCOUNTRY", COUNTRY)
        return Outcome(replies.value(called_as, f'{policy},"{code}",{first},{count}')
                       + replies.OK)

    # -- links (E15-E20) ---------------------------------------------------------------

    def notice(self, word: bytes, link_id: int) -> bytes:
        return replies.link_notice(word, link_id, self.multiple)

    async def set_mux(self, value: int) -> Outcome:
        """E15."""
        if value != self.multiple and (len(self.links) or self.server is not None):
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
        self.station.had_link = True
        return Outcome(self.notice(b"CONNECT", request.link_id) + replies.OK)

    async def start_any(self, request: Start) -> Outcome:
        """E16: AT+CIPSTARTEX takes the lowest free id (always shown)."""
        number = self.links.free_id() if self.multiple else 0
        if number is None:
            return Outcome(replies.ERROR)
        multiple, self.multiple = self.multiple, True  # the id is shown even with CIPMUX=0
        try:
            return await self.start(Start(number, *_fields_after_id(request)))
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
            _keepalive(link.socket_stream.socket, request.keepalive)
        self._tcp_options(link)
        return link

    def _tcp_options(self, link: TcpLink) -> None:
        """E31: AT+CIPTCPOPT's nodelay and keepalive."""
        options = self.settings.get(f"CIPTCPOPT{link.con_id if link.con_id >= 0 else 0}")
        if options:
            _, nodelay, _, keepalive = options
            sock = link.socket_stream.socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
            if keepalive:
                _keepalive(sock, keepalive)

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
                _abort_on_close(each)

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
        self._pending_send = (link, request.dest, request.length)
        return Outcome(self.profile.prompt, ExpectPayload(request.length, terminator))

    async def on_payload(self, data: bytes) -> Outcome:
        assert self._pending_send is not None
        (link, dest, _), self._pending_send = self._pending_send, None
        received = b"\r\nRecv %d bytes\r\n" % len(data)
        if link is None or link.closed or (link.inbound is not None and link.inbound.ended
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

    # -- the server (E27) ------------------------------------------------------------------

    async def set_server(self, request: Server) -> Outcome:
        if not request.enable:
            if self.server is None:
                return Outcome(self.profile.no_change + replies.OK)
            closed = self._stop_server(close_peers=request.close_all)
            return Outcome(b"".join(self.notice(b"CLOSED", peer.con_id) for peer in closed)
                           + replies.OK)
        if not self.multiple or self.server is not None:
            raise bad("a server needs CIPMUX=1, and there is one")
        try:
            context = self.tls.server() if request.ssl else None
            server = await listen_tcp(self.port.settings.bind_address, request.port,
                                      proto=Proto.SSL if request.ssl else Proto.TCP)
        except LinkError as exc:
            self.port.log.warning("server_failed", local_port=request.port, why=str(exc))
            return Outcome(replies.ERROR)
        server.on_accept = self._acceptor(server, context)
        self.server, self.server_config = server, request
        self.port.start_link(server, self.links.pump)
        self.port.start_task(self._expire_idle_peers, server)
        self.port.log.info("server_listening", local_port=request.port, ssl=request.ssl)
        return Outcome(replies.OK)

    def _stop_server(self, *, close_peers: bool) -> list[Link]:
        """Stop listening; with ``close_peers`` close the open peers too and
        return them in id order (AT+CIPSERVER=0,1 tells each one's CLOSED)."""
        server, self.server, self.server_config = self.server, None, None
        if server is None:
            return []
        closed = sorted((peer for peer in server.seeds if not peer.closed),
                        key=lambda peer: peer.con_id) if close_peers else []
        for peer in closed:
            self.links.close(peer)
        server.seeds = []
        server.close()
        return closed

    async def query_server(self) -> Outcome:
        config = self.server_config
        if config is None:
            return Outcome(b"+CIPSERVER:0\r\n" + replies.OK)
        return Outcome(b'+CIPSERVER:1,%d,"%s",%d\r\n' % (config.port,
                                                          b"SSL" if config.ssl else b"TCP",
                                                          config.ca) + replies.OK)

    def _acceptor(self, server: TcpServerLink, context: object | None) -> Any:
        async def accept(stream: trio.SocketStream) -> None:
            if context is None:
                await self._admit(server, TcpLink(stream, stream, role=Role.SEED,
                                                  inbound_capacity=self.port.settings.link_buffer))
            else:
                assert server.pending is not None
                server.pending.start_soon(self._tls_peer, server, stream, context)

        return accept

    async def _tls_peer(self, server: TcpServerLink, stream: trio.SocketStream,
                        context: object) -> None:
        peer = await self.tls.accept_peer(server, stream, context)  # type: ignore[arg-type]
        if peer is not None:
            await self._admit(server, peer)

    async def _admit(self, server: TcpServerLink, peer: TcpLink) -> None:
        """E27: the lowest free id, up to CIPSERVERMAXCONN peers."""
        admission = LowestFreeId(self.max_conn)
        async with self.port.output.frame_slot():
            number = admission.choose(self.links, server)
            if number is None or self.server is not server:
                self.port.log.info("peer_refused", reason="no free id or at CIPSERVERMAXCONN")
                peer.close()
                return
            server.seeds = [s for s in server.seeds if not s.closed] + [peer]
            self.links.add(peer, number)
            self.station.had_link = True
            await self.port.output.send(self.notice(b"CONNECT", number))

    async def _expire_idle_peers(self, server: TcpServerLink) -> None:
        """E27: AT+CIPSTO closes incoming links idle that long (0: never)."""
        seen: dict[Link, tuple[int, int, float]] = {}
        while self.server is server:
            await trio.sleep(1)
            now = trio.current_time()
            for peer in [p for p in server.seeds if not p.closed]:
                traffic = (peer.inbound.arrivals if peer.inbound is not None else 0,
                           peer.bytes_out)
                last = seen.get(peer)
                if last is None or last[:2] != traffic:
                    seen[peer] = (*traffic, now)
                elif self.server_timeout and now - last[2] >= self.server_timeout:
                    self.port.log.info("peer_idle", con_id=peer.con_id)
                    async with self.port.output.frame_slot():
                        if not peer.closed:
                            self.links.close(peer)
                            await self.port.output.send(self.notice(b"CLOSED", peer.con_id))

    async def set_max_conn(self, value: int) -> Outcome:
        self.max_conn = value
        return Outcome(replies.OK)

    async def query_max_conn(self) -> Outcome:
        return Outcome(replies.value("CIPSERVERMAXCONN", str(self.max_conn)) + replies.OK)

    async def set_server_timeout(self, value: int) -> Outcome:
        self.server_timeout = value
        return Outcome(replies.OK)

    async def query_server_timeout(self) -> Outcome:
        return Outcome(replies.value("CIPSTO", str(self.server_timeout)) + replies.OK)

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

    # -- services (E28) ---------------------------------------------------------------------

    async def domain(self, name: str, *network: Any) -> Outcome:
        address = await self.services.lookup(name)
        if address is None:
            return Outcome(self.profile.dns_fail + replies.ERROR)
        shown = b'"%s"' % address.encode() if self.profile.quoted_addresses \
            else address.encode()
        return Outcome(b"+CIPDOMAIN:%s\r\n" % shown + replies.OK)

    async def ping(self, host: str) -> Outcome:
        try:
            milliseconds = await self.services.ping(host)
        except PingFailed:
            milliseconds = None
        if milliseconds is None:
            return Outcome(self.profile.ping_timeout + replies.ERROR)
        return Outcome(self.profile.ping_time % milliseconds + replies.OK)

    async def set_dns(self, enable: int, *servers: str, called_as: str = "CIPDNS") -> Outcome:
        """E13: CIPDNS=1 with no server: the system resolver."""
        if any(servers) and not enable:  # omitted servers are ""
            raise bad("servers are for CIPDNS=1")
        self.services.resolver.servers = tuple(s for s in servers if s) if enable else ()
        self._dns_enabled = bool(enable)
        if saves(called_as):
            await self._persist(dns=list(self.services.resolver.servers) if enable else None)
        return Outcome(replies.OK)

    async def query_dns(self, *, called_as: str = "CIPDNS") -> Outcome:
        """E13: `+CIPDNS:<enable>[,"<server>"...]` (1.7: `+CIPDNS_CUR:<server>` a line
        each, none for the system resolver)."""
        servers = self.services.resolver.servers
        if self.profile.dns_servers_a_line:
            return Outcome(b"".join(replies.value(called_as, server) for server in servers)
                           + replies.OK)
        listed = b"".join(b',"%s"' % server.encode() for server in servers)
        enabled = self._dns_enabled or bool(servers)
        return Outcome(b"+%s:%d%s\r\n" % (called_as.encode(), enabled, listed) + replies.OK)

    async def set_sntp(self, enable: int, timezone: int, *servers: str) -> Outcome:
        names = tuple(server for server in servers if server)
        if enable and not names:
            names = ("pool.ntp.org",)
        self.services.clock.configure(SntpSettings(bool(enable), timezone, names),
                                      self.port.start_task)
        await self._persist(sntp=[enable, timezone, list(names)])
        return Outcome(replies.OK)

    async def query_sntp(self) -> Outcome:
        sntp = self.services.clock.settings
        servers = b"".join(b',"%s"' % server.encode() for server in sntp.servers)
        return Outcome(b"+CIPSNTPCFG:%d,%d%s\r\n" % (sntp.enable, sntp.timezone, servers)
                       + replies.OK)

    async def sntp_time(self) -> Outcome:
        """E28: asctime, local to the configured zone."""
        clock = self.services.clock
        local = time.gmtime(int(clock.epoch()) + clock.settings.timezone * 3600)
        return Outcome(b"+CIPSNTPTIME:%s\r\n" % time.asctime(local).encode() + replies.OK)

    async def timestamp(self) -> Outcome:
        return Outcome(b"+SYSTIMESTAMP:%d\r\n" % int(self.services.clock.epoch()) + replies.OK)

    # -- the UART (E29) ----------------------------------------------------------------------

    async def set_uart(self, line: LineSettings, *, persist: bool) -> Outcome:
        """OK at the old settings, then a serial device really switches."""
        self.uart = line
        if persist:  # whatever AT+SYSSTORE says: the firmware always saves UART_DEF
            await self.port.store.asave({**self.port.store.load(),
                                         "uart": list(_line_values(line))})
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
            str(value) for value in _line_values(self.uart))) + replies.OK)

    async def query_uart_default(self) -> Outcome:
        return Outcome(replies.value("UART_DEF", ",".join(
            str(value) for value in _line_values(self._boot_line()))) + replies.OK)

    async def set_tcp_options(self, number: int, *values: int) -> Outcome:
        """E31: stored per link; nodelay and keepalive apply to TCP links."""
        self.settings[f"CIPTCPOPT{number}"] = values
        link = self.links.get(number)
        if isinstance(link, TcpLink):
            self._tcp_options(link)
        return Outcome(replies.OK)

    async def query_tcp_options(self) -> Outcome:
        ids = LINK_IDS if self.multiple else range(1)
        return Outcome(b"".join(b"+CIPTCPOPT:%d,%s\r\n" % (number, b",".join(
            b"%d" % v for v in self.settings.get(f"CIPTCPOPT{number}", (-1, 0, 0, 0))))
            for number in ids) + replies.OK)


# -- helpers ------------------------------------------------------------------------------------


def _fields_after_id(request: Start) -> tuple[Any, ...]:
    return (request.kind, request.host, request.port, request.keepalive, request.local_port,
            request.udp_mode, request.local_ip)


def _keepalive(sock: trio.socket.SocketType, seconds: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, seconds)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)


def _abort_on_close(link: TcpLink) -> None:
    """E19: AT+CIPCLOSEMODE=<id>,1 closes with a reset."""
    link.socket_stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack("ii", 1, 0))


def _line_values(line: LineSettings) -> tuple[int, int, int, int, int]:
    return line.baudrate, line.bytesize, line.stopbits, line.parity, line.flow


def saves(called_as: str) -> bool:
    """1.7: a `_CUR` name changes only what is current; `_DEF` and the plain
    name save it too (as AT+SYSSTORE=1 does, E30)."""
    return not called_as.endswith("_CUR")


# -- arguments -------------------------------------------------------------------------------


def esp(*required: Param, optional: tuple[Param, ...] = ()) -> Signature:
    """E3: any leading part of the optional parameters, each may be left empty."""
    return Signature(required, optional, count_error=0, all_or_none=False, empty_optional=True)


def number(low: int, high: int, default: Any = None) -> Param:
    return Param(int_in(low, high), default=default)


def text(default: Any = None) -> Param:
    return Param(string, default=default)


def any_text(default: Any = None) -> Param:
    """A string, quoted or not (what ESP-AT accepts for names)."""
    return Param(unquote, default=default)


def start_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Start]:
    return (parse_start(tokens, multiple=dialect.multiple),)


def start_any_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Start]:
    return (parse_start(tokens, multiple=dialect.multiple, has_id=False),)


def send_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Send]:
    return (parse_send(tokens, multiple=dialect.multiple, most=dialect.profile.max_send),)


def close_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int]:
    return (parse_close(tokens, multiple=dialect.multiple),)


def recv_data_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int, int]:
    """E25: ``[<id>,]<max>``, max up to 0x7fffffff as the firmware takes it."""
    return parse_id_and(tokens, multiple=dialect.multiple, parser=int_in(1, 0x7FFFFFFF))


def id_and_switch(tokens: Sequence[str], dialect: Any) -> tuple[int, int]:
    return parse_id_and(tokens, multiple=dialect.multiple, parser=switch)


def server_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Server]:
    return (parse_server(tokens),)


def with_link_id(signature: Signature) -> Any:
    """``[<id>,]<...>``: the id leads with CIPMUX=1 (0 otherwise)."""

    def bind(tokens: Sequence[str], dialect: Any) -> tuple[Any, ...]:
        link = 0
        if dialect.multiple:
            if not tokens:
                raise bad("a link id is needed with CIPMUX=1")
            link, tokens = parse(int_in(0, 4), tokens[0]), tokens[1:]
        return (link, *signature.bind(tokens))

    return bind


def alpn_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int, tuple[str, ...]]:
    """``[<id>,]<count>[,"<protocol>"...]``."""
    link = 0
    if dialect.multiple:
        if not tokens:
            raise bad("a link id is needed with CIPMUX=1")
        link, tokens = parse(int_in(0, 4), tokens[0]), tokens[1:]
    count = parse(int_in(0, 6), tokens[0]) if tokens else 0
    rest = tokens
    names = tuple(parse(string, token) for token in rest[1:])
    if len(names) != count:
        raise bad("ALPN count and names differ")
    return link, names


def uart_signature() -> Signature:
    """E29: baud 80..5000000, 5-8 data bits, stop bits 1-3, parity 0-2, flow 0-3."""
    return esp(number(80, 5_000_000), number(5, 8), number(1, 3), number(0, 2), number(0, 3))


def render_text(values: Sequence[Any]) -> str:
    """A stored string shown as the module shows it: unquoted."""
    return str(values[0])


# -- the table -------------------------------------------------------------------------------

D = EspDialect

ROWS = [
    # basics (E2, E4, E6, E7, E30, E31)
    row("", basic=True, execute=Action(D.attention)),
    row("E0", basic=True, execute=Action(D.echo_off)),
    row("E1", basic=True, execute=Action(D.echo_on_)),
    row("RST", execute=Action(D.reset)),
    row("GMR", execute=Action(D.version)),
    row("RESTORE", execute=Action(D.restore)),
    row("GSLP", set=Action(D.deep_sleep, esp(number(0, 2**31 - 1)))),
    row("SYSLOG", set=Action(D.set_syslog, esp(Param(switch))), query=Action(D.query_syslog)),
    # the virtual station (E8-E14)
    row("CWMODE", set=Action(D.set_mode, esp(number(0, 3), optional=(number(0, 1),))),
        query=Action(D.query_mode)),
    row("CWJAP", set=Action(D.join, slow=True, arguments=esp(text(), text(), optional=(
        text(), number(0, 1), number(0, 7200), number(1, 100), number(0, 1),
        number(3, 600), number(0, 3)))), query=Action(D.query_join)),
    row("CWQAP", execute=Action(D.quit)),
    row("CWLAP", execute=Action(D.scan), set=Action(D.scan, esp(optional=(
        any_text(), any_text(), number(0, 14), number(0, 1), number(0, 1500),
        number(0, 1500))))),
    row("CIFSR", execute=Action(D.addresses)),
    row("CIPSTA", query=Action(D.query_station),
        set=Action(D.store_only, esp(text(), optional=(text(), text())))),
    row("CIPSTAMAC", query=Action(D.query_mac), set=Action(D.store_only, esp(text()))),
    # SoftAP (E8): stored and shown; no station ever joins the virtual SoftAP
    row("CIPAP", query=Action(D.query_softap_addresses), set=Action(D.set_softap_addresses, esp(
        text(), optional=(text(SOFTAP_ADDRESSES[1]), text(SOFTAP_ADDRESSES[2]))))),
    row("CWLIF", execute=Action(D.attention)),
    row("CWDHCP", set=Action(D.set_dhcp, esp(number(0, 1), number(0, 3))),
        query=Action(D.query_dhcp)),
    # links (E15-E20)
    row("CIPMUX", set=Action(D.set_mux, esp(Param(switch))), query=Action(D.query_mux)),
    row("CIPSTART", set=Action(D.start, start_arguments, slow=True)),
    row("CIPSTARTEX", set=Action(D.start_any, start_any_arguments, slow=True)),
    row("CIPSTATUS", execute=Action(D.status)),
    row("CIPCLOSE", execute=Action(D.close, close_arguments),
        set=Action(D.close, close_arguments)),
    row("CIPCLOSEMODE", set=Action(D.set_close_mode, id_and_switch)),
    # sending (E21-E23)
    row("CIPSEND", set=Action(D.send, send_arguments), execute=Action(D.passthrough)),
    row("CIPSENDEX", set=Action(D.send_ex, send_arguments)),
    row("CIPMODE", set=Action(D.set_transfer_mode, esp(Param(switch))),
        query=Action(D.query_transfer_mode)),
    # receiving (E24, E25)
    row("CIPDINFO", set=Action(D.set_dinfo, esp(Param(switch))), query=Action(D.query_dinfo)),
    row("CIPRECVMODE", set=Action(D.set_recv_mode, esp(Param(switch))),
        query=Action(D.query_recv_mode)),
    row("CIPRECVTYPE", set=Action(D.set_recv_type, id_and_switch),
        query=Action(D.query_recv_type)),
    row("CIPRECVDATA", set=Action(D.recv_data, recv_data_arguments)),
    row("CIPRECVLEN", query=Action(D.query_recv_lengths)),
    # the server (E27)
    row("CIPSERVER", set=Action(D.set_server, server_arguments), query=Action(D.query_server)),
    row("CIPSERVERMAXCONN", set=Action(D.set_max_conn, esp(number(1, 5))),
        query=Action(D.query_max_conn)),
    row("CIPSTO", set=Action(D.set_server_timeout, esp(number(0, 7200))),
        query=Action(D.query_server_timeout)),
    # SSL (E17)
    row("CIPSSLCCONF", set=Action(D.set_ssl_config, with_link_id(esp(
        number(0, 3), optional=(number(0, 255, 0), number(0, 255, 0))))),
        query=Action(D.query_ssl_config)),
    row("CIPSSLSIZE", set=Action(D.ssl_size, esp(number(2048, 16384)))),
    row("CIPSSLCSNI", set=Action(D.set_sni, with_link_id(esp(text()))),
        query=Action(D.query_sni)),
    row("CIPSSLCALPN", set=Action(D.set_alpn, alpn_arguments), query=Action(D.query_alpn)),
    # services (E13, E28, E29)
    row("CIPDOMAIN", set=Action(D.domain, esp(any_text(), optional=(number(1, 3),)),
                                slow=True)),
    row("PING", set=Action(D.ping, esp(any_text()), slow=True)),
    row("CIPDNS", set=Action(D.set_dns, esp(Param(switch), optional=(
        any_text(""), any_text(""), any_text("")))), query=Action(D.query_dns)),
    row("CIPSNTPCFG", set=Action(D.set_sntp, esp(Param(switch), number(-12, 14), optional=(
        any_text(""), any_text(""), any_text("")))), query=Action(D.query_sntp)),
    row("CIPSNTPTIME", query=Action(D.sntp_time)),
    row("SYSTIMESTAMP", query=Action(D.timestamp)),
    row("UART_CUR", set=Action(D.set_uart_current, uart_signature()),
        query=Action(D.query_uart)),
    row("UART_DEF", set=Action(D.set_uart_default, uart_signature()),
        query=Action(D.query_uart_default)),
    row("CIPTCPOPT", set=Action(D.set_tcp_options, with_link_id(esp(
        number(-1, 3600), number(0, 1), number(0, 60000), optional=(number(0, 7200, 0),)))),
        query=Action(D.query_tcp_options)),
    row("SYSMSG", set=Action(D.set_sysmsg, esp(number(0, 7))), query=Action(D.query_sysmsg)),
    row("CWCOUNTRY", set=Action(D.set_country, esp(number(0, 1), text(), number(1, 14),
                                                   number(1, 14))),
        query=Action(D.query_country)),
]

#: 2.4 only (1.7 answers them ERROR)
ROWS_2_4 = [
    row("CWSTATE", query=Action(D.query_state)),
    row("CIPSTATE", query=Action(D.query_state_links)),
    row("SYSSTORE", set=Action(D.set_sysstore, esp(Param(switch))),
        query=Action(D.query_sysstore)),
]

#: E13, E31 and SoftAP (E8): stored, answered OK, shown in their queries
SETTINGS = [
    Setting("CWHOSTNAME", esp(any_text()), default=("espressif",), render=render_text),
    Setting("CWAUTOCONN", esp(number(0, 1)), default=(1,), persisted=True),
    Setting("CWLAPOPT", esp(number(0, 1), number(0, 2047), optional=(
        number(-100, 40, -100), number(0, 0xFFFF, 0xFFFF))), default=(0, 2047, -100, 0xFFFF)),
    Setting("SLEEP", esp(number(0, 3)), default=(1,)),
    Setting("CWSAP", esp(text(), text(), number(1, 14), number(0, 4), optional=(
        number(1, 10, 10), number(0, 1, 0))), default=("", "", 1, 0, 10, 0), persisted=True),
    Setting("CIPV6", esp(number(0, 1)), default=(0,)),
    Setting("CIPRECONNINTV", esp(number(1, 36000)), default=(1,)),
    Setting("SAVETRANSLINK", esp(number(0, 1), optional=(any_text(""), number(0, 65535, 0),
                                                         any_text("TCP"), number(0, 7200, 0))),
            default=(0, "", 0, "TCP", 0), persisted=True),
    Setting("TRANSINTVL", esp(number(0, 1000)), default=(20,)),
    Setting("MDNS", esp(number(0, 1), optional=(any_text(""), any_text(""),
                                                number(0, 65535, 0))),
            default=(0, "", "", 0)),
    Setting("CIPSSLCCN", esp(number(0, 4), text()), default=(0, "")),
]


def under_name(command: Row, suffix: str) -> Row:
    """``command`` under the name ``<NAME><suffix>``, each handler told that name."""
    name = command.name + suffix
    return Row(name, {form: replace(action, handler=partial(action.handler, called_as=name))
                      for form, action in command.forms.items()})


#: 1.7 names each of these also `<NAME>_CUR` (not saved) and `<NAME>_DEF` (saved)
#: (E8-E13, E31); AT+UART= is AT+UART_DEF= (E29)
SUFFIXED = ("CWMODE", "CWJAP", "CIPSTA", "CIPSTAMAC", "CWDHCP", "CIPDNS", "SYSMSG", "CWCOUNTRY")
ROWS_1_7 = [
    row("UART", set=Action(D.set_uart_default, uart_signature())),
    *(under_name(command, suffix) for command in ROWS if command.name in SUFFIXED
      for suffix in ("_CUR", "_DEF")),
]

TABLES = {
    "2.4": CommandTable(ROWS + ROWS_2_4, SETTINGS, escapes=True),
    "1.7": CommandTable(ROWS + ROWS_1_7, SETTINGS, escapes=True),
}
COMMANDS = TABLES["2.4"]
