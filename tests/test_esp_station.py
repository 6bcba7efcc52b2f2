"""The ESP-AT virtual station on a real pty, byte for byte (esp-at.md
E8-E14): the mode, joining (any SSID, or the port's wifi_networks), the
join queries, quitting with the links' CLOSED notices, boot_joined, the
board's real addresses, the setters that only store, and the scan list.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import trio
from conftest import Device, Peer, StartPort, TcpServer, require_binary
from esp_host import ERROR, JOINED, MAC, OK, READY, join, open_esp

from bridge.config import WifiNetwork

DISCONNECT = b"WIFI DISCONNECT\r\n"
HOME = WifiNetwork(ssid="home", password="secret", rssi=-70)
OFFICE = WifiNetwork(ssid="office", bssid="12:34:56:78:9a:bc", channel=11, rssi=-40)
CAFE = WifiNetwork(ssid="cafe", password="latte", channel=1, rssi=-55)


async def open_links(device: Device, tcp_server: TcpServer, count: int) -> list[Peer]:
    """``count`` TCP links to the test's server (CIPMUX 1 when more than one)."""
    peers = []
    for number in range(count):
        prefix = b"%d," % number if count > 1 else b""
        await device.send(b'AT+CIPSTART=%s"TCP","127.0.0.1",%d\r\n' % (prefix, tcp_server.port))
        peers.append(await tcp_server.accept())
        await device.expect(prefix + b"CONNECT\r\n" + OK)
    return peers


# -- E8: AT+CWMODE and the SoftAP settings -------------------------------------------------------

async def test_mode(start_port: StartPort) -> None:
    """E8: station mode at boot; 0-3 are stored (with an optional
    auto-connect flag), anything else is ERROR; never an unprompted
    WIFI CONNECTED."""
    device = await open_esp(start_port)
    await device.command(b"AT+CWMODE?", b"+CWMODE:1\r\n" + OK)
    for mode in (b"3", b"2", b"0", b"1,0", b"3,1"):
        await device.command(b"AT+CWMODE=" + mode, OK)
        await device.command(b"AT+CWMODE?", b"+CWMODE:%s\r\n" % mode[:1] + OK)
    for bad in (b"AT+CWMODE=4", b"AT+CWMODE=-1", b"AT+CWMODE=1,2", b"AT+CWMODE=",
                b"AT+CWMODE", b'AT+CWMODE="1"', b"AT+CWMODE=1,1,1"):
        await device.command(bad, ERROR)
    await join(device)
    await device.command(b"AT+CWMODE=0", DISCONNECT + OK)
    await device.command(b"AT+CWMODE=1", OK)
    await device.expect_silence(0.3)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)


async def test_modes_without_station_drop_it(start_port: StartPort,
                                             tcp_server: TcpServer) -> None:
    """E8/E10: modes 0 and 2 drop a joined station: its links close with
    their CLOSED notices, then WIFI DISCONNECT; mode 3 keeps it. Without a
    station (0, 2) CWJAP is ERROR, as on the module."""
    device = await open_esp(start_port)
    await join(device)
    await device.command(b"AT+CWMODE=3", OK)
    await device.command(b"AT+CIPMUX=1", OK)
    peers = await open_links(device, tcp_server, 2)
    await device.command(b"AT+CWMODE=2", b"0,CLOSED\r\n1,CLOSED\r\n" + DISCONNECT + OK)
    for peer in peers:
        await peer.expect_eof()
    await device.command(b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)
    await device.command(b"AT+CWMODE=2", OK)
    await device.command(b'AT+CWJAP="home","secret"', ERROR)  # no station to join with
    await device.command(b"AT+CWMODE=0", OK)
    await device.command(b'AT+CWJAP="home","secret"', ERROR)
    await device.command(b"AT+CWMODE=3", OK)
    await join(device)
    await device.expect_silence(0.2)


async def test_softap_settings_are_stored(start_port: StartPort) -> None:
    """E8: CWSAP and CIPAP are stored and shown in their queries (CIPAP in
    the ip/gateway/netmask lines CIPSTA uses); CWLIF lists no stations."""
    device = await open_esp(start_port)
    await device.command(b"AT+CWLIF", OK)
    await device.command(b'AT+CWSAP="ap","password1",5,3', OK)
    await device.command(b"AT+CWSAP?", b'+CWSAP:"ap","password1",5,3,10,0\r\n' + OK)
    await device.command(b'AT+CWSAP="ap2","password2",6,4,4,1', OK)
    await device.command(b"AT+CWSAP?", b'+CWSAP:"ap2","password2",6,4,4,1\r\n' + OK)
    await device.command(b'AT+CWSAP="ap","pw",15,3', ERROR)
    await device.command(b"AT+CIPAP?", b'+CIPAP:ip:"192.168.4.1"\r\n'
                         b'+CIPAP:gateway:"192.168.4.1"\r\n'
                         b'+CIPAP:netmask:"255.255.255.0"\r\n' + OK)
    await device.command(b'AT+CIPAP="192.168.5.1","192.168.5.254","255.255.0.0"', OK)
    await device.command(b"AT+CIPAP?", b'+CIPAP:ip:"192.168.5.1"\r\n'
                         b'+CIPAP:gateway:"192.168.5.254"\r\n'
                         b'+CIPAP:netmask:"255.255.0.0"\r\n' + OK)
    await device.command(b"AT+CIPAP=", ERROR)


# -- E9: AT+CWJAP -------------------------------------------------------------------------------

async def test_any_ssid_joins(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E9: with no networks configured any SSID joins; joining again drops
    the first network: its links close with their CLOSED notices, then
    WIFI DISCONNECT, then the new join."""
    device = await open_esp(start_port)
    await device.command(b'AT+CWJAP="anything","whatever"', JOINED + OK)
    await device.command(b'AT+CWJAP="open",""', DISCONNECT + JOINED + OK)
    [peer] = await open_links(device, tcp_server, 1)
    await device.command(b'AT+CWJAP="third","x"', b"CLOSED\r\n" + DISCONNECT + JOINED + OK)
    await peer.expect_eof()
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:2,"third"\r\n' + OK)
    await device.expect_silence(0.2)


async def test_configured_networks_only(start_port: StartPort) -> None:
    """E9: with wifi_networks only those join, with their password: a wrong
    one is +CWJAP:2, an unknown SSID +CWJAP:3, both then ERROR and not
    joined."""
    device = await open_esp(start_port, wifi_networks=[HOME, OFFICE])
    await device.command(b'AT+CWJAP="home","wrong"', b"+CWJAP:2\r\n" + ERROR)
    await device.command(b'AT+CWJAP="nowhere","secret"', b"+CWJAP:3\r\n" + ERROR)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)
    await device.command(b'AT+CWJAP="home","secret"', JOINED + OK)
    await device.command(b'AT+CWJAP="office",""', DISCONNECT + JOINED + OK)
    await device.command(b'AT+CWJAP="office","x"', DISCONNECT + b"+CWJAP:2\r\n" + ERROR)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:4,""\r\n' + OK)


async def test_no_address_no_join(start_port: StartPort) -> None:
    """E9/E12: when the station's interface has no IPv4 address (here: one
    that does not exist) a join fails with +CWJAP:1."""
    device = await open_esp(start_port, interface="nosuch0")
    await device.command(b'AT+CWJAP="home","secret"', b"+CWJAP:1\r\n" + ERROR)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)
    await device.command(b"AT+CIFSR", b'+CIFSR:STAIP,"0.0.0.0"\r\n'
                         b'+CIFSR:STAMAC,"00:00:00:00:00:00"\r\n' + OK)


async def test_join_arguments(start_port: StartPort) -> None:
    """E9/E3: the optional parameters (bssid, pci_en, reconn_interval,
    listen_interval, scan_mode, jap_timeout, pmf) are accepted in range."""
    device = await open_esp(start_port)
    await device.command(b'AT+CWJAP="a","b","ca:d7:19:d8:a6:44",1,10,3,1,15,1', JOINED + OK)
    for bad in (b'AT+CWJAP="a","b",,,7201', b'AT+CWJAP="a","b",,,,0', b'AT+CWJAP="a","b",,,,,2',
                b'AT+CWJAP="a","b",,,,,,2', b'AT+CWJAP="a","b",,,,,,,4',
                b'AT+CWJAP="a","b",,,,,,,,1', b"AT+CWJAP=a,b", b'AT+CWJAP="a",'):
        await device.command(bad, ERROR)


# -- E10: AT+CWJAP?, AT+CWSTATE?, AT+CWQAP -------------------------------------------------------

async def test_join_queries(start_port: StartPort) -> None:
    """E10: CWJAP? shows the network's SSID, BSSID (lowercase), channel and
    RSSI then five zeros; CWSTATE? 0 before any join, 2 joined, 4 after a
    quit (with an empty SSID)."""
    device = await open_esp(start_port, wifi_networks=[OFFICE, HOME])
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:0,""\r\n' + OK)
    await device.command(b'AT+CWJAP="office",""', JOINED + OK)
    await device.command(b"AT+CWJAP?",
                         b'+CWJAP:"office","12:34:56:78:9a:bc",11,-40,0,0,0,0,0\r\n' + OK)
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:2,"office"\r\n' + OK)
    await device.command(b'AT+CWJAP="home","secret"', DISCONNECT + JOINED + OK)
    await device.send(b"AT+CWJAP?\r\n")
    home = await device.read_until(rb'\+CWJAP:"home","(%s)",6,-70,0,0,0,0,0\r\n\r\nOK\r\n' % MAC)
    await device.command(b"AT+CWQAP", DISCONNECT + OK)
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:4,""\r\n' + OK)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)
    await device.command(b'AT+CWJAP="home","secret"', JOINED + OK)
    await device.command(b"AT+CWJAP?", home[0])  # the same BSSID every time


async def test_quit(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E10: CWQAP not joined: OK; joined: each link's CLOSED notice, then
    WIFI DISCONNECT, then OK; the peers see the links close."""
    device = await open_esp(start_port)
    await device.command(b"AT+CWQAP", OK)
    await join(device)
    await device.command(b"AT+CWQAP", DISCONNECT + OK)
    await device.command(b"AT+CWQAP", OK)
    await join(device)
    [peer] = await open_links(device, tcp_server, 1)
    await device.command(b"AT+CWQAP", b"CLOSED\r\n" + DISCONNECT + OK)
    await peer.expect_eof()
    await device.command(b"AT+CIPMUX=1", OK)
    await join(device)
    peers = await open_links(device, tcp_server, 3)
    await device.command(b"AT+CIPCLOSE=1", b"1,CLOSED\r\n" + OK)
    await device.command(b"AT+CWQAP", b"0,CLOSED\r\n2,CLOSED\r\n" + DISCONNECT + OK)
    for peer in peers:
        await peer.expect_eof()
    await device.expect_silence(0.2)
    await device.command(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % tcp_server.port, ERROR)
    await device.command(b"AT+CWQAP=1", ERROR)


# -- E11: boot_joined ------------------------------------------------------------------------------

async def test_boot_joined(start_port: StartPort) -> None:
    """E11: with boot_joined, WIFI CONNECTED and WIFI GOT IP follow `ready`
    (the first configured network), at boot and after a reset."""
    device = await start_port(dialect="esp-at", ready_ms=20, boot_joined=True,
                              wifi_networks=[OFFICE, HOME])
    await device.expect(READY + JOINED)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:2,"office"\r\n' + OK)
    await device.command(b"AT+CWQAP", DISCONNECT + OK)
    await device.command(b"AT+RST", OK)
    await device.expect(READY + JOINED)
    await device.expect_silence(0.2)


async def test_boot_joined_to_any_network(start_port: StartPort) -> None:
    """E11: with no networks configured, boot_joined joins a network of its own."""
    device = await start_port(dialect="esp-at", ready_ms=20, boot_joined=True)
    await device.expect(READY + JOINED)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.send(b"AT+CWJAP?\r\n")
    await device.read_until(rb'\+CWJAP:"[^"]+","%s",\d+,-\d+,0,0,0,0,0\r\n\r\nOK\r\n' % MAC)


async def test_not_joined_at_boot(start_port: StartPort) -> None:
    """E11: a factory-fresh module is not joined: nothing follows `ready`."""
    device = await start_port(dialect="esp-at", ready_ms=20, wifi_networks=[HOME])
    await device.expect(READY)
    await device.expect_silence(0.3)
    await device.command(b"AT+CWJAP?", b"AT+CWJAP?\r\nNo AP\r\n" + OK)


# -- E12: the board's addresses -------------------------------------------------------------------

@dataclass(frozen=True)
class BoardAddresses:
    interface: str
    ip: str
    netmask: str
    gateway: str
    mac: str


def board_addresses(interface: str | None = None) -> BoardAddresses:
    """What the kernel says, read by the test itself: the default route's
    interface and gateway (/proc/net/route), the interface's IPv4 address
    and prefix (iproute2) and its MAC (/sys/class/net)."""
    gateway = "0.0.0.0"
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000" and fields[7] == "00000000":
            if interface in (None, fields[0]):
                interface = fields[0]
                gateway = socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
            break
    assert interface is not None, "this machine has no IPv4 default route"
    shown = json.loads(subprocess.run([require_binary("ip"), "-j", "-4", "addr", "show", "dev",
                                       interface], check=True, capture_output=True).stdout)
    address = shown[0]["addr_info"][0]
    network = ipaddress.ip_interface(f"{address['local']}/{address['prefixlen']}").network
    mac = Path(f"/sys/class/net/{interface}/address").read_text().strip()
    return BoardAddresses(interface, address["local"], str(network.netmask), gateway, mac)


def cifsr(ip: str, mac: str) -> bytes:
    return b'+CIFSR:STAIP,"%s"\r\n+CIFSR:STAMAC,"%s"\r\n' % (ip.encode(), mac.encode()) + OK


def cipsta(ip: str, gateway: str, netmask: str) -> bytes:
    return (b'+CIPSTA:ip:"%s"\r\n+CIPSTA:gateway:"%s"\r\n+CIPSTA:netmask:"%s"\r\n' % (
        ip.encode(), gateway.encode(), netmask.encode()) + OK)


async def test_real_addresses(start_port: StartPort) -> None:
    """E12: CIFSR, CIPSTA? and CIPSTAMAC? report the default route's
    interface: its IPv4 address, gateway, netmask and MAC; not joined, the
    addresses read 0.0.0.0 (the MAC stays the board's)."""
    board = board_addresses()
    assert re.fullmatch(MAC.decode(), board.mac)
    device = await open_esp(start_port)
    await device.command(b"AT+CIFSR", cifsr("0.0.0.0", board.mac))
    await device.command(b"AT+CIPSTA?", cipsta("0.0.0.0", "0.0.0.0", "0.0.0.0"))
    await join(device)
    await device.command(b"AT+CIFSR", cifsr(board.ip, board.mac))
    await device.command(b"AT+CIPSTA?", cipsta(board.ip, board.gateway, board.netmask))
    await device.command(b"AT+CIPSTAMAC?", b'+CIPSTAMAC:"%s"\r\n' % board.mac.encode() + OK)
    await device.command(b"AT+CWQAP", DISCONNECT + OK)
    await device.command(b"AT+CIFSR", cifsr("0.0.0.0", board.mac))


async def test_interface_setting(start_port: StartPort) -> None:
    """E12: the port's `interface` names the interface reported ("lo": no
    default route leaves by it, so no gateway)."""
    device = await open_esp(start_port, interface="lo")
    await join(device)
    await device.command(b"AT+CIFSR", cifsr("127.0.0.1", "00:00:00:00:00:00"))
    await device.command(b"AT+CIPSTA?", cipsta("127.0.0.1", "0.0.0.0", "255.0.0.0"))
    await device.command(b"AT+CIPSTAMAC?", b'+CIPSTAMAC:"00:00:00:00:00:00"\r\n' + OK)
    board = board_addresses()
    device = await open_esp(start_port, interface=board.interface)
    await join(device)
    await device.command(b"AT+CIPSTA?", cipsta(board.ip, board.gateway, board.netmask))


# -- E13: setters that only store ------------------------------------------------------------------

async def test_setters_store_without_changing_the_board(start_port: StartPort) -> None:
    """E13: CIPSTA=, CIPSTAMAC= answer OK and the queries keep reporting the
    board's values; CWDHCP, CWHOSTNAME, CWCOUNTRY, CWAUTOCONN, SLEEP,
    CWLAPOPT and CIPDNS show what was stored."""
    board = board_addresses()
    device = await open_esp(start_port)
    await join(device)
    await device.command(b'AT+CIPSTA="10.0.0.5","10.0.0.1","255.0.0.0"', OK)
    await device.command(b'AT+CIPSTA="10.0.0.6"', OK)
    await device.command(b'AT+CIPSTAMAC="1a:fe:35:98:d3:7b"', OK)
    await device.command(b"AT+CIPSTA?", cipsta(board.ip, board.gateway, board.netmask))
    await device.command(b"AT+CIPSTAMAC?", b'+CIPSTAMAC:"%s"\r\n' % board.mac.encode() + OK)
    await device.command(b"AT+CIFSR", cifsr(board.ip, board.mac))
    stored = (
        (b"CWHOSTNAME", b'"my-device"', b"my-device"),
        (b"CWCOUNTRY", b'1,"US",1,11', b'1,"US",1,11'),
        (b"CWAUTOCONN", b"0", b"0"),
        (b"SLEEP", b"0", b"0"),
        (b"CWLAPOPT", b"1,31", b"1,31,-100,65535"),
        (b"CIPDNS", b'1,"127.0.0.53","9.9.9.9"', b'1,"127.0.0.53","9.9.9.9"'),
    )
    for name, value, shown in stored:
        await device.command(b"AT+%s=%s" % (name, value), OK)
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, shown) + OK)
    for bad in (b"AT+CIPSTA=", b"AT+CIPSTAMAC=", b"AT+CWHOSTNAME=", b"AT+CWAUTOCONN=2",
                b"AT+SLEEP=4", b"AT+CWCOUNTRY=2,\"US\",1,11", b"AT+CIPDNS=2"):
        await device.command(bad, ERROR)
    await device.command(b"AT+CIPSTA?", cipsta(board.ip, board.gateway, board.netmask))


async def test_dhcp_state(start_port: StartPort) -> None:
    """E13: CWDHCP=<operate>,<mode> turns the station (bit 0) and SoftAP
    (bit 1) DHCP bits on or off; CWDHCP? shows the resulting state, both on
    at boot, as the firmware does."""
    device = await open_esp(start_port)
    await device.command(b"AT+CWDHCP?", b"+CWDHCP:3\r\n" + OK)
    await device.command(b"AT+CWDHCP=0,1", OK)
    await device.command(b"AT+CWDHCP?", b"+CWDHCP:2\r\n" + OK)
    await device.command(b"AT+CWDHCP=0,2", OK)
    await device.command(b"AT+CWDHCP?", b"+CWDHCP:0\r\n" + OK)
    await device.command(b"AT+CWDHCP=1,3", OK)
    await device.command(b"AT+CWDHCP?", b"+CWDHCP:3\r\n" + OK)
    for bad in (b"AT+CWDHCP=2,1", b"AT+CWDHCP=1,4", b"AT+CWDHCP=1", b"AT+CWDHCP="):
        await device.command(bad, ERROR)


async def test_system_resolver_with_no_dns_servers(start_port: StartPort) -> None:
    """E13: CIPDNS=1 with no server means the system resolver (and is kept)."""
    device = await open_esp(start_port)
    await device.command(b"AT+CIPDNS?", b"+CIPDNS:0\r\n" + OK)
    await device.command(b"AT+CIPDNS=1", OK)
    await device.command(b"AT+CIPDNS?", b"+CIPDNS:1\r\n" + OK)
    await device.command(b'AT+CIPDOMAIN="localhost"', b'+CIPDOMAIN:"127.0.0.1"\r\n' + OK)
    await device.command(b"AT+RST", OK)  # kept (E30)
    await device.expect(READY)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.command(b"AT+CIPDNS?", b"+CIPDNS:1\r\n" + OK)
    await device.command(b'AT+CIPDNS=0,"127.0.0.53"', ERROR)  # servers are for 1
    await device.command(b"AT+CIPDNS=0", OK)
    await device.command(b"AT+CIPDNS?", b"+CIPDNS:0\r\n" + OK)


# -- E14: AT+CWLAP -------------------------------------------------------------------------------

def cwlap(*lines: bytes) -> bytes:
    return b"".join(b"+CWLAP:(%s)\r\n" % line for line in lines) + OK


async def scan(device: Device, line: bytes = b"AT+CWLAP") -> bytes:
    """The scan's reply, which comes within a second (E14)."""
    await device.send(line + b"\r\n")
    with trio.fail_after(1):
        match = await device.read_until(rb"((?:\+CWLAP:[^\r]*\r\n)*\r\nOK\r\n)")
    return match[1]


async def test_scan_nothing(start_port: StartPort) -> None:
    """E14: no networks configured and not joined: just OK; joined: the
    joined network (open when joined without a password)."""
    device = await open_esp(start_port)
    assert await scan(device) == OK
    await device.command(b'AT+CWJAP="lonely",""', JOINED + OK)
    listed = await scan(device)
    assert re.fullmatch(rb'\+CWLAP:\(0,"lonely",-50,"%s",6,-1,-1,4,4,7,0\)\r\n\r\nOK\r\n' % MAC,
                        listed)


async def test_scan_lists_networks_by_strength(start_port: StartPort) -> None:
    """E14: one line per configured network, strongest first, every field
    (ecn 3 with a password, 0 without); the BSSID is the one CWJAP? shows."""
    device = await open_esp(start_port, wifi_networks=[HOME, OFFICE, CAFE])
    listed = await scan(device)
    match = re.fullmatch(
        rb'\+CWLAP:\(0,"office",-40,"12:34:56:78:9a:bc",11,-1,-1,4,4,7,0\)\r\n'
        rb'\+CWLAP:\(3,"cafe",-55,"(%s)",1,-1,-1,4,4,7,0\)\r\n'
        rb'\+CWLAP:\(3,"home",-70,"(%s)",6,-1,-1,4,4,7,0\)\r\n\r\nOK\r\n' % (MAC, MAC), listed)
    assert match is not None, listed
    await device.command(b'AT+CWJAP="cafe","latte"', JOINED + OK)
    await device.command(b"AT+CWJAP?",
                         b'+CWJAP:"cafe","%s",1,-55,0,0,0,0,0\r\n' % match[1] + OK)
    assert await scan(device) == listed  # the joined network is listed once


async def test_scan_options(start_port: StartPort) -> None:
    """E14: CWLAPOPT's print mask picks the fields (bit 0 ecn ... bit 10
    wps); its RSSI filter hides weaker networks and its authmode mask the
    networks whose ecn bit is clear."""
    device = await open_esp(start_port, wifi_networks=[HOME, OFFICE, CAFE])
    await device.command(b"AT+CWLAPOPT=1,6", OK)
    assert await scan(device) == cwlap(b'"office",-40', b'"cafe",-55', b'"home",-70')
    await device.command(b"AT+CWLAPOPT=1,1041", OK)  # bits 0, 4 and 10
    assert await scan(device) == cwlap(b"0,11,0", b"3,1,0", b"3,6,0")
    await device.command(b"AT+CWLAPOPT=1,6,-60", OK)
    assert await scan(device) == cwlap(b'"office",-40', b'"cafe",-55')
    await device.command(b"AT+CWLAPOPT=1,2,-100,1", OK)  # open networks only
    assert await scan(device) == cwlap(b'"office"')
    await device.command(b"AT+CWLAPOPT=1,2,-100,8", OK)  # WPA2 only
    assert await scan(device) == cwlap(b'"cafe"', b'"home"')
    await device.command(b"AT+CWLAPOPT=1,2,-40", OK)
    assert await scan(device) == cwlap(b'"office"')
    for bad in (b"AT+CWLAPOPT=1,2048", b"AT+CWLAPOPT=2,31", b"AT+CWLAPOPT=1,31,-101",
                b"AT+CWLAPOPT=1"):
        await device.command(bad, ERROR)


async def test_scan_filters(start_port: StartPort) -> None:
    """E14: AT+CWLAP=[<ssid>][,<mac>][,<channel>][,<scan type>,<min>,<max>]
    lists the networks that match every filter given."""
    device = await open_esp(start_port, wifi_networks=[HOME, OFFICE, CAFE])
    await device.command(b"AT+CWLAPOPT=1,2", OK)
    assert await scan(device, b'AT+CWLAP="cafe"') == cwlap(b'"cafe"')
    assert await scan(device, b'AT+CWLAP="nowhere"') == OK
    assert await scan(device, b'AT+CWLAP=,"12:34:56:78:9A:BC"') == cwlap(b'"office"')
    assert await scan(device, b"AT+CWLAP=,,6") == cwlap(b'"home"')
    assert await scan(device, b'AT+CWLAP="office",,11') == cwlap(b'"office"')
    assert await scan(device, b'AT+CWLAP="office",,1') == OK
    assert await scan(device, b'AT+CWLAP="office","12:34:56:78:9a:bc",11,0,400,1000') \
        == cwlap(b'"office"')
    for bad in (b"AT+CWLAP=,,15", b'AT+CWLAP="office",,11,2', b'AT+CWLAP="a",,1,0,0,1501',
                b'AT+CWLAP="a",,1,0,0,0,0'):
        await device.command(bad, ERROR)
