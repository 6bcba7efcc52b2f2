"""The ESP-AT virtual station's commands (E8-E14): CWMODE, CWJAP, CWQAP,
CWSTATE, CWLAP, CIFSR, CIPSTA, CIPSTAMAC, CWDHCP, CWCOUNTRY, SYSMSG and the
SoftAP settings, as a part of the dialect (its station, links and store)."""

from __future__ import annotations

from typing import Any

from ...at.commands import Outcome
from . import replies
from .args import bad, saves

DHCP_BOTH = 3  # E13: AT+CWDHCP's state at boot: station and SoftAP DHCP on
COUNTRY = (0, "CN", 1, 13)  # E13: AT+CWCOUNTRY's policy, code, first channel, channels
SOFTAP_ADDRESSES = ("192.168.4.1", "192.168.4.1", "255.255.255.0")  # E8: ip, gateway, netmask


class WifiCommands:
    """Mixed into EspDialect: uses its ``station``, ``links``, ``profile``,
    ``settings``, ``notice``, ``_persist`` and ``_persist_setting``."""

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
