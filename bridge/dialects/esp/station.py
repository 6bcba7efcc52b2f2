"""The ESP-AT virtual station (E8-E14, E18): joined or not, to which
network, and what the station reports. at-bridge runs on a board whose
network is already up: "joining" checks the SSID and password against the
port's configured networks (any SSID when none are configured) and that the
board has an IPv4 route; addresses are the board's own."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from ...config import WifiNetwork
from ...net.interface import Station, station


class JoinFailure(enum.Enum):
    """E9: the number after ``+CWJAP:``."""

    TIMEOUT = 1  # no route: the module never gets an address
    PASSWORD = 2
    NOT_FOUND = 3


class WifiState(enum.Enum):
    """E10: AT+CWSTATE's number."""

    NEVER = 0
    GOT_IP = 2
    DISCONNECTED = 4


UNJOINED = Station("", "0.0.0.0", "0.0.0.0", "0.0.0.0", "00:00:00:00:00:00")
DEFAULT_SSID = "at-bridge"


def network_for(ssid: str, networks: list[WifiNetwork], password: str = "") -> WifiNetwork:
    """The configured network, or one made up for an SSID any host may join:
    a locally administered BSSID from the SSID's hash (E2: lowercase)."""
    for network in networks:
        if network.ssid == ssid:
            return network if network.bssid else _with_bssid(network)
    return _with_bssid(WifiNetwork(ssid=ssid, password=password))


def _with_bssid(network: WifiNetwork) -> WifiNetwork:
    digest = bytearray(hashlib.sha256(network.ssid.encode("utf-8", "surrogateescape"))
                       .digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02
    return WifiNetwork(ssid=network.ssid, password=network.password,
                       bssid=":".join(f"{byte:02x}" for byte in digest),
                       channel=network.channel, rssi=network.rssi)


@dataclass
class VirtualStation:
    networks: list[WifiNetwork]
    interface: str | None
    mode: int = 1  # AT+CWMODE: 0 off, 1 station, 2 SoftAP, 3 both
    joined: WifiNetwork | None = None
    ever_joined: bool = False
    quit: bool = False  # not joined after a quit or a failed join (CIPSTATUS 5)
    had_link: bool = False  # a link was open since the join (CIPSTATUS 4)

    def join(self, ssid: str, password: str) -> JoinFailure | None:
        """E9: join ``ssid``, or why not (the station is then not joined)."""
        self.joined = None
        if self.networks:
            known = next((n for n in self.networks if n.ssid == ssid), None)
            if known is None:
                self.quit = True
                return JoinFailure.NOT_FOUND
            if known.password != password:
                self.quit = True
                return JoinFailure.PASSWORD
        if station(self.interface) is None:
            self.quit = True
            return JoinFailure.TIMEOUT
        self.joined = network_for(ssid, self.networks, password)
        self.ever_joined, self.quit, self.had_link = True, False, False
        return None

    @property
    def enabled(self) -> bool:
        """E8: the station exists in modes 1 and 3 (not in 0, off, or 2, SoftAP only)."""
        return self.mode in (1, 3)

    def leave(self) -> None:
        if self.joined is not None:
            self.joined = None
            self.quit = True

    def boot_network(self) -> tuple[str, str]:
        """E11: the SSID and password boot_joined joins: the first configured
        network, or one of our own."""
        network = self.networks[0] if self.networks else network_for(DEFAULT_SSID, [])
        return network.ssid, network.password

    def addresses(self) -> Station:
        """E12: the board's addresses while joined, zeros otherwise (the MAC is
        always the board's)."""
        real = station(self.interface)
        if real is None:
            return UNJOINED
        if self.joined is None:
            return Station(real.interface, "0.0.0.0", "0.0.0.0", "0.0.0.0", real.mac)
        return real

    def mac(self) -> str:
        real = station(self.interface)
        return real.mac if real is not None else UNJOINED.mac

    @property
    def state(self) -> WifiState:
        if self.joined is not None:
            return WifiState.GOT_IP
        return WifiState.DISCONNECTED if self.ever_joined else WifiState.NEVER

    def status(self, links_open: bool, *, five_when_unjoined: bool) -> int:
        """E18: CIPSTATUS's STATUS number."""
        if self.joined is None:
            if five_when_unjoined or self.quit:
                return 5
            return 1 if self.mode in (1, 3) else 0
        if links_open:
            return 3
        return 4 if self.had_link else 2

    def scan(self) -> list[WifiNetwork]:
        """E14: the configured networks and the joined one, strongest first."""
        found = [network_for(n.ssid, self.networks) for n in self.networks]
        if self.joined is not None and all(n.ssid != self.joined.ssid for n in found):
            found.append(self.joined)
        return sorted(found, key=lambda network: -network.rssi)
