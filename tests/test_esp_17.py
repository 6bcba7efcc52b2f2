"""The ESP-AT 1.7 profile (ESP8266 NonOS AT) byte for byte: every wire
difference esp-at.md names for `esp_at_version = "1.7"`, item by item,
against the daemon on a real pty and real peers on loopback (dnsmasq for
names, nftables dropping echo requests, a DNS server that answers late).
The peers have loopback addresses no other test file uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import net_peers
import pytest
import trio
from conftest import Device, StartPort, TcpServer, free_port
from esp_host import BUSY, ERROR, JOINED, OK, READY
from esp_links_harness import SEND_OK, UdpPeer, open_tcp, open_udp

from bridge import __version__
from bridge.config import WifiNetwork

ECHO_END = b"\r\r\n"  # E4: the NonOS echo
PROMPT = b"\r\nOK\r\n> "  # E21: with the space
FAIL = b"\r\nFAIL\r\n"  # E9
DNS = "127.53.0.171"  # dnsmasq
LATE_DNS = "127.53.0.172"  # answers every query after DNS_DELAY
DNS_DELAY = 0.8
DROPPED = "127.0.0.171"  # echo requests to it are dropped (nftables)
NFT_TABLE = "atbridge_esp17_test"
OFFICE = WifiNetwork(ssid="office", bssid="12:34:56:78:9a:bc", channel=11, rssi=-40)
HOME = WifiNetwork(ssid="home", password="secret", bssid="02:00:00:00:00:01", rssi=-70)
LO_STATION = b'ip:"127.0.0.1"\r\n+%s:gateway:"0.0.0.0"\r\n+%s:netmask:"255.0.0.0"\r\n'


async def open_17(start_port: StartPort, *, joined: bool = False, mux: bool = False,
                  **settings: object) -> Device:
    """A 1.7 port after `ready` and ATE0 (whose echo ends `\\r\\r\\n`, E4), the
    station on the loopback interface, joined and in CIPMUX 1 if asked."""
    settings = {"ready_ms": 20, "interface": "lo", **settings}
    device = await start_port(dialect="esp-at", esp_at_version="1.7", **settings)
    await device.expect(READY)
    await device.command(b"ATE0", b"ATE0" + ECHO_END + OK)
    if joined:
        await device.command(b'AT+CWJAP="lab","secret"', JOINED + OK)
    if mux:
        await device.command(b"AT+CIPMUX=1", OK)
    return device


async def reset(device: Device, after_ready: bytes = b"") -> None:
    """AT+RST, `ready` (and what follows it), echo off again."""
    await device.command(b"AT+RST", OK)
    await device.expect(READY + after_ready)
    await device.command(b"ATE0", b"ATE0" + ECHO_END + OK)


async def send_17(device: Device, data: bytes, lead: bytes = b"") -> None:
    """AT+CIPSEND, the 1.7 prompt, the bytes, `Recv`, SEND OK (E21)."""
    await device.command(b"AT+CIPSEND=%s%d" % (lead, len(data)), PROMPT)
    await device.send(data)
    await device.expect(b"\r\nRecv %d bytes\r\n" % len(data) + SEND_OK)


@pytest.fixture
async def dnsmasq(tmp_path: Path) -> AsyncIterator[None]:
    async with net_peers.dnsmasq(DNS, tmp_path):
        yield


@pytest.fixture
def ping_peers() -> Iterator[None]:
    with net_peers.icmp_for_everyone(), net_peers.echo_requests_dropped(DROPPED, NFT_TABLE):
        yield


# -- E2, E4, E5: the version, echo, busy ----------------------------------------------------------

async def test_version(start_port: StartPort) -> None:
    """E2: `AT version:1.7.4.0(`, `SDK version:3.0.4(at-bridge <version>)` (the
    NonOS SDK of AT 1.7.4: Mbed's driver needs its first number at 2 or
    more) and `Bin version:1.7.4(at-bridge)`."""
    device = await open_17(start_port)
    await device.send(b"AT+GMR\r\n")
    match = await device.read_until(
        rb"AT version:1\.7\.4\.0\(at-bridge ([^ ]+) - esp-at 1\.7\)\r\n"
        rb"SDK version:3\.0\.4\(at-bridge ([^\r]+)\)\r\ncompile time:[^\r]+\r\n"
        rb"Bin version:1\.7\.4\(at-bridge\)\r\n\r\nOK\r\n")
    assert match[1] == match[2] == __version__.encode()
    await device.expect_silence(0.1)


async def test_echo(start_port: StartPort) -> None:
    """E4: the line echoed as `<line>\\r\\r\\n`, ATE0's own line too, unknown
    lines before their ERROR; AT+RST turns echo back on."""
    device = await start_port(dialect="esp-at", esp_at_version="1.7", ready_ms=20)
    await device.expect(READY)
    await device.command(b"AT", b"AT\r\r\n" + OK)
    await device.command(b"AT+NOSUCH", b"AT+NOSUCH\r\r\n" + ERROR)
    await device.command(b"AT+CIPMUX?", b"AT+CIPMUX?\r\r\n+CIPMUX:0\r\n" + OK)
    await device.command(b"ATE0", b"ATE0\r\r\n" + OK)
    await device.command(b"AT", OK)
    await device.command(b"ATE1", OK)
    await device.command(b"AT+RST", b"AT+RST\r\r\n" + OK)
    await device.expect(READY)
    await device.command(b"AT", b"AT\r\r\n" + OK)


async def test_busy_lines_are_not_echoed(start_port: StartPort) -> None:
    """E4/E5: while a lookup runs, lines get `busy p...` without their echo;
    the lookup's own line was echoed `\\r\\r\\n` and its answer is E28's
    unquoted 1.7 form."""
    async with net_peers.late_dns(LATE_DNS, DNS_DELAY, "10.9.8.7") as answered:
        device = await open_17(start_port, dns_server_timeout=DNS_DELAY + 2)
        await device.command(b'AT+CIPDNS_CUR=1,"%s"' % LATE_DNS.encode(), OK)
        await device.command(b"ATE1", OK)
        await device.command(b'AT+CIPDOMAIN="slow.example.test"',
                             b'AT+CIPDOMAIN="slow.example.test"\r\r\n')
        for line in (b"?", b"AT", b"AT+GMR"):
            await device.send(line + b"\r\n")
            with trio.fail_after(DNS_DELAY / 2):
                await device.expect(BUSY)
        assert not answered
        await device.expect(b"+CIPDOMAIN:10.9.8.7\r\n" + OK)
        await device.command(b"AT", b"AT\r\r\n" + OK)


# -- _CUR / _DEF names (E8-E13, E29, E31) ----------------------------------------------------------

async def test_suffixed_names_answer_with_their_own_name(start_port: StartPort) -> None:
    """E8, E12, E13, E31: CWMODE, CIPSTA, CIPSTAMAC, CWDHCP, CIPDNS, SYSMSG
    and CWCOUNTRY (which Mbed's driver sets as _DEF and _CUR at start) also
    answer as `<NAME>_CUR` and `<NAME>_DEF`, each query with its
    own name; 1.7's CIPDNS queries list a server a line, unquoted (none for
    the machine's resolver)."""
    device = await open_17(start_port, joined=True)
    for name in (b"CWMODE", b"CWMODE_CUR", b"CWMODE_DEF"):
        await device.command(b"AT+%s?" % name, b"+%s:1\r\n" % name + OK)
    await device.command(b"AT+CWMODE_CUR=3", OK)
    await device.command(b"AT+CWMODE?", b"+CWMODE:3\r\n" + OK)
    for name in (b"CIPSTA", b"CIPSTA_CUR", b"CIPSTA_DEF"):
        await device.command(b"AT+%s?" % name,
                             b"+%s:" % name + LO_STATION % (name, name) + OK)
        await device.command(b'AT+%s="192.168.1.9"' % name, OK)  # stored, the board's stay
    for name in (b"CIPSTAMAC", b"CIPSTAMAC_CUR", b"CIPSTAMAC_DEF"):
        await device.command(b"AT+%s?" % name, b'+%s:"00:00:00:00:00:00"\r\n' % name + OK)
        await device.command(b'AT+%s="1a:fe:34:00:00:01"' % name, OK)
    for name, operation, state in ((b"CWDHCP", b"0,2", b"1"), (b"CWDHCP_CUR", b"1,2", b"3"),
                                   (b"CWDHCP_DEF", b"0,1", b"2")):
        await device.command(b"AT+%s=%s" % (name, operation), OK)
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, state) + OK)
    for name in (b"CIPDNS", b"CIPDNS_CUR", b"CIPDNS_DEF"):
        await device.command(b"AT+%s?" % name, OK)
        await device.command(b'AT+%s=1,"127.0.0.53","9.9.9.9"' % name, OK)
        await device.command(b"AT+%s?" % name,
                             b"+%s:127.0.0.53\r\n+%s:9.9.9.9\r\n" % (name, name) + OK)
        await device.command(b"AT+%s=0" % name, OK)
        await device.command(b"AT+%s?" % name, OK)
    for name, value in ((b"SYSMSG", b"1"), (b"SYSMSG_CUR", b"3"), (b"SYSMSG_DEF", b"0"),
                        (b"CWCOUNTRY", b'1,"US",1,11'), (b"CWCOUNTRY_CUR", b'0,"CN",1,13'),
                        (b"CWCOUNTRY_DEF", b'1,"JP",1,14')):
        await device.command(b"AT+%s=%s" % (name, value), OK)
        await device.command(b"AT+%s?" % name, b"+%s:%s\r\n" % (name, value) + OK)
    for bad in (b"AT+CWMODE_CUR=4", b"AT+CWDHCP_DEF=1", b"AT+SYSMSG_CUR=8", b"AT+CIPSTA_CUR=1",
                b'AT+CIPDNS_DEF=0,"1.1.1.1"', b"AT+CWMODE_XYZ?", b"AT+CIPMUX_CUR=1"):
        await device.command(bad, ERROR)


async def test_cur_is_not_saved_def_is(start_port: StartPort) -> None:
    """E8, E9, E13, E29, E31: what `_CUR` names set is gone after AT+RST;
    what `_DEF` names set comes back, the network joined again after
    `ready`; the plain names save as `_DEF` (1.7 has no AT+SYSSTORE);
    AT+UART= is AT+UART_DEF=; AT+RESTORE forgets it all."""
    device = await open_17(start_port)
    for line in (b"AT+CWMODE_CUR=3", b"AT+CWDHCP_CUR=0,1", b'AT+CIPDNS_CUR=1,"127.0.0.53"',
                 b"AT+SYSMSG_CUR=1", b"AT+UART_CUR=9600,8,1,0,0", b'AT+CWCOUNTRY_CUR=1,"US",1,11'):
        await device.command(line, OK)
    await device.command(b'AT+CWJAP_CUR="lab","secret"', JOINED + OK)
    await reset(device)  # nothing after `ready`: the join was not saved
    await device.expect_silence(0.2)
    for query, answer in ((b"CWMODE", b"1"), (b"CWDHCP", b"3"), (b"SYSMSG", b"0"),
                          (b"UART_CUR", b"115200,8,1,0,0"), (b"CWCOUNTRY", b'0,"CN",1,13')):
        await device.command(b"AT+%s?" % query, b"+%s:%s\r\n" % (query, answer) + OK)
    await device.command(b"AT+CIPDNS_CUR?", OK)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)

    for line in (b"AT+CWMODE_DEF=3", b"AT+CWDHCP_DEF=0,1", b'AT+CIPDNS_DEF=1,"127.0.0.53"',
                 b"AT+SYSMSG_DEF=1", b"AT+UART=9600,8,1,0,0", b'AT+CWCOUNTRY_DEF=1,"JP",1,14'):
        await device.command(line, OK)
    await device.command(b'AT+CWJAP_DEF="lab","secret"', JOINED + OK)
    await reset(device, after_ready=JOINED)
    for query, answer in ((b"CWMODE", b"3"), (b"CWDHCP", b"2"), (b"SYSMSG", b"1"),
                          (b"UART_CUR", b"9600,8,1,0,0"), (b"UART_DEF", b"9600,8,1,0,0"),
                          (b"CIPDNS_CUR", b"127.0.0.53"), (b"CWCOUNTRY_CUR", b'1,"JP",1,14')):
        await device.command(b"AT+%s?" % query, b"+%s:%s\r\n" % (query, answer) + OK)

    await device.command(b"AT+CWMODE=1", OK)
    await device.command(b'AT+CWJAP="other","pw"', b"WIFI DISCONNECT\r\n" + JOINED + OK)
    await device.command(b"AT+UART_DEF=115200,8,1,0,0", OK)
    await reset(device, after_ready=JOINED)
    await device.command(b"AT+CWMODE?", b"+CWMODE:1\r\n" + OK)
    await device.send(b"AT+CWJAP?\r\n")
    await device.read_until(rb'\+CWJAP:"other","[0-9a-f:]{17}",\d+,-\d+\r\n\r\nOK\r\n')

    await device.command(b"AT+RESTORE", OK)
    await device.expect(READY)
    await device.command(b"ATE0", b"ATE0" + ECHO_END + OK)
    await device.expect_silence(0.2)
    for query, answer in ((b"CWMODE", b"1"), (b"CWDHCP", b"3"), (b"SYSMSG", b"0")):
        await device.command(b"AT+%s?" % query, b"+%s:%s\r\n" % (query, answer) + OK)


async def test_state_queries_do_not_exist(start_port: StartPort) -> None:
    """E10, E18, E30: 1.7 has no CWSTATE, CIPSTATE or SYSSTORE: ERROR, with
    AT+SYSLOG=1's unknown-command code first (E6)."""
    device = await open_17(start_port, joined=True)
    lines = (b"AT+CWSTATE?", b"AT+CIPSTATE?", b"AT+SYSSTORE=0", b"AT+SYSSTORE?")
    for line in lines:
        await device.command(line, ERROR)
    await device.command(b"AT+SYSLOG=1", OK)
    for line in lines:
        await device.command(line, b"ERR CODE:0x01090000\r\n" + ERROR)


# -- E9, E10, E14: joining, the joined network, the scan -------------------------------------------

async def test_join_failures_end_in_fail(start_port: StartPort) -> None:
    """E9: `+CWJAP:<n>` then FAIL (not ERROR) under each name; a join with
    bad arguments is still ERROR."""
    device = await open_17(start_port, wifi_networks=[HOME])
    for name in (b"CWJAP", b"CWJAP_CUR", b"CWJAP_DEF"):
        await device.command(b'AT+%s="home","wrong"' % name, b"+CWJAP:2\r\n" + FAIL)
        await device.command(b'AT+%s="nosuch","secret"' % name, b"+CWJAP:3\r\n" + FAIL)
        await device.command(b'AT+%s="home"' % name, ERROR)
        await device.command(b'AT+%s="home","secret"' % name, JOINED + OK)
        await device.command(b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    device = await open_17(start_port, interface="nosuch0")
    await device.command(b'AT+CWJAP_CUR="home","secret"', b"+CWJAP:1\r\n" + FAIL)


async def test_joined_network_has_four_fields(start_port: StartPort) -> None:
    """E10: `+CWJAP:` for the plain query, `+CWJAP_CUR:` for both `_CUR?`
    and `_DEF?`, with SSID, BSSID, channel and RSSI only; not joined: No AP."""
    device = await open_17(start_port, wifi_networks=[OFFICE, HOME])
    for name in (b"CWJAP", b"CWJAP_CUR", b"CWJAP_DEF"):
        await device.command(b"AT+%s?" % name, b"No AP\r\n" + OK)
    await device.command(b'AT+CWJAP_CUR="office",""', JOINED + OK)
    fields = b'"office","12:34:56:78:9a:bc",11,-40\r\n'
    await device.command(b"AT+CWJAP?", b"+CWJAP:" + fields + OK)
    await device.command(b"AT+CWJAP_CUR?", b"+CWJAP_CUR:" + fields + OK)
    await device.command(b"AT+CWJAP_DEF?", b"+CWJAP_CUR:" + fields + OK)


async def test_scan_has_eleven_fields(start_port: StartPort) -> None:
    """E14: ecn, SSID, RSSI, MAC, channel, freq offset, freqcal, pairwise
    and group cipher, bgn, wps, as NonOS AT prints them since 1.6 (Mbed's
    driver scans all eleven); CWLAPOPT's mask picks among them."""
    device = await open_17(start_port, wifi_networks=[HOME, OFFICE])
    await device.command(b"AT+CWLAP",
                         b'+CWLAP:(0,"office",-40,"12:34:56:78:9a:bc",11,-1,-1,4,4,7,0)\r\n'
                         b'+CWLAP:(3,"home",-70,"02:00:00:00:00:01",6,-1,-1,4,4,7,0)\r\n' + OK)
    await device.command(b"AT+CWLAPOPT=1,31", OK)
    await device.command(b"AT+CWLAP", b'+CWLAP:(0,"office",-40,"12:34:56:78:9a:bc",11)\r\n'
                         b'+CWLAP:(3,"home",-70,"02:00:00:00:00:01",6)\r\n' + OK)
    await device.command(b"AT+CWLAPOPT=1,2047", OK)
    await device.command(b'AT+CWLAP="home"',
                         b'+CWLAP:(3,"home",-70,"02:00:00:00:00:01",6,-1,-1,4,4,7,0)\r\n' + OK)


# -- E16-E19: links --------------------------------------------------------------------------------

async def test_status_is_5_whenever_not_joined(start_port: StartPort,
                                               tcp_server: TcpServer) -> None:
    """E18: STATUS:5 before any join (2.4: 1) and in CWMODE 0 (2.4: 0), 2
    joined, 3 with a link (its +CIPSTATUS line), 4 after it closed, 2 after
    a new join, 5 after a quit."""
    device = await open_17(start_port)
    await device.command(b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)
    await device.command(b"AT+CWMODE_CUR=0", OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)
    await device.command(b"AT+CWMODE_CUR=1", OK)
    await device.command(b'AT+CWJAP_CUR="lab","secret"', JOINED + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)
    peer = await open_tcp(device, tcp_server)
    local = peer.stream.socket.getpeername()[1]
    await device.command(b"AT+CIPSTATUS", b'STATUS:3\r\n+CIPSTATUS:0,"TCP","127.0.0.1",%d,%d,0\r\n'
                         % (tcp_server.port, local) + OK)
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:4\r\n" + OK)
    await device.command(b'AT+CWJAP_CUR="lab","secret"', b"WIFI DISCONNECT\r\n" + JOINED + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)
    await device.command(b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)


async def test_start_failures(start_port: StartPort, tcp_server: TcpServer,
                              dnsmasq: None) -> None:
    """E16: not joined: `no ip` then ERROR; a name that does not resolve:
    `DNS Fail`, ERROR, CLOSED; a refused connection: ERROR, CLOSED (no
    `DNS Fail`); a name that resolves connects."""
    device = await open_17(start_port, dns_server_timeout=0.5, dns_timeout=1.5)
    start = b'AT+CIPSTART=%s"TCP","%s",%d'
    await device.command(start % (b"", b"127.0.0.1", tcp_server.port), b"no ip\r\n" + ERROR)
    await device.command(b'AT+CWJAP_CUR="lab","secret"', JOINED + OK)
    await device.command(b'AT+CIPDNS_CUR=1,"%s"' % DNS.encode(), OK)
    closed = free_port()
    await device.command(start % (b"", b"nx.example.test", 80), b"DNS Fail\r\n" + ERROR
                         + b"CLOSED\r\n")
    await device.command(start % (b"", b"127.0.0.1", closed), ERROR + b"CLOSED\r\n")
    await device.command(b'AT+CIPSTART="UDP","nx.example.test",53',
                         b"DNS Fail\r\n" + ERROR + b"CLOSED\r\n")
    await open_tcp(device, tcp_server, host=b"peer.example.test")
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(start % (b"3,", b"nx.example.test", 80), b"DNS Fail\r\n" + ERROR
                         + b"3,CLOSED\r\n")
    await device.command(start % (b"3,", b"127.0.0.1", closed), ERROR + b"3,CLOSED\r\n")
    await device.command(b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    await device.command(start % (b"3,", b"127.0.0.1", tcp_server.port), b"no ip\r\n" + ERROR)


async def test_close_of_no_link(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E19: CIPMUX 1: `UNLINK` then ERROR for an id with no link; CIPMUX 0:
    ERROR; an open link closes as in 2.4."""
    device = await open_17(start_port, joined=True)
    await device.command(b"AT+CIPCLOSE", ERROR)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b"AT+CIPCLOSE=2", b"UNLINK\r\n" + ERROR)
    peer = await open_tcp(device, tcp_server, link_id=2)
    await device.command(b"AT+CIPCLOSE=2", b"2,CLOSED\r\n" + OK)
    await peer.expect_eof()
    await device.command(b"AT+CIPCLOSE=2", b"UNLINK\r\n" + ERROR)
    await device.command(b"AT+CIPCLOSE=5", OK)
    await device.command(b"AT+CIPCLOSE", ERROR)  # the plain form in MUX 1


async def test_server_stop_without_a_server(start_port: StartPort) -> None:
    """E27: AT+CIPSERVER=0 with no server: `no change` then OK."""
    device = await open_17(start_port, joined=True, mux=True)
    await device.command(b"AT+CIPSERVER=0", b"no change\r\n" + OK)
    await device.command(b"AT+CIPSERVER=1,%d" % free_port(), OK)
    await device.command(b"AT+CIPSERVER=0", OK)
    await device.command(b"AT+CIPSERVER=0", b"no change\r\n" + OK)


async def test_ssl_size_is_answered_ok(start_port: StartPort) -> None:
    """E17: AT+CIPSSLSIZE= answers OK (2.4: ERROR); out of range: ERROR."""
    device = await open_17(start_port)
    for size in (b"2048", b"4096"):
        await device.command(b"AT+CIPSSLSIZE=%s" % size, OK)
    for bad in (b"AT+CIPSSLSIZE=1024", b"AT+CIPSSLSIZE", b"AT+CIPSSLSIZE=x"):
        await device.command(bad, ERROR)


# -- E21-E23: sending ------------------------------------------------------------------------------

async def test_send_prompt_and_limit(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E21/E22: the prompt is `\\r\\nOK\\r\\n> `; 2048 bytes at most (2049:
    ERROR, no prompt); CIPSENDEX's data ends at `\\0` after the same prompt."""
    device = await open_17(start_port, joined=True)
    peer = await open_tcp(device, tcp_server)
    await send_17(device, b"hello")
    await peer.expect(b"hello")
    data = bytes(range(256)) * 8
    await send_17(device, data)
    await peer.expect(data)
    await device.command(b"AT+CIPSEND=2049", ERROR)
    await device.command(b"AT+CIPSENDEX=2049", ERROR)
    await device.command(b"AT+CIPSENDEX=10", PROMPT)
    await device.send(b"ab\\0")
    await device.expect(b"\r\nRecv 2 bytes\r\n" + SEND_OK)
    await peer.expect(b"ab")
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    peer = await open_tcp(device, tcp_server, link_id=4)
    await send_17(device, b"four", lead=b"4,")
    await peer.expect(b"four")
    await device.command(b"AT+CIPSEND=3,5", b"link is not valid\r\n" + ERROR)


async def test_passthrough_prompt(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E23: AT+CIPSEND in passthrough answers `\\r\\nOK\\r\\n\\r\\n>` in both
    profiles; the bytes reach the peer raw and `+++` leaves."""
    device = await open_17(start_port, joined=True)
    peer = await open_tcp(device, tcp_server)
    await device.command(b"AT+CIPMODE=1", OK)
    await device.command(b"AT+CIPSEND", b"\r\nOK\r\n\r\n>")
    await device.send(b"raw bytes")
    await peer.expect(b"raw bytes")
    await trio.sleep(0.05)
    await device.send(b"+++")
    await trio.sleep(0.05)
    await device.command(b"AT", OK)


# -- E24, E25: receiving ---------------------------------------------------------------------------

async def test_ipd_addresses_are_unquoted(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E24: with CIPDINFO=1, `+IPD,<len>,<ip>,<port>:` unquoted (MUX 0 and 1)."""
    device = await open_17(start_port, joined=True)
    peer = await open_tcp(device, tcp_server)
    port = peer.stream.socket.getsockname()[1]
    await device.command(b"AT+CIPDINFO=1", OK)
    await peer.send(b"abc")
    await device.expect(b"\r\n+IPD,3,127.0.0.1,%d:abc" % port)
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    peer = await open_tcp(device, tcp_server, link_id=1)
    port = peer.stream.socket.getsockname()[1]
    await peer.send(b"xyz")
    await device.expect(b"\r\n+IPD,1,3,127.0.0.1,%d:xyz" % port)


async def test_passive_reads(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E25: passive TCP data is announced `+IPD,<id>,<total>`; CIPRECVDATA
    answers `+CIPRECVDATA,<n>:<data>` then OK, never an address (not even
    with CIPDINFO=1); CIPRECVLEN? reads 0 for ids with no link."""
    device = await open_17(start_port, joined=True, mux=True)
    await device.command(b"AT+CIPRECVMODE=1", OK)
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:0,0,0,0,0\r\n" + OK)
    peer = await open_tcp(device, tcp_server, link_id=4)
    await peer.send(b"0123456789")
    await device.expect(b"\r\n+IPD,4,10\r\n")
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:0,0,0,0,10\r\n" + OK)
    await device.command(b"AT+CIPRECVDATA=4,4", b"+CIPRECVDATA,4:0123" + OK)
    await device.command(b"AT+CIPDINFO=1", OK)
    await device.command(b"AT+CIPRECVDATA=4,64", b"+CIPRECVDATA,6:456789" + OK)
    await device.command(b"AT+CIPRECVDATA=4,64", ERROR)
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:0,0,0,0,0\r\n" + OK)
    await device.command(b"AT+CIPRECVDATA=3,64", ERROR)


async def test_udp_stays_active_in_passive_mode(start_port: StartPort) -> None:
    """E25/E24/E16: with CIPRECVMODE=1 a UDP link still writes an active
    `+IPD` frame per datagram (with CIPDINFO=1 its sender unquoted), while
    CIPRECVLEN? counts nothing for it; CIPSTATUS shows the sender a listener
    took as its peer."""
    peer = await UdpPeer().bind()
    try:
        device = await open_17(start_port, joined=True, mux=True)
        await device.command(b"AT+CIPRECVMODE=1", OK)
        await device.command(b"AT+CIPDINFO=1", OK)
        local = await open_udp(device, 0, link_id=4, mode=2, remote=b"0.0.0.0")
        await peer.send_to(b"datagram one", local)
        await device.expect(b"\r\n+IPD,4,12,127.0.0.1,%d:datagram one" % peer.port)
        await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:0,0,0,0,0\r\n" + OK)
        await device.command(b"AT+CIPRECVDATA=4,64", ERROR)  # nothing is kept for a read
        await device.command(b"AT+CIPSTATUS", b'STATUS:3\r\n+CIPSTATUS:4,"UDP","127.0.0.1",%d,%d,0'
                             b"\r\n" % (peer.port, local) + OK)
        await device.command(b"AT+CIPDINFO=0", OK)
        await peer.send_to(b"two", local)
        await device.expect(b"\r\n+IPD,4,3:two")
        await device.command(b'AT+CIPSEND=4,5,"127.0.0.1",%d' % peer.port, PROMPT)
        await device.send(b"reply")
        await device.expect(b"\r\nRecv 5 bytes\r\n" + SEND_OK)
        assert await peer.receive() == (b"reply", local)
    finally:
        peer.close()


# -- E28: services ---------------------------------------------------------------------------------

async def test_domain(start_port: StartPort, dnsmasq: None) -> None:
    """E28: `+CIPDOMAIN:<ip>` unquoted; a failure is `DNS Fail` then ERROR."""
    device = await open_17(start_port, dns_server_timeout=0.5, dns_timeout=1.5)
    await device.command(b'AT+CIPDOMAIN="127.0.0.5"', b"+CIPDOMAIN:127.0.0.5\r\n" + OK)
    await device.command(b'AT+CIPDNS_CUR=1,"%s"' % DNS.encode(), OK)
    await device.command(b'AT+CIPDOMAIN="www.example.test"', b"+CIPDOMAIN:10.1.2.3\r\n" + OK)
    await device.command(b'AT+CIPDOMAIN="nx.example.test"', b"DNS Fail\r\n" + ERROR)
    await device.command(b"AT+CIPDOMAIN=", ERROR)


async def test_ping(start_port: StartPort, ping_peers: None, dnsmasq: None) -> None:
    """E28: `+<ms>` then OK; no answer or no such name: `+timeout` then ERROR."""
    device = await open_17(start_port, ping_timeout=0.5, dns_server_timeout=0.5,
                           dns_timeout=1.5)
    await device.send(b'AT+PING="127.0.0.1"\r\n')
    await device.read_until(rb"\+[1-9]\d*\r\n\r\nOK\r\n")
    await device.command(b'AT+PING="%s"' % DROPPED.encode(), b"+timeout\r\n" + ERROR)
    await device.command(b'AT+CIPDNS_CUR=1,"%s"' % DNS.encode(), OK)
    await device.send(b'AT+PING="peer.example.test"\r\n')
    await device.read_until(rb"\+[1-9]\d*\r\n\r\nOK\r\n")
    await device.command(b'AT+PING="nx.example.test"', b"+timeout\r\n" + ERROR)

