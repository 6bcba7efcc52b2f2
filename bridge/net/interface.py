"""The board's IPv4 address, netmask, gateway and MAC, read from the kernel
(ESP-AT E12: the virtual station reports real addresses).

The interface is the one the IPv4 default route leaves by (/proc/net/route),
or the one the port's config names.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
ROUTES = Path("/proc/net/route")
NET = Path("/sys/class/net")


@dataclass(frozen=True)
class Station:
    interface: str
    address: str
    netmask: str
    gateway: str
    mac: str


def default_route() -> tuple[str, str] | None:
    """(interface, gateway) of the IPv4 default route, if there is one."""
    try:
        lines = ROUTES.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            gateway = socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
            return fields[0], gateway
    return None


def _ioctl_address(interface: str, request: int) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            answer = fcntl.ioctl(sock.fileno(), request,
                                 struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


def mac_address(interface: str) -> str:
    try:
        return (NET / interface / "address").read_text().strip().lower()
    except OSError:
        return "00:00:00:00:00:00"


def station(interface: str | None = None) -> Station | None:
    """What the station reports; None when there is no IPv4 default route
    (and no interface named) or the interface has no IPv4 address."""
    route = default_route()
    if interface is None:
        if route is None:
            return None
        interface, gateway = route
    else:
        gateway = route[1] if route is not None and route[0] == interface else "0.0.0.0"
    address = _ioctl_address(interface, SIOCGIFADDR)
    if address is None:
        return None
    netmask = _ioctl_address(interface, SIOCGIFNETMASK) or "0.0.0.0"
    return Station(interface, address, netmask, gateway, mac_address(interface))
