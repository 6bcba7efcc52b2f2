"""ESP-AT services and settings against real peers, byte for byte
(esp-at.md E28-E31): CIPDOMAIN through dnsmasq, PING, SNTP time from
chronyd, SYSTIMESTAMP; UART_CUR/UART_DEF on a serial device made by socat
(the line really switches) and on a pty (recorded); SYSSTORE and RESTORE
with the port's state file; the settings that are only stored. The peers
have loopback addresses of their own (tests/net_peers.py), so this file
may run beside test_cip_net.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import net_peers
import pytest
import trio
from conftest import (
    WAIT,
    Device,
    StartPort,
    TcpServer,
    plug_serial_device,
    require_binary,
    unplug,
)
from esp_host import ERROR, JOINED, OK, READY, join, open_esp

from bridge.config import Config, DaemonSettings, PortSettings
from bridge.daemon import serve

DNS = "127.53.0.21"  # dnsmasq
SILENT_DNS = "127.53.0.23"  # reads queries, never answers
NTP = "127.0.0.125"  # chronyd
DROPPED = "127.0.0.98"  # echo requests to it are dropped (nftables)
NFT_TABLE = "atbridge_esp_test"
ASCTIME = rb"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}"


@pytest.fixture
def ping_peers() -> Iterator[None]:
    with net_peers.icmp_for_everyone(), net_peers.echo_requests_dropped(DROPPED, NFT_TABLE):
        yield


async def quick_port(start_port: StartPort, **settings: object) -> Device:
    """A port with short network timeouts."""
    return await open_esp(start_port, dns_server_timeout=0.5, dns_timeout=1.5,
                          ping_timeout=0.5, sntp_timeout=0.5, **settings)


# -- E28: AT+CIPDOMAIN, AT+PING, SNTP, AT+SYSTIMESTAMP ---------------------------------------------

async def test_domain(start_port: StartPort, tmp_path: Path) -> None:
    """E28/E13: an IP literal answers itself; names resolve through the
    CIPDNS servers (dnsmasq here), CNAMEs followed; a name that does not
    exist is ERROR; the optional network 1-3 is accepted."""
    device = await quick_port(start_port)
    await device.command(b'AT+CIPDOMAIN="127.0.0.5"', b'+CIPDOMAIN:"127.0.0.5"\r\n' + OK)
    await device.command(b'AT+CIPDNS=1,"%s"' % DNS.encode(), OK)
    async with net_peers.dnsmasq(DNS, tmp_path):
        await device.command(b'AT+CIPDOMAIN="www.example.test"',
                             b'+CIPDOMAIN:"10.1.2.3"\r\n' + OK)
        await device.command(b'AT+CIPDOMAIN="alias.example.test",1',
                             b'+CIPDOMAIN:"127.0.0.1"\r\n' + OK)
        await device.command(b'AT+CIPDOMAIN="nx.example.test"', ERROR)
    for bad in (b"AT+CIPDOMAIN=", b"AT+CIPDOMAIN", b'AT+CIPDOMAIN="www.example.test",4'):
        await device.command(bad, ERROR)


async def test_domain_nobody_answers(start_port: StartPort) -> None:
    """E28: a lookup nobody answers is ERROR within the lookup's bound (NOTES
    C12), and the port answers again at once."""
    device = await quick_port(start_port)
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        await silent.bind((SILENT_DNS, 53))
        await device.command(b'AT+CIPDNS=1,"%s"' % SILENT_DNS.encode(), OK)
        started = trio.current_time()
        await device.command(b'AT+CIPDOMAIN="www.example.test"', ERROR)
        assert trio.current_time() - started < 1.5 + 1.0  # dns_timeout plus slack
    await device.command(b"AT", OK)


async def test_ping(start_port: StartPort, ping_peers: None, tmp_path: Path) -> None:
    """E28: one echo: +PING:<ms> then OK; no answer: +PING:TIMEOUT then ERROR
    within ping_timeout; names resolve through the CIPDNS servers."""
    device = await quick_port(start_port)
    await device.send(b'AT+PING="127.0.0.1"\r\n')
    await device.read_until(rb"\+PING:[1-9]\d*\r\n\r\nOK\r\n")
    started = trio.current_time()
    await device.command(b'AT+PING="%s"' % DROPPED.encode(), b"+PING:TIMEOUT\r\n" + ERROR)
    assert 0.5 <= trio.current_time() - started < 0.5 + 1.0
    await device.command(b'AT+CIPDNS=1,"%s"' % DNS.encode(), OK)
    async with net_peers.dnsmasq(DNS, tmp_path):
        await device.send(b'AT+PING="peer.example.test"\r\n')
        await device.read_until(rb"\+PING:[1-9]\d*\r\n\r\nOK\r\n")
        await device.command(b'AT+PING="nx.example.test"', b"+PING:TIMEOUT\r\n" + ERROR)
    await device.command(b"AT+PING=", ERROR)


async def query_sntp_time(device: Device) -> float:
    """AT+CIPSNTPTIME? read back as seconds since 1970 (the zone included)."""
    await device.send(b"AT+CIPSNTPTIME?\r\n")
    match = await device.read_until(rb"\+CIPSNTPTIME:(%s)\r\n\r\nOK\r\n" % ASCTIME)
    return float(time.mktime(time.strptime(match[1].decode() + " UTC",
                                           "%a %b %d %H:%M:%S %Y %Z")) - time.timezone)


async def test_sntp_settings(start_port: StartPort) -> None:
    """E28: CIPSNTPCFG set and query, ranges; before any answer the clock
    reads 1970-01-01 00:00:00 plus the zone, in asctime's form, and
    SYSTIMESTAMP 0."""
    device = await quick_port(start_port)
    await device.command(b"AT+CIPSNTPCFG?", b"+CIPSNTPCFG:0,0\r\n" + OK)
    await device.command(b"AT+CIPSNTPTIME?", b"+CIPSNTPTIME:Thu Jan  1 00:00:00 1970\r\n" + OK)
    await device.command(b"AT+SYSTIMESTAMP?", b"+SYSTIMESTAMP:0\r\n" + OK)
    await device.command(b"AT+CIPSNTPCFG=0,-5", OK)
    await device.command(b"AT+CIPSNTPTIME?", b"+CIPSNTPTIME:Wed Dec 31 19:00:00 1969\r\n" + OK)
    await device.command(b'AT+CIPSNTPCFG=1,14,"a.example","b.example","c.example"', OK)
    await device.command(b"AT+CIPSNTPCFG?",
                         b'+CIPSNTPCFG:1,14,"a.example","b.example","c.example"\r\n' + OK)
    await device.command(b"AT+CIPSNTPTIME?", b"+CIPSNTPTIME:Thu Jan  1 14:00:00 1970\r\n" + OK)
    await device.command(b"AT+SYSTIMESTAMP?", b"+SYSTIMESTAMP:0\r\n" + OK)
    for bad in (b'AT+CIPSNTPCFG=1,15,"a"', b'AT+CIPSNTPCFG=1,-13,"a"', b"AT+CIPSNTPCFG=2,0",
                b'AT+CIPSNTPCFG=1,0,"a","b","c","d"', b"AT+CIPSNTPCFG=1", b"AT+CIPSNTPTIME",
                b"AT+SYSTIMESTAMP"):
        await device.command(bad, ERROR)


async def test_sntp_time_from_chronyd(start_port: StartPort, tmp_path: Path) -> None:
    """E28: the time comes from chronyd, in the zone asked for, within 2 s of
    this machine's clock; SYSTIMESTAMP is Unix seconds (no zone)."""
    device = await quick_port(start_port)
    async with net_peers.chronyd(NTP, tmp_path):
        await device.command(b'AT+CIPSNTPCFG=1,8,"%s"' % NTP.encode(), OK)
        with trio.fail_after(WAIT):
            while (reported := await query_sntp_time(device)) < 86400:
                await trio.sleep(0.1)
    assert abs(reported - (time.time() + 8 * 3600)) < 2
    await device.send(b"AT+SYSTIMESTAMP?\r\n")
    match = await device.read_until(rb"\+SYSTIMESTAMP:(\d+)\r\n\r\nOK\r\n")
    assert abs(int(match[1]) - time.time()) < 2


# -- E29: AT+UART_CUR / AT+UART_DEF -----------------------------------------------------------

def line_attributes(path: Path) -> list:  # type: ignore[type-arg]
    """termios of the serial device, read from the device side."""
    fd = os.open(os.path.realpath(path), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return termios.tcgetattr(fd)
    finally:
        os.close(fd)


Line = tuple[int, bool, bool, bool]


def line_of(attributes: list) -> Line:  # type: ignore[type-arg]
    """(speed, PARODD, CSTOPB, CRTSCTS): what a pseudo-terminal keeps of a
    line's settings. Linux's pty driver forces CS8 and clears PARENB on every
    tcsetattr (drivers/tty/pty.c), so data bits and parity on/off cannot be
    read back from socat's device; odd parity shows as PARODD."""
    cflag = attributes[2]
    assert attributes[4] == attributes[5]  # input and output speed alike
    return (attributes[4], bool(cflag & termios.PARODD), bool(cflag & termios.CSTOPB),
            bool(cflag & termios.CRTSCTS))


async def line_becomes(path: Path, wanted: Line) -> None:
    with trio.move_on_after(WAIT):
        while line_of(line_attributes(path)) != wanted:
            await trio.sleep(0.01)
    assert line_of(line_attributes(path)) == wanted


async def serial_port(nursery: trio.Nursery, tmp_path: Path, device_path: Path,
                      host_path: Path) -> Device:
    settings = PortSettings(name="usb", device=str(device_path), dialect="esp-at",
                            ready_ms=20, bind_address="127.0.0.1")
    await nursery.start(serve, Config(daemon=DaemonSettings(state_dir=str(tmp_path / "state")),
                                      port=[settings]))
    host = Device(str(host_path))
    await host.expect(READY)
    await host.command(b"ATE0", b"ATE0\r\n" + OK)
    return host


async def test_uart_switches_a_serial_device(nursery: trio.Nursery, tmp_path: Path) -> None:
    """E29: AT+UART_CUR's OK is written at the old settings, then the device
    really switches: speed, data bits, parity (1 odd, 2 even), stop bits
    (1: one, 2: one and a half, 3: two) and RTS/CTS; the port answers on."""
    device_path, host_path = tmp_path / "ttyUSB0", tmp_path / "host"
    socat = await plug_serial_device(device_path, host_path)
    try:
        host = await serial_port(nursery, tmp_path, device_path, host_path)
        assert line_of(line_attributes(device_path)) == (termios.B115200, False, False, False)
        await host.command(b"AT+UART_CUR=57600,7,3,1,3", OK)
        await line_becomes(device_path, (termios.B57600, True, True, True))
        await host.command(b"AT+UART_CUR?", b"+UART_CUR:57600,7,3,1,3\r\n" + OK)
        await host.command(b"AT+UART_CUR=9600,8,2,2,0", OK)
        await line_becomes(device_path, (termios.B9600, False, True, False))
        await host.command(b"AT+UART_CUR=115200,8,1,0,0", OK)
        await line_becomes(device_path, (termios.B115200, False, False, False))
        await host.command(b"AT+UART_CUR=115200,9,1,0,0", ERROR)
        assert line_of(line_attributes(device_path))[0] == termios.B115200
        await host.aclose()
    finally:
        unplug(socat)


async def test_uart_default_comes_back(nursery: trio.Nursery, tmp_path: Path) -> None:
    """E29/E30: AT+UART_DEF switches as UART_CUR does and is kept: after
    AT+UART_CUR, a reset comes back to it (after the reset's OK), and so
    does the device when it is opened again."""
    device_path, host_path = tmp_path / "ttyUSB0", tmp_path / "host"
    socat = await plug_serial_device(device_path, host_path)
    try:
        host = await serial_port(nursery, tmp_path, device_path, host_path)
        await host.command(b"AT+UART_DEF=230400,8,3,1,0", OK)
        default = (termios.B230400, True, True, False)
        await line_becomes(device_path, default)
        await host.command(b"AT+UART_DEF?", b"+UART_DEF:230400,8,3,1,0\r\n" + OK)
        await host.command(b"AT+UART_CUR?", b"+UART_CUR:230400,8,3,1,0\r\n" + OK)
        await host.command(b"AT+UART_CUR=57600,8,1,0,0", OK)
        await line_becomes(device_path, (termios.B57600, False, False, False))
        await host.command(b"AT+UART_DEF?", b"+UART_DEF:230400,8,3,1,0\r\n" + OK)
        await host.command(b"AT+RST", OK)
        await host.expect(READY)
        await line_becomes(device_path, default)
        await host.command(b"ATE0", b"ATE0\r\n" + OK)
        await host.command(b"AT+UART_CUR?", b"+UART_CUR:230400,8,3,1,0\r\n" + OK)
        await host.aclose()
    finally:
        unplug(socat)
    socat = await plug_serial_device(device_path, host_path)  # plugged in again
    try:
        host = Device(str(host_path))
        with trio.fail_after(WAIT):  # the daemon reopens it within its backoff
            await host.expect(READY)
        await line_becomes(device_path, default)
        await host.command(b"AT+UART_CUR?", b"AT+UART_CUR?\r\n+UART_CUR:230400,8,3,1,0\r\n" + OK)
        await host.command(b"AT+RESTORE", b"AT+RESTORE\r\n" + OK)  # factory settings
        await host.expect(READY)
        await line_becomes(device_path, (termios.B115200, False, False, False))
        await host.aclose()
    finally:
        unplug(socat)


async def test_uart_on_a_pty_is_recorded(start_port: StartPort) -> None:
    """E29: on a pseudo-terminal the settings are only recorded and reported
    (UART_DEF's are current too); invalid values are ERROR."""
    device = await open_esp(start_port)
    await device.command(b"AT+UART_CUR?", b"+UART_CUR:115200,8,1,0,0\r\n" + OK)
    await device.command(b"AT+UART_DEF?", b"+UART_DEF:115200,8,1,0,0\r\n" + OK)
    await device.command(b"AT+UART_CUR=9600,8,1,0,0", OK)
    await device.command(b"AT+UART_CUR?", b"+UART_CUR:9600,8,1,0,0\r\n" + OK)
    await device.command(b"AT+UART_DEF?", b"+UART_DEF:115200,8,1,0,0\r\n" + OK)
    await device.command(b"AT+UART_DEF=921600,8,3,1,1", OK)
    await device.command(b"AT+UART_DEF?", b"+UART_DEF:921600,8,3,1,1\r\n" + OK)
    await device.command(b"AT+UART_CUR?", b"+UART_CUR:921600,8,3,1,1\r\n" + OK)
    await device.command(b"AT+UART_CUR=9600,8,1,0,0", OK)
    await device.command(b"AT", OK)
    for bad in (b"79,8,1,0,0", b"5000001,8,1,0,0", b"115200,4,1,0,0", b"115200,9,1,0,0",
                b"115200,8,0,0,0", b"115200,8,4,0,0", b"115200,8,1,3,0", b"115200,8,1,0,4",
                b"115200,8,1,0", b"115200,8,1,0,0,0", b""):
        await device.command(b"AT+UART_CUR=" + bad, ERROR)
        await device.command(b"AT+UART_DEF=" + bad, ERROR)
    await device.command(b"AT+UART_CUR?", b"+UART_CUR:9600,8,1,0,0\r\n" + OK)


# -- E30: AT+SYSSTORE, AT+RESTORE ---------------------------------------------------------------

def stored(tmp_path: Path, port: str = "test0") -> dict:  # type: ignore[type-arg]
    """The port's state file, as the daemon last replaced it."""
    path = tmp_path / "state" / f"{port}.json"
    return json.loads(path.read_text()) if path.exists() else {}


SETTERS = (
    (b"CWMODE", b"3", b"3"),
    (b"CIPDNS", b'1,"%s"' % DNS.encode(), b'1,"%s"' % DNS.encode()),
    (b"CIPSNTPCFG", b'0,5,"ntp.example"', b'0,5,"ntp.example"'),
    (b"CWSAP", b'"ap","password1",5,3', b'"ap","password1",5,3,10,0'),
    (b"CWDHCP", b"0,1", b"2"),
    (b"UART_DEF", b"57600,8,1,0,0", b"57600,8,1,0,0"),
    (b"CIPSSLCCONF", b"3,0,1", b"0,3,0,1"),
    (b"CIPAP", b'"192.168.7.1","192.168.7.1","255.255.255.0"',
     b'ip:"192.168.7.1"\r\n+CIPAP:gateway:"192.168.7.1"\r\n+CIPAP:netmask:"255.255.255.0"'),
)
DEFAULTS = {b"CWMODE": b"1", b"CIPDNS": b"0", b"CIPSNTPCFG": b"0,0",
            b"CWSAP": b'"","",1,0,10,0', b"CWDHCP": b"3", b"UART_DEF": b"115200,8,1,0,0",
            b"CIPSSLCCONF": b"0,0,0,0",
            b"CIPAP": b'ip:"192.168.4.1"\r\n+CIPAP:gateway:"192.168.4.1"\r\n'
                      b'+CIPAP:netmask:"255.255.255.0"'}


async def test_settings_persist_with_sysstore(start_port: StartPort, tmp_path: Path) -> None:
    """E30: SYSSTORE is 1 at boot: setters are saved in the port's state file
    and come back after AT+RST (the joined network too: joined again after
    `ready`); with SYSSTORE=0 changes last until the reset only; SYSSTORE
    itself is 1 again after it."""
    device = await open_esp(start_port)
    await device.command(b"AT+SYSSTORE?", b"+SYSSTORE:1\r\n" + OK)
    for name, value, _ in SETTERS:
        await device.command(b"AT+%s=%s" % (name, value), OK)
    await join(device, b"home", b"secret")
    assert stored(tmp_path)["network"] == ["home", "secret"]
    await device.command(b"AT+SYSSTORE=0", OK)
    await device.command(b"AT+SYSSTORE?", b"+SYSSTORE:0\r\n" + OK)
    await device.command(b'AT+CWJAP="other","pw"', b"WIFI DISCONNECT\r\n" + JOINED + OK)
    for line in (b"AT+CIPDNS=0", b"AT+CIPSNTPCFG=0,-3", b'AT+CWSAP="x","y",1,0',
                 b"AT+CWDHCP=1,3", b"AT+CIPSSLCCONF=0", b'AT+CIPAP="10.0.0.1"'):
        await device.command(line, OK)
    await device.command(b"AT+CWMODE=1", OK)
    await device.command(b"AT+RST", OK)
    await device.expect(READY + JOINED)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:2,"home"\r\n' + OK)
    for name, _, shown in SETTERS:
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, shown) + OK)
    await device.command(b"AT+SYSSTORE?", b"+SYSSTORE:1\r\n" + OK)
    for bad in (b"AT+SYSSTORE=2", b"AT+SYSSTORE=", b"AT+SYSSTORE"):
        await device.command(bad, ERROR)


async def test_unsaved_settings_end_with_the_reset(start_port: StartPort,
                                                   tmp_path: Path) -> None:
    """E30/E7: with SYSSTORE=0 nothing is written but AT+UART_DEF (which the
    firmware always saves), and a reset brings back the defaults."""
    device = await open_esp(start_port)
    await device.command(b"AT+SYSSTORE=0", OK)
    for name, value, _ in SETTERS:
        await device.command(b"AT+%s=%s" % (name, value), OK)
    await join(device)
    assert stored(tmp_path) == {"uart": [57600, 8, 1, 0, 0]}
    await device.command(b"AT+RST", OK)
    await device.expect(READY)
    await device.expect_silence(0.2)  # the network was not saved: not joined
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    for name, default in DEFAULTS.items():
        shown = b"57600,8,1,0,0" if name == b"UART_DEF" else default
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, shown) + OK)


async def test_restore_forgets(start_port: StartPort, tmp_path: Path) -> None:
    """E30: AT+RESTORE empties the state file and resets to the defaults."""
    device = await open_esp(start_port)
    for name, value, _ in SETTERS:
        await device.command(b"AT+%s=%s" % (name, value), OK)
    await join(device)
    assert stored(tmp_path)
    await device.command(b"AT+RESTORE", OK)
    await device.expect(READY)
    await device.expect_silence(0.2)
    assert stored(tmp_path) == {}
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    for name, default in DEFAULTS.items():
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, default) + OK)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)


async def test_autoconnect_off(start_port: StartPort) -> None:
    """E30/E13: with CWAUTOCONN=0 (kept) the saved network is not joined at boot."""
    device = await open_esp(start_port)
    await join(device)
    await device.command(b"AT+CWAUTOCONN=0", OK)
    await device.command(b"AT+RST", OK)
    await device.expect(READY)
    await device.expect_silence(0.2)
    await device.command(b"AT+CWAUTOCONN?", b"AT+CWAUTOCONN?\r\n+CWAUTOCONN:0\r\n" + OK)


async def test_store_is_per_port(start_port: StartPort, tmp_path: Path) -> None:
    """E30: each port has its own state file; one's settings never reach another."""
    first = await open_esp(start_port)
    second = await open_esp(start_port)
    await first.command(b"AT+CWMODE=2", OK)
    await second.command(b"AT+CWMODE?", b"+CWMODE:1\r\n" + OK)
    assert stored(tmp_path, "test0")["cwmode"] == 2
    assert stored(tmp_path, "test1") == {}
    await second.command(b"AT+RST", OK)
    await second.expect(READY)
    await second.command(b"AT+CWMODE?", b"AT+CWMODE?\r\n+CWMODE:1\r\n" + OK)


async def test_settings_come_back_when_the_port_opens(tmp_path: Path) -> None:
    """E30: what a port saved is there when the daemon opens it again."""
    settings = PortSettings(name="kept", device=f"pty:{tmp_path / 'uart'}", dialect="esp-at",
                            ready_ms=20, bind_address="127.0.0.1")
    config = Config(daemon=DaemonSettings(state_dir=str(tmp_path / "state")), port=[settings])
    async with trio.open_nursery() as nursery:
        await nursery.start(serve, config)
        device = Device(str(tmp_path / "uart"))
        await device.expect(READY)
        await device.command(b"AT+CWMODE=3", b"AT+CWMODE=3\r\n" + OK)
        await device.command(b'AT+CIPDNS=1,"%s"' % DNS.encode(),
                             b'AT+CIPDNS=1,"%s"\r\n' % DNS.encode() + OK)
        await device.aclose()
        nursery.cancel_scope.cancel()  # the daemon stops
    async with trio.open_nursery() as nursery:
        await nursery.start(serve, config)
        device = Device(str(tmp_path / "uart"))
        await device.expect(READY)
        await device.command(b"ATE0", b"ATE0\r\n" + OK)
        await device.command(b"AT+CWMODE?", b"+CWMODE:3\r\n" + OK)
        await device.command(b"AT+CIPDNS?", b'+CIPDNS:1,"%s"\r\n' % DNS.encode() + OK)
        await device.aclose()
        nursery.cancel_scope.cancel()


# -- E31: settings that are only stored ------------------------------------------------------------

async def test_stored_settings(start_port: StartPort) -> None:
    """E31: stored, OK, shown in their queries; out of range: ERROR."""
    device = await open_esp(start_port)
    settings = (
        (b"CIPV6", b"0", b"1", b"1"),
        (b"CIPRECONNINTV", b"1", b"100", b"100"),
        (b"SAVETRANSLINK", b'0,"",0,"TCP",0', b'1,"192.168.1.2",8080,"TCP",60',
         b'1,"192.168.1.2",8080,"TCP",60'),
        (b"TRANSINTVL", b"20", b"0", b"0"),
        (b"SYSMSG", b"0", b"3", b"3"),
        (b"SLEEP", b"1", b"2", b"2"),
        (b"MDNS", b'0,"","",0', b'1,"espressif","_iot",8080', b'1,"espressif","_iot",8080'),
    )
    for name, default, value, shown in settings:
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, default) + OK)
        await device.command(b"AT+%s=%s" % (name, value), OK)
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, shown) + OK)
    await device.command(b"AT+MDNS=0", OK)
    await device.command(b"AT+MDNS?", b'+MDNS:0,"","",0\r\n' + OK)
    for bad in (b"AT+CIPV6=2", b"AT+CIPRECONNINTV=0", b"AT+TRANSINTVL=1001", b"AT+SYSMSG=8",
                b"AT+SLEEP=4", b"AT+MDNS=2", b"AT+SAVETRANSLINK=2"):
        await device.command(bad, ERROR)


def keepalive_timer(remote_port: int) -> bytes:
    """ss's timer field for the daemon's socket to ``remote_port``."""
    shown = subprocess.run([require_binary("ss"), "-tnoH", "state", "established",
                            f"dport = :{remote_port}"], check=True, capture_output=True).stdout
    return shown


async def test_tcp_options(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E31: CIPTCPOPT is stored per link and shown; its keepalive applies to
    the TCP link it names (ss shows the keepalive timer)."""
    device = await open_esp(start_port)
    await device.command(b"AT+CIPTCPOPT?", b"+CIPTCPOPT:0,-1,0,0,0\r\n" + OK)
    await device.command(b"AT+CIPTCPOPT=-1,1,0,30", OK)
    await device.command(b"AT+CIPTCPOPT?", b"+CIPTCPOPT:0,-1,1,0,30\r\n" + OK)
    await join(device)
    await device.send(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"CONNECT\r\n" + OK)
    assert re.search(rb"timer:\(keepalive,", keepalive_timer(tcp_server.port))
    await device.command(b"AT+CIPMUX=1", ERROR)  # a link is open
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await peer.aclose()
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b"AT+CIPTCPOPT=4,-1,0,0,60", OK)
    await device.command(b"AT+CIPTCPOPT?", b"+CIPTCPOPT:0,-1,1,0,30\r\n+CIPTCPOPT:1,-1,0,0,0\r\n"
                         b"+CIPTCPOPT:2,-1,0,0,0\r\n+CIPTCPOPT:3,-1,0,0,0\r\n"
                         b"+CIPTCPOPT:4,-1,0,0,60\r\n" + OK)
    for bad in (b"AT+CIPTCPOPT=5,-1,0,0,0", b"AT+CIPTCPOPT=-1,0,0,0", b"AT+CIPTCPOPT=0,-2,0,0",
                b"AT+CIPTCPOPT=0,-1,2,0", b"AT+CIPTCPOPT=0,-1,0,0,7201"):
        await device.command(bad, ERROR)
    # the options stored for id 4 (not id 0's) apply to the link opened on id 4
    await device.command(b"AT+CIPTCPOPT=0,-1,0,0,0", OK)
    await device.send(b'AT+CIPSTART=4,"TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"4,CONNECT\r\n" + OK)
    assert re.search(rb"timer:\(keepalive,", keepalive_timer(tcp_server.port))
    await device.command(b"AT+CIPCLOSE=4", b"4,CLOSED\r\n" + OK)
    await peer.aclose()
