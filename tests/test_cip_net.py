"""CIP network services against real servers on loopback: dnsmasq for DNS
(C12), ICMP echo for AT+PING (C13), chronyd for SNTP (C14), and the
persisted settings (C16). These tests run as root (CI does): DNS and NTP
have fixed ports (53, 123), so each server gets a loopback address of its own.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import net_peers
import pytest
import trio
from conftest import WAIT, Device, StartPort, TcpServer

OK = b"OK\r\n"
ERROR = b"ERROR\r\n"
DNS = "127.53.0.1"  # dnsmasq
DEAD_DNS = "127.53.0.9"  # nothing listens: the query is refused at once
SILENT_DNS = "127.53.0.8"  # a socket that reads and never answers
NTP = "127.0.0.123"  # chronyd
GARBAGE_NTP = "127.0.0.124"  # answers every request with junk
DROPPED = "127.0.0.99"  # echo requests to it are dropped (nftables)


@pytest.fixture
async def dnsmasq(tmp_path: Path) -> AsyncIterator[None]:
    async with net_peers.dnsmasq(DNS, tmp_path):
        yield


@pytest.fixture
async def silent_dns() -> AsyncIterator[None]:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind((SILENT_DNS, 53))
        yield


@pytest.fixture
async def chronyd(tmp_path: Path) -> AsyncIterator[None]:
    async with net_peers.chronyd(NTP, tmp_path):
        yield


@pytest.fixture
async def garbage_ntp(nursery: trio.Nursery) -> AsyncIterator[None]:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((GARBAGE_NTP, 123))

    async def answer_junk() -> None:
        try:
            while True:
                _, source = await sock.recvfrom(1024)
                await sock.sendto(b"\x24" + b"\xff" * 47, source)  # mode 4, wrong origin
        except trio.ClosedResourceError:
            pass  # the fixture is over

    nursery.start_soon(answer_junk)
    yield
    sock.close()


@pytest.fixture
def unprivileged_ping() -> Iterator[None]:
    with net_peers.icmp_for_everyone():
        yield


@pytest.fixture
def dropped_echo() -> Iterator[None]:
    with net_peers.echo_requests_dropped(DROPPED, "atbridge_test"):
        yield


@pytest.fixture
async def cip_net(start_port: StartPort) -> Device:
    """A quiet CIP port with short network timeouts."""
    device = await start_port(dialect="cip", dns_server_timeout=0.5, dns_timeout=1.5,
                              ping_timeout=0.5, sntp_timeout=0.5)
    await device.expect(b"\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    return device


# -- AT+CIPDNS / AT+CIPDOMAIN (C12) ----------------------------------------------------

async def test_dns_settings(cip_net: Device) -> None:
    """C12: query and set; 208.67.222.222 when no server is given; up to three
    distinct IPv4 servers; servers only with enable 1."""
    await cip_net.command(b"AT+CIPDNS?", b"+CIPDNS:0\r\nOK\r\n")
    await cip_net.command(b"AT+CIPDNS=1", OK)
    await cip_net.command(b"AT+CIPDNS?", b'+CIPDNS:1,"208.67.222.222"\r\nOK\r\n')
    await cip_net.command(b'AT+CIPDNS=1,"127.53.0.1","127.53.0.2"', OK)
    await cip_net.command(b"AT+CIPDNS?", b'+CIPDNS:1,"127.53.0.1","127.53.0.2"\r\nOK\r\n')
    for line in (b'AT+CIPDNS=1,"1.1.1.1","1.1.1.1"', b'AT+CIPDNS=1,"1.1.1.1","2.2.2.2",'
                 b'"3.3.3.3","4.4.4.4"', b'AT+CIPDNS=1,"1.1.1"', b'AT+CIPDNS=1,"::1"',
                 b'AT+CIPDNS=0,"1.1.1.1"', b"AT+CIPDNS=2", b"AT+CIPDNS="):
        await cip_net.command(line, ERROR)
    await cip_net.command(b"AT+CIPDNS=0", OK)
    await cip_net.command(b"AT+CIPDNS?", b"+CIPDNS:0\r\nOK\r\n")


async def test_domain_with_machine_resolver(cip_net: Device) -> None:
    """C12: CIPDNS=0 resolves as this machine does, /etc/hosts included."""
    await cip_net.command(b'AT+CIPDOMAIN="localhost"', b'+CIPDOMAIN:"127.0.0.1"\r\nOK\r\n')
    await cip_net.command(b'AT+CIPDOMAIN="127.0.0.5"', b'+CIPDOMAIN:"127.0.0.5"\r\nOK\r\n')
    await cip_net.command(b'AT+CIPDOMAIN="no-such-host.invalid"', ERROR)
    await cip_net.command(b"AT+CIPDOMAIN=", ERROR)


async def test_domain_through_configured_servers(cip_net: Device, dnsmasq: None,
                                                 silent_dns: None) -> None:
    """C12: the configured servers answer, in turn: a refused or silent
    server passes to the next, a name that does not exist is ERROR at once,
    and a lookup nobody answers is ERROR within the bound."""
    await cip_net.command(b'AT+CIPDNS=1,"%s","%s","%s"' % (
        DEAD_DNS.encode(), SILENT_DNS.encode(), DNS.encode()), OK)
    await cip_net.command(b'AT+CIPDOMAIN="www.example.test"',
                          b'+CIPDOMAIN:"10.1.2.3"\r\nOK\r\n')
    await cip_net.command(b'AT+CIPDOMAIN="alias.example.test"',
                          b'+CIPDOMAIN:"127.0.0.1"\r\nOK\r\n')
    await cip_net.command(b'AT+CIPDOMAIN="nx.example.test"', ERROR)
    await cip_net.command(b'AT+CIPDNS=1,"%s"' % SILENT_DNS.encode(), OK)
    started = trio.current_time()
    await cip_net.command(b'AT+CIPDOMAIN="www.example.test"', ERROR)
    assert trio.current_time() - started < 1.5 + 1.0  # dns_timeout, plus slack
    await cip_net.command(b"AT", OK)  # the port kept answering


async def test_links_resolve_through_configured_servers(cip_net: Device, dnsmasq: None,
                                                        tcp_server: TcpServer) -> None:
    """C12: CIPSTART hosts and CIPSEND UDP destinations use the chosen servers
    (peer.example.test exists only in dnsmasq)."""
    name = b"peer.example.test"
    await cip_net.command(b'AT+CIPSTART="TCP","%s",%d' % (name, tcp_server.port), ERROR)
    await cip_net.command(b'AT+CIPDNS=1,"%s"' % DNS.encode(), OK)
    await cip_net.command(b'AT+CIPMUX=1', OK)
    await cip_net.send(b'AT+CIPSTART=0,"TCP","%s",%d\r\n' % (name, tcp_server.port))
    peer = await tcp_server.accept()
    await cip_net.expect(b"0,CONNECT\r\nOK\r\n")
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        await udp.bind(("127.0.0.1", 0))
        udp_port = udp.getsockname()[1]
        await cip_net.command(b'AT+CIPSTART=1,"UDP","127.0.0.1",9', b"1,CONNECT\r\nOK\r\n")
        await cip_net.command(b'AT+CIPSEND=1,3,"%s",%d' % (name, udp_port), b"\r\n>")
        await cip_net.send(b"udp")
        await cip_net.expect(b"SEND OK\r\n")
        with trio.fail_after(WAIT):
            assert await udp.recv(100) == b"udp"
    await peer.aclose()


# -- AT+PING (C13) ------------------------------------------------------------------------

async def test_ping(cip_net: Device, unprivileged_ping: None, dropped_echo: None,
                    dnsmasq: None) -> None:
    """C13: one echo: +PING:<ms> then OK, or +PING:TIMEOUT then ERROR within
    the bound; names resolve per C12; a name that does not resolve: ERROR."""
    await cip_net.send(b'AT+PING="127.0.0.1"\r\n')
    await cip_net.read_until(rb"\+PING:[1-9][0-9]*\r\nOK\r\n")
    started = trio.current_time()
    await cip_net.command(b'AT+PING="%s"' % DROPPED.encode(), b"+PING:TIMEOUT\r\nERROR\r\n")
    assert 0.5 <= trio.current_time() - started < 0.5 + 1.0
    await cip_net.command(b'AT+PING="no-such-host.invalid"', ERROR)
    await cip_net.command(b'AT+CIPDNS=1,"%s"' % DNS.encode(), OK)
    await cip_net.send(b'AT+PING="peer.example.test"\r\n')
    await cip_net.read_until(rb"\+PING:[1-9][0-9]*\r\nOK\r\n")
    await cip_net.command(b"AT+PING=", ERROR)


# -- AT+CIPSNTPCFG / AT+CIPSNTPTIME (C14) -----------------------------------------------------

def sntp_time_reply(epoch: float) -> bytes:
    return b"+CIPSNTPTIME:%s\r\nOK\r\n" % time.strftime(
        "%Y-%m-%d %H:%M:%S", time.gmtime(epoch)).encode()


async def query_time(device: Device) -> float:
    await device.send(b"AT+CIPSNTPTIME?\r\n")
    match = await device.read_until(rb"\+CIPSNTPTIME:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\r\nOK\r\n")
    return float(time.mktime(time.strptime(match[1].decode() + " UTC",
                                           "%Y-%m-%d %H:%M:%S %Z")) - time.timezone)


async def test_sntp_settings(cip_net: Device) -> None:
    """C14: defaults, set and query, ranges; 1970 (plus the zone) before any
    success."""
    await cip_net.command(b"AT+CIPSNTPCFG?", b"+CIPSNTPCFG:0,0\r\nOK\r\n")
    await cip_net.command(b"AT+CIPSNTPTIME?", sntp_time_reply(0))
    await cip_net.command(b"AT+CIPSNTPCFG=0,-5", OK)
    await cip_net.command(b"AT+CIPSNTPTIME?", sntp_time_reply(-5 * 3600))
    await cip_net.command(b'AT+CIPSNTPCFG=1,8,"a.example","b.example","c.example"', OK)
    await cip_net.command(b"AT+CIPSNTPCFG?",
                          b'+CIPSNTPCFG:1,8,"a.example","b.example","c.example"\r\nOK\r\n')
    for line in (b'AT+CIPSNTPCFG=1,13,"a"', b'AT+CIPSNTPCFG=1,-13,"a"', b"AT+CIPSNTPCFG=1,0",
                 b'AT+CIPSNTPCFG=1,0,"a","b","c","d"', b"AT+CIPSNTPCFG=2,0",
                 b"AT+CIPSNTPCFG=1", b"AT+CIPSNTPTIME"):
        await cip_net.command(line, ERROR)


async def test_sntp_time_from_chronyd(cip_net: Device, chronyd: None, garbage_ntp: None,
                                      silent_dns: None) -> None:
    """C14: a server that answers junk is skipped, chronyd's time comes back
    with the zone applied, within 2 s of this machine's clock."""
    await cip_net.command(b'AT+CIPSNTPCFG=1,8,"%s","%s"' % (GARBAGE_NTP.encode(),
                                                            NTP.encode()), OK)
    with trio.fail_after(WAIT):
        while (reported := await query_time(cip_net)) < 86400:
            await trio.sleep(0.1)
    assert abs(reported - (time.time() + 8 * 3600)) < 2


async def test_sntp_silent_or_junk_keeps_1970(cip_net: Device, garbage_ntp: None,
                                              silent_dns: None) -> None:
    """C14: nothing usable: the clock stays at 1970 plus the zone, and every
    command still answers at once."""
    await cip_net.command(b'AT+CIPSNTPCFG=1,-5,"%s","%s"' % (GARBAGE_NTP.encode(),
                                                             SILENT_DNS.encode()), OK)
    await trio.sleep(1.2)  # both servers have had their sntp_timeout
    started = trio.current_time()
    await cip_net.command(b"AT+CIPSNTPTIME?", sntp_time_reply(-5 * 3600))
    assert trio.current_time() - started < 0.5


# -- persistence (C16) -------------------------------------------------------------------------

async def test_settings_persist_with_sysstore(cip_net: Device) -> None:
    """C16: with SYSSTORE=1 CIPDNS and CIPSNTPCFG are saved and come back
    with AT+RST; with SYSSTORE=0 changes live until the reset only."""
    await cip_net.command(b'AT+CIPDNS=1,"127.53.0.1"', OK)
    await cip_net.command(b'AT+CIPSNTPCFG=0,3,"ntp.example"', OK)
    await cip_net.command(b"AT+SYSSTORE=0", OK)
    await cip_net.command(b'AT+CIPDNS=1,"127.53.0.2"', OK)
    await cip_net.command(b"AT+CIPSNTPCFG=0,-1", OK)
    await cip_net.command(b"AT+RST", b"OK\r\n\r\nready\r\n")
    await cip_net.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    await cip_net.command(b"AT+CIPDNS?", b'+CIPDNS:1,"127.53.0.1"\r\nOK\r\n')
    await cip_net.command(b"AT+CIPSNTPCFG?", b'+CIPSNTPCFG:0,3,"ntp.example"\r\nOK\r\n')
    await cip_net.command(b"AT+SYSSTORE?", b"+SYSSTORE:1\r\nOK\r\n")
