"""ESP-AT basics on a real pty, byte for byte (esp-at.md E2-E7, E26): the
version, lines and echo, busy answers while a command runs, SYSLOG's error
codes, `ready` and resets, and the order and spacing of unsolicited frames
around replies. Slow commands are lookups through a DNS server that answers
late (tests/net_peers.py), on loopback addresses no other test file uses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import net_peers
import pytest
import trio
from conftest import Device, Peer, StartPort, TcpServer, connect, free_port
from esp_host import BUSY, ERROR, JOINED, OK, READY, join, open_esp

from bridge import __version__
from bridge.config import WifiNetwork

LATE_DNS = "127.53.0.22"  # answers every query after DNS_DELAY
DNS_DELAY = 0.8
SLOW_ANSWER = b'+CIPDOMAIN:"10.9.8.7"\r\n' + OK
SLOW_LOOKUP = b'AT+CIPDOMAIN="slow.example.test"'


@pytest.fixture
async def late_dns() -> AsyncIterator[list[float]]:
    async with net_peers.late_dns(LATE_DNS, DNS_DELAY, "10.9.8.7") as answered:
        yield answered


async def slow_port(start_port: StartPort, **settings: object) -> Device:
    """A port whose CIPDOMAIN goes to the late DNS server."""
    device = await open_esp(start_port, dns_server_timeout=DNS_DELAY + 2, **settings)
    await device.command(b'AT+CIPDNS=1,"%s"' % LATE_DNS.encode(), OK)
    return device


async def exchange(device: Device, raw: bytes, reply: bytes) -> None:
    """Send ``raw`` as it is (line ends included) and expect ``reply``."""
    await device.send(raw)
    await device.expect(reply)


# -- E2: AT+GMR ---------------------------------------------------------------------------------

async def test_version(start_port: StartPort) -> None:
    """E2: four lines then OK; `AT version:%d.%d.%d.%d` with its `(` within
    the first 63 bytes of the line."""
    device = await open_esp(start_port)
    await device.send(b"AT+GMR\r\n")
    match = await device.read_until(
        rb"(AT version:[^\r]*)\r\nSDK version:at-bridge ([^\r]*)\r\n"
        rb"compile time:([^\r]*)\r\nBin version:2\.4\.0\(at-bridge\)\r\n\r\nOK\r\n")
    assert match[1] == b"AT version:2.4.0.0(at-bridge %s - esp-at 2.4)" % __version__.encode()
    assert match[1].index(b"(") < 63
    assert match[2] == __version__.encode()
    assert re.fullmatch(rb"[A-Z][a-z]{2} [ 0-9]\d \d{4} \d\d:\d\d:\d\d", match[3])
    await device.expect_silence(0.1)


# -- E3: lines -----------------------------------------------------------------------------------

async def test_line_ends(start_port: StartPort) -> None:
    """E3/E4: CR LF, a lone CR or a lone LF end a line; the LF right after a
    line's CR belongs to it, even when it comes later; empty lines are
    ignored. Echo is on at boot: `<line>\\r\\n` before the reply."""
    device = await open_esp(start_port, echo=True)
    for ending in (b"\r\n", b"\r", b"\n"):
        await exchange(device, b"AT" + ending, b"AT\r\n" + OK)
    await exchange(device, b"AT\r", b"AT\r\n" + OK)
    await device.send(b"\n")  # the end of the line before, not an empty line
    await device.send(b"\r\n\r\n\n\r")
    await device.expect_silence(0.2)
    await exchange(device, b"\nAT\r\n", b"AT\r\n" + OK)


async def test_line_limit(start_port: StartPort) -> None:
    """E3: a line of 256 bytes is a command; a longer one is ERROR (not
    echoed: it was never a line), and the next line is read as usual."""
    device = await open_esp(start_port, echo=True)
    padded = b"AT+CWMODE=3".ljust(256)  # spaces after a value are tolerated
    await device.command(padded, padded + b"\r\n" + OK)
    await device.command(b"AT+CWMODE?", b"AT+CWMODE?\r\n+CWMODE:3\r\n" + OK)
    await device.command(b"AT+CWMODE=1".ljust(257), ERROR)
    await device.command(b"AT+" + b"X" * 1000, ERROR)
    await device.command(b"AT+CWMODE?", b"AT+CWMODE?\r\n+CWMODE:3\r\n" + OK)


async def test_quoted_escapes(start_port: StartPort) -> None:
    """E3/E10: `\\,` `\\"` `\\\\` inside quotes are the characters after the
    backslash; queries show the SSID escaped the same way."""
    device = await open_esp(start_port)
    ssid = rb'a\,b\"c\\d'
    await join(device, ssid, rb'p\"w\,d')
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:2,"%s"\r\n' % ssid + OK)
    await device.send(b"AT+CWJAP?\r\n")
    await device.read_until(rb'\+CWJAP:"a\\,b\\"c\\\\d","[0-9a-f:]{17}",6,-50,0,0,0,0,0\r\n'
                            rb"\r\nOK\r\n")
    await device.command(b'AT+CWHOSTNAME="x\\"y"', OK)
    await device.command(b"AT+CWHOSTNAME?", b'+CWHOSTNAME:x"y\r\n' + OK)


async def test_quoted_escapes_against_configured_networks(start_port: StartPort) -> None:
    """E3/E9: an escaped SSID and password match the configured ones."""
    device = await open_esp(start_port, wifi_networks=[
        WifiNetwork(ssid='my,"net\\', password='pa"ss,\\')])
    await device.command(b'AT+CWJAP="my\\,\\"net\\\\","pa\\"ss\\,\\\\"', JOINED + OK)
    await device.command(b'AT+CWJAP="my,net","pa\\"ss\\,\\\\"',
                         b"WIFI DISCONNECT\r\n+CWJAP:3\r\n" + ERROR)


async def test_empty_optional_parameters(start_port: StartPort) -> None:
    """E3: omitted optional parameters keep their commas."""
    device = await open_esp(start_port)
    await device.command(b'AT+CWJAP="a","b",,1', JOINED + OK)
    await device.command(b'AT+CWJAP="a","b",,,,,,,3',
                         b"WIFI DISCONNECT\r\n" + JOINED + OK)
    await device.command(b"AT+CWLAPOPT=1,31,,", OK)
    await device.command(b"AT+CWLAPOPT?", b"+CWLAPOPT:1,31,-100,65535\r\n" + OK)
    await device.command(b'AT+CWJAP="a"', ERROR)  # the password is not optional
    await device.command(b'AT+CWJAP="a","b",,2', ERROR)  # pci_en is 0 or 1


# -- E4: echo ------------------------------------------------------------------------------------

async def test_echo(start_port: StartPort) -> None:
    """E4: echo is on at boot; ATE0's own line is still echoed; ATE1 turns it
    back on; unknown lines are echoed before their ERROR; AT+RST turns it on."""
    device = await open_esp(start_port, echo=True)
    await device.command(b"AT+NOSUCH", b"AT+NOSUCH\r\n" + ERROR)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.command(b"AT", OK)
    await device.command(b"AT+NOSUCH", ERROR)
    await device.command(b"ATE1", OK)
    await device.command(b"AT", b"AT\r\n" + OK)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.command(b"AT+RST", OK)
    await device.expect(READY)
    await device.command(b"AT", b"AT\r\n" + OK)


# -- E5: busy ------------------------------------------------------------------------------------

async def test_busy_while_a_command_runs(start_port: StartPort, late_dns: list[float]) -> None:
    """E5/E4: every line that comes while a lookup runs is answered
    `busy p...` at once, not echoed, and discarded; the command's reply
    follows when it is done, then lines run again."""
    device = await slow_port(start_port)
    await device.command(b"ATE1", OK)
    await device.send(SLOW_LOOKUP + b"\r\n")
    await device.expect(SLOW_LOOKUP + b"\r\n")
    for line in (b"AT", b"?", b"AT+GMR", b"AT+CIPMUX=1", b"garbage", b"AT+" + b"X" * 300):
        await device.send(line + b"\r\n")
        with trio.fail_after(DNS_DELAY / 2):  # at once, long before the answer
            await device.expect(BUSY)
    assert not late_dns  # all of that while the server had not answered
    await device.expect(SLOW_ANSWER)
    await device.command(b"AT+CIPMUX?", b"AT+CIPMUX?\r\n+CIPMUX:0\r\n" + OK)


async def test_idle_question_mark(start_port: StartPort) -> None:
    """E5: a bare `?` when idle gets ERROR (echoed like any line)."""
    device = await open_esp(start_port, echo=True)
    await device.command(b"?", b"?\r\n" + ERROR)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.command(b"?", ERROR)


async def test_counted_bytes_are_never_lines(start_port: StartPort,
                                             tcp_server: TcpServer) -> None:
    """E5/E3: bytes after `>` are payload, whatever they look like; an LF
    right after the CR that ended the command is not."""
    device = await open_esp(start_port)
    await join(device)
    await device.send(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"CONNECT\r\n" + OK)
    payload = b"AT\r\n?\r\nAT+RST\r\n"
    await device.command(b"AT+CIPSEND=%d" % len(payload), OK + b"\r\n>")
    await device.send(payload)
    await device.expect(b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(payload))
    await peer.expect(payload)
    await device.send(b"AT+CIPSEND=3\r")
    await device.expect(OK + b"\r\n>")
    await device.send(b"\nabc")  # E3: the LF ends the line before; the payload follows it
    await device.expect(b"\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n")
    await peer.expect(b"abc")
    await device.expect_silence(0.2)


# -- E6: AT+SYSLOG -------------------------------------------------------------------------------

async def test_syslog_error_codes(start_port: StartPort, late_dns: list[float]) -> None:
    """E6: SYSLOG is 0 at boot; with 1 an `ERR CODE:` line comes before
    ERROR (unknown, an idle `?`, invalid parameter) and before `busy p...`;
    a reset turns it off."""
    device = await slow_port(start_port)
    await device.command(b"AT+SYSLOG?", b"+SYSLOG:0\r\n" + OK)
    await device.command(b"AT+NOSUCH", ERROR)
    await device.command(b"AT+SYSLOG=2", ERROR)
    await device.command(b"AT+SYSLOG=1", OK)
    await device.command(b"AT+SYSLOG?", b"+SYSLOG:1\r\n" + OK)
    unknown, invalid = b"ERR CODE:0x01090000\r\n", b"ERR CODE:0x01070000\r\n"
    await device.command(b"AT+NOSUCH", unknown + ERROR)
    await device.command(b"?", unknown + ERROR)
    await device.command(b"AT+CWMODE=9", invalid + ERROR)
    await device.command(b'AT+CWJAP="a"', invalid + ERROR)
    await device.send(SLOW_LOOKUP + b"\r\n")
    await trio.sleep(0.1)
    await device.command(b"AT", b"ERR CODE:0x010b0000\r\n" + BUSY)
    await device.expect(SLOW_ANSWER)
    await device.command(b"AT+RST", OK)
    await device.expect(READY)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    await device.command(b"AT+NOSUCH", ERROR)
    await device.command(b"AT+SYSLOG?", b"+SYSLOG:0\r\n" + OK)


# -- E7: ready, AT+RST, AT+RESTORE, AT+GSLP ------------------------------------------------

async def test_ready_after_the_pause(start_port: StartPort) -> None:
    """E7: `ready` comes ready_ms (300 by default) after the terminal exists;
    a line sent during the pause runs at once, before it."""
    started = trio.current_time()
    device = await start_port(dialect="esp-at")
    await device.command(b"AT", b"AT\r\n" + OK)  # before `ready`: it ran in the pause
    await device.expect(READY)
    assert 0.3 <= trio.current_time() - started < 0.3 + 1.0
    await device.expect_silence(0.2)


async def test_reset_restores_the_defaults(start_port: StartPort,
                                           tcp_server: TcpServer) -> None:
    """E7: AT+RST answers OK, then `ready` after the pause; links close
    without CLOSED notices, the server stops, echo, CIPMUX, CIPMODE,
    CIPRECVMODE, CIPDINFO and SYSLOG are back to their defaults and the
    station is not joined."""
    device = await open_esp(start_port, ready_ms=300)
    await device.command(b"AT+SYSSTORE=0", OK)  # nothing of this is kept
    await join(device)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.send(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"0,CONNECT\r\n" + OK)
    server_port = free_port()
    await device.command(b"AT+CIPSERVER=1,%d" % server_port, OK)
    for line in (b"AT+CIPRECVMODE=1", b"AT+CIPDINFO=1", b"AT+SYSLOG=1"):
        await device.command(line, OK)
    sent = trio.current_time()  # the OK is written after this, `ready` 0.3 s after the OK
    await device.command(b"AT+RST", OK)
    replied = trio.current_time()
    await peer.expect_eof()
    await device.expect(READY, timeout=2)
    assert sent + 0.3 <= trio.current_time() < replied + 0.3 + 1.0
    await device.expect_silence(0.2)  # no CLOSED, no WIFI CONNECTED
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", server_port)
    await device.command(b"AT", b"AT\r\n" + OK)
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    for query, value in ((b"CIPMUX", b"0"), (b"CIPMODE", b"0"), (b"CIPRECVMODE", b"0"),
                         (b"CIPDINFO", b"false"), (b"SYSLOG", b"0"), (b"CWMODE", b"1")):
        await device.command(b"AT+%s?" % query, b"+%s:%s\r\n" % (query, value) + OK)
    await device.command(b"AT+CWJAP?", b"No AP\r\n" + OK)
    await device.command(b"AT+CWSTATE?", b'+CWSTATE:0,""\r\n' + OK)
    await device.command(b"AT+CIFSR", b'+CIFSR:STAIP,"0.0.0.0"\r\n')
    await device.read_until(rb'\+CIFSR:STAMAC,"[0-9a-f:]{17}"\r\n\r\nOK\r\n')


async def test_restore_and_deep_sleep_reset(start_port: StartPort,
                                            tcp_server: TcpServer) -> None:
    """E7/E31: AT+RESTORE and AT+GSLP (which answers its time first) reset
    as AT+RST does: OK, the pause, `ready`; links closed without notices."""
    device = await open_esp(start_port, ready_ms=200)
    await join(device)
    await device.send(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"CONNECT\r\n" + OK)
    sent = trio.current_time()
    await device.command(b"AT+RESTORE", OK)
    await peer.expect_eof()
    await device.expect(READY)
    assert trio.current_time() >= sent + 0.2
    await device.expect_silence(0.2)  # RESTORE forgot the network: not joined
    sent = trio.current_time()
    await device.command(b"AT+GSLP=1500", b"AT+GSLP=1500\r\n1500\r\n" + OK)
    await device.expect(READY)
    assert trio.current_time() >= sent + 0.2
    await device.command(b"AT+GSLP=", b"AT+GSLP=\r\n" + ERROR)
    await device.command(b"AT+GSLP", b"AT+GSLP\r\n" + ERROR)


async def test_ready_waits_for_a_running_command(start_port: StartPort,
                                                 late_dns: list[float]) -> None:
    """E7/E26: `ready` is an unsolicited frame: when its pause ends during a
    command, it comes after the command's reply and the gap."""
    device = await slow_port(start_port, ready_ms=100, urc_gap_ms=100)
    await device.command(b"AT+RST", OK)
    await device.send(SLOW_LOOKUP + b"\r\n")  # long before `ready` is due
    await device.expect(SLOW_LOOKUP + b"\r\n")  # echo is on again after the reset
    await device.expect(SLOW_ANSWER, timeout=DNS_DELAY + 2)
    await device.expect(READY)
    assert trio.current_time() >= late_dns[0] + 0.1


# -- E26: the order of unsolicited frames and replies --------------------------------------------

async def active_link(device: Device, tcp_server: TcpServer) -> Peer:
    """Joined, one TCP link (CIPMUX 0) in active mode."""
    await join(device)
    await device.send(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"CONNECT\r\n" + OK)
    return peer


async def test_data_waits_for_the_reply_and_the_gap(start_port: StartPort,
                                                    tcp_server: TcpServer,
                                                    late_dns: list[float]) -> None:
    """E26: data that arrives while a command runs is written after the
    command's final line, and urc_gap_ms after it."""
    gap = 0.2
    device = await slow_port(start_port, urc_gap_ms=int(gap * 1000))
    peer = await active_link(device, tcp_server)
    await device.send(SLOW_LOOKUP + b"\r\n")
    await trio.sleep(0.1)
    await peer.send(b"hello")
    await device.expect(SLOW_ANSWER, timeout=DNS_DELAY + 2)
    replied = trio.current_time()
    assert device.pending == b""
    await device.expect(b"\r\n+IPD,5:hello")
    assert late_dns[0] + gap <= trio.current_time() < replied + gap + 1.0


async def test_data_waits_for_the_counted_bytes_and_send_ok(start_port: StartPort,
                                                            tcp_server: TcpServer) -> None:
    """E26: nothing comes between `>` and the end of the counted bytes; data
    that arrived meanwhile follows SEND OK after urc_gap_ms."""
    gap = 0.2
    device = await open_esp(start_port, urc_gap_ms=int(gap * 1000))
    peer = await active_link(device, tcp_server)
    await device.command(b"AT+CIPSEND=4", OK + b"\r\n>")
    await device.send(b"ab")
    await peer.send(b"incoming")
    await device.expect_silence(0.3)
    sent = trio.current_time()  # SEND OK is written after the last bytes came
    await device.send(b"cd")
    await device.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n")
    assert device.pending == b""
    await device.expect(b"\r\n+IPD,8:incoming")
    assert trio.current_time() >= sent + gap
    await peer.expect(b"abcd")


async def test_data_when_idle_is_not_held(start_port: StartPort,
                                          tcp_server: TcpServer) -> None:
    """E26: the gap follows a reply; data long after one is written at once."""
    device = await open_esp(start_port, urc_gap_ms=600)
    peer = await active_link(device, tcp_server)
    await trio.sleep(0.7)
    await peer.send(b"now")
    sent = trio.current_time()
    await device.expect(b"\r\n+IPD,3:now")
    assert trio.current_time() - sent < 0.5


async def test_connect_notice_waits_for_the_reply(start_port: StartPort,
                                                  late_dns: list[float]) -> None:
    """E26: a peer that comes while a command runs is announced after the
    command's reply and the gap."""
    gap = 0.1
    device = await slow_port(start_port, urc_gap_ms=int(gap * 1000))
    await join(device)
    await device.command(b"AT+CIPMUX=1", OK)
    port = free_port()
    await device.command(b"AT+CIPSERVER=1,%d" % port, OK)
    await device.send(SLOW_LOOKUP + b"\r\n")
    peer = await connect(port)
    await device.expect(SLOW_ANSWER, timeout=DNS_DELAY + 2)
    assert device.pending == b""
    await device.expect(b"0,CONNECT\r\n")
    assert trio.current_time() >= late_dns[0] + gap
    await peer.aclose()
    await device.expect(b"0,CLOSED\r\n")
