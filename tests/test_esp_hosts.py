"""Replays of what real ESP-AT host software puts on the wire, both profiles:
WiFiEspAT (Arduino; its AT 2 build and its AT 1.7 build), Zephyr's esp_at
driver, Mbed's ESP8266Interface. Each test sends the host's own lines in
the host's order (read from its source, cited in the docstrings), checks
every byte of every reply, and parses the reply the way the host's code
parses it, so a reply the host would misread fails here.

The daemon runs on a pty with its station on the loopback interface (so
the addresses it reports are 127.0.0.1, 0.0.0.0 and 255.0.0.0 on any
machine); peers are real sockets on 127.0.0.1; the slow connect that the
liveness probe needs resolves its name through a DNS server that answers
late (tests/net_peers.py), on a loopback address no other test file uses.

Sources read (public repositories):
- JAndrassy/WiFiEspAT src/utility/EspAtDrv.cpp, src/WiFiUdp.cpp: its
  default build defines WIFIESPAT1 (EspAtDrvTypes.h) and speaks AT 1.7;
  with the define commented out, as its README asks for firmware 2.4.0 or
  higher, it is the AT 2 build;
- zephyrproject-rtos/zephyr drivers/wifi/esp_at/esp.c, esp.h,
  esp_offload.c, esp_socket.c;
- ARMmbed/mbed-os components/wifi/esp8266-driver/ESP8266/ESP8266.cpp,
  ESP8266.h, ESP8266Interface.cpp.
"""

from __future__ import annotations

import random
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import net_peers
import pytest
import trio
from conftest import WAIT, Device, Peer, StartPort, TcpServer, connect, free_port
from esp_host import BUSY, ERROR, JOINED, OK, READY
from esp_links_harness import UdpPeer

from bridge.config import WifiNetwork

LATE_DNS = "127.53.0.31"  # answers every query after CONNECT_DELAY
CONNECT_DELAY = 2.5  # a connect of two to three seconds (WiFiEspAT's probe needs > 1 s)
LOOPBACK_STATION = (b'+CIPSTA%s:ip:"127.0.0.1"\r\n+CIPSTA%s:gateway:"0.0.0.0"\r\n'
                    b'+CIPSTA%s:netmask:"255.0.0.0"\r\n')
LOOPBACK_MAC = b"00:00:00:00:00:00"
BSSID = b"02:11:22:33:44:55"
LAB = WifiNetwork(ssid="lab", password="secret42", bssid=BSSID.decode(), channel=6, rssi=-50)


async def esp_module(start_port: StartPort, version: str, **settings: object) -> Device:
    """A module that has booted: its power-on `ready` is read (the hosts'
    own reads skip it), echo is still on, nothing else has been said."""
    device = await start_port(dialect="esp-at", esp_at_version=version, interface="lo",
                              ready_ms=50, **settings)
    await device.expect(READY)
    return device


async def step(device: Device, line: bytes, reply: bytes) -> bytes:
    """The host's line out, exactly ``reply`` back."""
    await device.send(line + b"\r\n")
    await device.expect(reply)
    return reply


async def step_like(device: Device, line: bytes, pattern: bytes) -> re.Match[bytes]:
    """The host's line out; the reply is exactly what ``pattern`` (a regex
    of the whole reply) allows, for the values only the run can know."""
    await device.send(line + b"\r\n")
    return await device.read_until(pattern)


def lines_of(reply: bytes) -> list[bytes]:
    """The lines a line-based host reads: split at LF, CRs trimmed, empty
    lines skipped (WiFiEspAT's readRX, Zephyr's and Mbed's parsers alike)."""
    return [line.rstrip(b"\r") for line in reply.split(b"\n") if line.rstrip(b"\r")]


def arduino_ip(text: bytes) -> str | None:
    """Arduino's IPAddress::fromString: four dot-separated numbers up to 255,
    nothing else (a quote makes it fail)."""
    parts = text.split(b".")
    if len(parts) != 4 or not all(part.isdigit() and int(part) <= 255 for part in parts):
        return None
    return text.decode()


def c_strtok(text: bytes, delimiters: bytes) -> list[bytes]:
    """C's strtok over a whole string: the non-empty runs between delimiters."""
    return [token for token in re.split(b"[" + re.escape(delimiters) + b"]", text) if token]


def tcp_payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
async def late_dns() -> AsyncIterator[list[float]]:
    async with net_peers.late_dns(LATE_DNS, CONNECT_DELAY, "127.0.0.1") as answered:
        yield answered


# == WiFiEspAT ===================================================================================


@dataclass(frozen=True)
class WiFiEspAtBuild:
    """What differs between WiFiEspAT's two builds (EspAtDrv.cpp, `#ifdef
    WIFIESPAT1`), with `persistent` false, the library's default."""

    version: str
    echo_end: bytes  # the module's echo of the lines before ATE0 (E4)
    prompt: bytes  # AT+CIPSEND's: readRX reads one byte after `>` in the 1.7 build
    join: bytes  # joinAP
    dns: bytes  # staDNS
    quit_dhcp: bytes  # quitAP: DHCP back on
    unjoined_status: bytes  # CIPSTATUS before any join
    free_link_length: bytes  # recvLenQuery: an id without a link
    domain: bytes  # how resolve() gets the address
    passive_udp: bool  # the AT 2 build reads UDP with CIPRECVDATA, 1.7 gets +IPD frames

    def echo(self, line: bytes) -> bytes:
        return line + self.echo_end


AT2_BUILD = WiFiEspAtBuild("2.4", b"\r\n", b"\r\nOK\r\n\r\n>", b"AT+CWJAP", b"AT+CIPDNS",
                      b"AT+CWDHCP=1,3", b"STATUS:1\r\n", b"-1", b'"127.0.0.1"', True)
AT17_BUILD = WiFiEspAtBuild("1.7", b"\r\r\n", b"\r\nOK\r\n> ", b"AT+CWJAP_CUR", b"AT+CIPDNS_CUR",
                       b"AT+CWDHCP_CUR=1,1", b"STATUS:5\r\n", b"0", b"127.0.0.1", False)


@pytest.fixture(params=[AT17_BUILD, AT2_BUILD], ids=["default-at1.7-build", "at2-build"])
def build(request: pytest.FixtureRequest) -> WiFiEspAtBuild:
    return request.param


async def wifiespat_init(start_port: StartPort, build: WiFiEspAtBuild,
                         **settings: object) -> Device:
    """EspAtDrvClass::reset() (WiFi.init): `AT+RST` and whatever comes up to
    `ready`, ATE0 (echoed: echo is on after a reset), CIPMUX=1,
    CIPRECVMODE=1, in the AT 2 build SYSSTORE=0, then CWMODE? whose
    `+CWMODE:` line gives the mode as the digit after the colon."""
    device = await esp_module(start_port, build.version, **settings)
    await step(device, b"AT+RST", build.echo(b"AT+RST") + OK)
    await device.expect(READY)
    await step(device, b"ATE0", build.echo(b"ATE0") + OK)
    await step(device, b"AT+CIPMUX=1", OK)
    await step(device, b"AT+CIPRECVMODE=1", OK)
    if build.version == "2.4":
        await step(device, b"AT+SYSSTORE=0", OK)
    mode = await step(device, b"AT+CWMODE?", b"+CWMODE:1\r\n" + OK)
    assert mode[len(b"+CWMODE:")] - ord("0") == 1
    return device


async def wifiespat_join(device: Device, build: WiFiEspAtBuild) -> None:
    """WiFi.begin(ssid, pass): joinAP (no CWMODE: the station is on), then
    status(): CIPSTATUS's digit after `STATUS:`, 2, 3 or 4 being connected."""
    await step(device, build.join + b'="lab","secret42"', JOINED + OK)
    status = await step(device, b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)
    assert status[len(b"STATUS:")] - ord("0") in (2, 3, 4)


async def wifiespat_open(device: Device, server: TcpServer, link_id: int) -> Peer:
    """connect(): `AT+CIPSTART=<id>,"TCP","<host>",<port>`, ids from 4 down
    (freeLinkId); `<id>,CONNECT` is read and ignored for a link it opened."""
    await device.send(b'AT+CIPSTART=%d,"TCP","127.0.0.1",%d\r\n' % (link_id, server.port))
    peer = await server.accept()
    await device.expect(b"%d,CONNECT\r\n" % link_id + OK)
    return peer


async def wifiespat_send(device: Device, build: WiFiEspAtBuild, link_id: int, data: bytes,
                         dest: bytes = b"") -> None:
    """sendData(): CIPSEND, `>` (the 1.7 build reads the space after it),
    the bytes, then `Recv <n> bytes` gives the count sent and `SEND OK`."""
    await step(device, b"AT+CIPSEND=%d,%d%s" % (link_id, len(data), dest), build.prompt)
    await device.send(data)
    sent = await device.read_until(rb"\r\nRecv (\d+) bytes\r\n\r\nSEND OK\r\n")
    assert int(sent[1]) == len(data)


async def wifiespat_lengths(device: Device, build: WiFiEspAtBuild, held: dict[int, int]) -> None:
    """recvLenQuery(): `AT+CIPRECVLEN?`, its `+CIPRECVLEN:` line split at
    commas; the AT 2 build takes a leading `-` as no link, the 1.7 build
    atol()s every field into an unsigned count (a `-1` there would be data
    on a free id). ``held`` maps the open links to what they hold."""
    fields = [b"%d" % held[i] if i in held else build.free_link_length for i in range(5)]
    reply = await step(device, b"AT+CIPRECVLEN?", b"+CIPRECVLEN:%s\r\n" % b",".join(fields) + OK)
    tokens = c_strtok(lines_of(reply)[0][len(b"+CIPRECVLEN:"):], b",")
    if build.version == "2.4":
        seen = {i: int(token) for i, token in enumerate(tokens) if not token.startswith(b"-")}
    else:
        assert all(token.isdigit() for token in tokens)
        seen = {i: int(token) for i, token in enumerate(tokens) if i in held or int(token)}
    assert seen == held


async def wifiespat_read(device: Device, build: WiFiEspAtBuild, link_id: int, data: bytes) -> None:
    """recvData(<id>, 64): `AT+CIPRECVDATA=<id>,64`; readRX stops at the `:`
    of `+CIPRECVDATA`, the AT 2 build reads the count up to `,`, the 1.7
    build atol()s it after `+CIPRECVDATA,`; then the bytes, then OK."""
    head = (b"+CIPRECVDATA:%d," if build.version == "2.4" else b"+CIPRECVDATA,%d:") % len(data)
    reply = await step(device, b"AT+CIPRECVDATA=%d,64" % link_id, head + data + OK)
    before_colon, _, rest = reply.partition(b":")
    count = (rest.split(b",")[0] if build.version == "2.4"
             else before_colon[len(b"+CIPRECVDATA,"):])
    assert int(count) == len(data)


async def test_wifiespat_init_join_and_queries(start_port: StartPort,
                                               build: WiFiEspAtBuild) -> None:
    """WiFiEspAT (EspAtDrv.cpp): reset(), firmwareVersion() (the text between
    `AT version:` and `(` in its 64-byte line buffer), status() before and
    after WiFi.begin(), staIpQuery() (`AT+CIPSTA?`: each line's value after
    `+CIPSTA:<key>:"` with the last quote cut), staMacQuery(), apQuery()
    (`AT+CWJAP?` tokenised at `,:"`), resolve() (`AT+CIPDOMAIN=`, the value
    after `+CIPDOMAIN:` given to IPAddress::fromString), quitAP() and the
    status after it (5: not connected)."""
    device = await wifiespat_init(start_port, build, wifi_networks=[LAB])
    version = await step_like(device, b"AT+GMR", rb"(AT version:[^\r]*)\r\nSDK version:[^\r]*\r\n"
                              rb"compile time:[^\r]*\r\nBin version:[^\r]*\r\n\r\nOK\r\n")
    line = version[1]
    assert line.index(b"(") < 63
    assert line[len(b"AT version:"):line.index(b"(")] == (
        b"2.4.0.0" if build.version == "2.4" else b"1.7.4.0")
    await step(device, b"AT+CIPSTATUS", build.unjoined_status + OK)
    await wifiespat_join(device, build)
    addresses = await step(device, b"AT+CIPSTA?", LOOPBACK_STATION % (b"", b"", b"") + OK)
    ip, gateway, netmask = lines_of(addresses)[:3]
    assert arduino_ip(ip[:-1][len(b'+CIPSTA:ip:"'):]) == "127.0.0.1"
    assert arduino_ip(gateway[:-1][len(b'+CIPSTA:gateway:"'):]) == "0.0.0.0"
    assert arduino_ip(netmask[:-1][len(b'+CIPSTA:netmask:"'):]) == "255.0.0.0"
    mac = await step(device, b"AT+CIPSTAMAC?", b'+CIPSTAMAC:"%s"\r\n' % LOOPBACK_MAC + OK)
    assert [int(part, 16) for part in c_strtok(lines_of(mac)[0], b':"')[1:]] == [0] * 6
    fields = b'"lab","%s",6,-50' % BSSID + (b",0,0,0,0,0" if build.version == "2.4" else b"")
    joined = await step(device, b"AT+CWJAP?", b"+CWJAP:%s\r\n" % fields + OK)
    tokens = c_strtok(lines_of(joined)[0][len(b'+CWJAP:"'):], b',:"')
    assert tokens[0] == b"lab" and bytes(int(t, 16) for t in tokens[1:7]) == bytes.fromhex(
        BSSID.replace(b":", b"").decode())
    assert (int(tokens[7]), int(tokens[8])) == (6, -50)
    domain = await step(device, b'AT+CIPDOMAIN="localhost"', b"+CIPDOMAIN:%s\r\n" % build.domain
                        + OK)
    # the AT 2 build hands `"127.0.0.1"` to IPAddress::fromString, which
    # refuses the quote: as against Espressif's ESP32 firmware, whose quoted
    # form this is; the library's connect(host) passes names to CIPSTART
    assert arduino_ip(lines_of(domain)[0][len(b"+CIPDOMAIN:"):]) == (
        None if build.version == "2.4" else "127.0.0.1")
    await step(device, build.dns + b"=0", OK)
    await step(device, build.quit_dhcp, OK)
    await step(device, b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    await step(device, b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)
    await device.expect_silence(0.1)


async def test_wifiespat_two_tcp_links_read_passively(start_port: StartPort, build: WiFiEspAtBuild,
                                                      tcp_server: TcpServer) -> None:
    """WiFiEspAT (EspAtDrv.cpp): two WiFiClients take link ids 4 and 3
    (freeLinkId counts down); availData() with nothing announced polls
    (syncLinkInfo: the 1.7 build checkLinks() with CIPSTATUS first, then
    recvLenQuery() with `AT+CIPRECVLEN?`, where an id without a link must
    read -1 in the AT 2 build and 0 in the 1.7 build); `+IPD,<id>,<n>` lines
    set what a link has; recvData() reads with `AT+CIPRECVDATA=<id>,64`
    (the client's 64-byte buffer) until the link has nothing; a peer's close
    is `<id>,CLOSED`; stop() is `AT+CIPCLOSE=<id>`."""
    device = await wifiespat_init(start_port, build)
    await wifiespat_join(device, build)
    first = await wifiespat_open(device, tcp_server, 4)
    second = await wifiespat_open(device, tcp_server, 3)
    await wifiespat_send(device, build, 4, b"GET / HTTP/1.0\r\n\r\n")
    await first.expect(b"GET / HTTP/1.0\r\n\r\n")
    if build.version == "1.7":  # checkLinks(): the ids in +CIPSTATUS lines are the open links
        status = await step_like(
            device, b"AT+CIPSTATUS",
            rb'STATUS:3\r\n\+CIPSTATUS:3,"TCP","127\.0\.0\.1",%d,\d+,0\r\n'
            rb'\+CIPSTATUS:4,"TCP","127\.0\.0\.1",%d,\d+,0\r\n\r\nOK\r\n'
            % (tcp_server.port, tcp_server.port))
        ids = [line[len(b"+CIPSTATUS:")] - ord("0") for line in lines_of(status[0])[1:3]]
        assert ids == [3, 4]
    await wifiespat_lengths(device, build, {3: 0, 4: 0})
    page = tcp_payload(4, 100)
    await first.send(page)
    await device.expect(b"\r\n+IPD,4,100\r\n")
    await wifiespat_read(device, build, 4, page[:64])
    await device.expect(b"\r\n+IPD,4,36\r\n")  # what is left is announced again
    await wifiespat_read(device, build, 4, page[64:])
    await second.send(b"second")
    await device.expect(b"\r\n+IPD,3,6\r\n")
    await wifiespat_lengths(device, build, {3: 6, 4: 0})
    await wifiespat_read(device, build, 3, b"second")
    await second.aclose()
    await device.expect(b"3,CLOSED\r\n")
    await step(device, b"AT+CIPCLOSE=4", b"4,CLOSED\r\n" + OK)
    await first.expect_eof()
    await wifiespat_lengths(device, build, {})
    await device.expect_silence(0.1)


async def test_wifiespat_udp_listener(start_port: StartPort, build: WiFiEspAtBuild) -> None:
    """WiFiEspAT (WiFiUdp.cpp, EspAtDrv.cpp): WiFiUDP.begin(port) is
    `AT+CIPSTART=4,"UDP","0.0.0.0",<port>,<port>,2`; beginPacket(host,
    port)/endPacket() send on the listener's id with
    `AT+CIPSEND=4,<n>,"<host>",<port>`. AT 2 build: a datagram is announced
    `+IPD,4,<n>` and parsePacket() reads it with recvDataWithInfo():
    `AT+CIPDINFO=1`, `AT+CIPRECVDATA=4,<n>` (count, quoted address and port
    each read up to a comma), `AT+CIPDINFO=0`. 1.7 build: the datagram comes
    in an active `+IPD,4,<n>:` frame (readRX reads a UDP listener's +IPD up
    to the colon, then the bytes), and remoteIP()/remotePort() read the
    sender from the link's `+CIPSTATUS:` line tokenised at `,"`."""
    device = await wifiespat_init(start_port, build)
    await wifiespat_join(device, build)
    peer = await UdpPeer().bind()
    try:
        local = free_port(socket.SOCK_DGRAM)
        await step(device, b'AT+CIPSTART=4,"UDP","0.0.0.0",%d,%d,2' % (local, local),
                   b"4,CONNECT\r\n" + OK)
        await wifiespat_send(device, build, 4, b"ntp?", b',"127.0.0.1",%d' % peer.port)
        assert await peer.receive() == (b"ntp?", local)
        await peer.send_to(b"time!", local)
        if build.passive_udp:
            await device.expect(b"\r\n+IPD,4,5\r\n")
            await step(device, b"AT+CIPDINFO=1", OK)
            reply = await step(device, b"AT+CIPRECVDATA=4,5",
                               b'+CIPRECVDATA:5,"127.0.0.1",%d,time!' % peer.port + OK)
            count, quoted_ip, port, data = reply[len(b"+CIPRECVDATA:"):].split(b",", 3)
            assert (int(count), arduino_ip(quoted_ip[1:-1]), int(port)) == (5, "127.0.0.1",
                                                                          peer.port)
            assert data[:int(count)] == b"time!"
            await step(device, b"AT+CIPDINFO=0", OK)
        else:
            await device.expect(b"\r\n+IPD,4,5:time!")
            status = await step(device, b"AT+CIPSTATUS", b'STATUS:3\r\n+CIPSTATUS:4,"UDP",'
                                b'"127.0.0.1",%d,%d,0\r\n' % (peer.port, local) + OK)
            tokens = c_strtok(lines_of(status)[1], b',"')
            assert (tokens[0][-1] - ord("0"), arduino_ip(tokens[2]), int(tokens[3]),
                    int(tokens[4])) == (4, "127.0.0.1", peer.port, local)
        await step(device, b"AT+CIPCLOSE=4", b"4,CLOSED\r\n" + OK)
        await device.expect_silence(0.1)
    finally:
        peer.close()


async def test_wifiespat_server(start_port: StartPort, build: WiFiEspAtBuild) -> None:
    """WiFiEspAT (EspAtDrv.cpp serverBegin, readRX, clientLinkId): a
    WiFiServer is `AT+CIPSERVERMAXCONN=1`, `AT+CIPSERVER=1,<port>`,
    `AT+CIPSTO=60`; its client arrives as `0,CONNECT` (readRX marks the id
    incoming; the AT 2 build also finds it in CIPRECVLEN?, a count where the
    others read -1); a second client is refused; the client's request is
    read with CIPRECVDATA, the answer sent with CIPSEND, then stop() and
    serverEnd() (`AT+CIPSERVER=0`)."""
    device = await wifiespat_init(start_port, build)
    await wifiespat_join(device, build)
    port = free_port()
    await step(device, b"AT+CIPSERVERMAXCONN=1", OK)
    await step(device, b"AT+CIPSERVER=1,%d" % port, OK)
    await step(device, b"AT+CIPSTO=60", OK)
    client = await connect(port)
    await device.expect(b"0,CONNECT\r\n")
    extra = await connect(port)
    await extra.expect_eof()  # CIPSERVERMAXCONN=1
    await wifiespat_lengths(device, build, {0: 0})
    await client.send(b"hello?")
    await device.expect(b"\r\n+IPD,0,6\r\n")
    await wifiespat_read(device, build, 0, b"hello?")
    await wifiespat_send(device, build, 0, b"hello!")
    await client.expect(b"hello!")
    await step(device, b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
    await client.expect_eof()
    await step(device, b"AT+CIPSERVER=0", OK)
    await device.expect_silence(0.1)


async def test_wifiespat_liveness_probe(start_port: StartPort, build: WiFiEspAtBuild,
                                        tcp_server: TcpServer, late_dns: list[float]) -> None:
    """WiFiEspAT (EspAtDrv.cpp readRX): when a read waits a second (the
    Stream timeout) for a byte, the library sends `?` and counts on
    `busy p...` (logged, ignored) to know the module is alive; three
    silent seconds and it declares the module dead. A connect that takes
    2.5 s (its name resolved through a late DNS server set by staDNS) gets
    its probes answered each time, then `4,CONNECT` and OK."""
    device = await wifiespat_init(start_port, build, dns_server_timeout=CONNECT_DELAY + 2)
    await wifiespat_join(device, build)
    await step(device, build.dns + b'=1,"%s"' % LATE_DNS.encode(), OK)
    await device.send(b'AT+CIPSTART=4,"TCP","slow.example.test",%d\r\n' % tcp_server.port)
    probes = 0
    while True:
        with trio.move_on_after(1.0) as silence:  # the Stream timeout of one readBytes()
            await device.read_until(rb"4,CONNECT\r\n\r\nOK\r\n", timeout=WAIT)
        if not silence.cancelled_caught:
            break
        assert device.pending == b""
        await device.send(b"?\r\n")  # cmd->println("?")
        await device.expect(BUSY, timeout=1.0)
        probes += 1
    assert late_dns and probes >= 2
    peer = await tcp_server.accept()
    await wifiespat_send(device, build, 4, b"alive")
    await peer.expect(b"alive")


# == Zephyr's esp_at driver =======================================================================


@dataclass(frozen=True)
class Zephyr:
    """What esp.h sets per CONFIG_WIFI_ESP_AT_VERSION (2.1, the default, or
    1.7), with PASSIVE_MODE, SCAN_MAC_ADDRESS or not, and NET_HOSTNAME."""

    version: str
    echo_end: bytes
    suffix: bytes  # _CWMODE, _CWJAP, _CIPSTA, _CIPSTAMAC: "" or "_CUR"
    dhcp: bytes  # ESP_CMD_DHCP_ENABLE(STATION, 1)
    station_mode: bytes  # ESP_CMD_CWMODE(STA)
    lapopt: bytes  # ESP_CMD_CWLAPOPT(ordered, mask): 31 with the MAC, 23 without
    dinfo: bool  # CIPDINFO=1 in the setup (2.x): +CIPRECVDATA carries the sender


ZEPHYR_2 = Zephyr("2.4", b"\r\n", b"", b"AT+CWDHCP=1,1", b"AT+CWMODE=1,0", b"AT+CWLAPOPT=1,31",
                  True)
ZEPHYR_17 = Zephyr("1.7", b"\r\r\n", b"_CUR", b"AT+CWDHCP_CUR=1,1", b"AT+CWMODE_CUR=1",
                   b"AT+CWLAPOPT=0,23", False)
ESCAPED = WifiNetwork(ssid='lab,"2"\\', password='pa\\ss,"word', bssid="02:11:22:33:44:66",
                      rssi=-70)
ESCAPED_SSID = b'lab\\,\\"2\\"\\\\'  # esp_conn_cmd_escape_and_append: `\` before , \ "
ESCAPED_PASSWORD = b'pa\\\\ss\\,\\"word'


@pytest.fixture(params=[ZEPHYR_2, ZEPHYR_17], ids=["at2.1", "at1.7"])
def zephyr(request: pytest.FixtureRequest) -> Zephyr:
    return request.param


def zephyr_ipd(frame: bytes, passive: bool) -> tuple[int, int]:
    """cmd_ipd_parse_hdr / cmd_ipd_check_hdr_end: `+IPD,<digit>,<len>` then
    `\\r` in passive mode, `:` otherwise."""
    assert frame[4:5] == b"," and frame[6:7] == b","
    length = re.match(rb"\d+", frame[7:])
    assert length is not None
    assert frame[7 + length.end():8 + length.end()] == (b"\r" if passive else b":")
    return frame[5] - ord("0"), int(length[0])


async def zephyr_read(device: Device, zephyr: Zephyr, link_id: int, peer_port: int) -> bytes:
    """esp_recvdata_work: on each `+IPD,<id>,<n>` one `AT+CIPRECVDATA=<id>,2048`
    (CIPRECVDATA_MAX_LEN); cmd_ciprecvdata_parse reads the count (at most
    2048), with CIPDINFO the quoted address up to `,` and the port, then
    wants `,` (2.x) or `:` (1.7) before the data, all within
    CIPRECVDATA_CMD_MAX_LEN bytes."""
    notice = await device.read_until(rb"\r\n(\+IPD,\d,\d+\r)\n")
    notified_id, waiting = zephyr_ipd(notice[1], passive=True)
    assert notified_id == link_id
    if zephyr.version == "2.4":
        head = (rb'\+CIPRECVDATA:(\d+),("[^"]*",\d+),' if zephyr.dinfo
                else rb"\+CIPRECVDATA:(\d+),")
    else:
        head = rb"\+CIPRECVDATA,(\d+):"
    match = await step_like(device, b"AT+CIPRECVDATA=%d,2048" % link_id, head)
    count = int(match[1])
    assert min(waiting, 2048) <= count <= 2048
    assert len(match[0]) <= len(b'+CIPRECVDATA,LLLL,"255.255.255.255",65535:')
    if zephyr.dinfo:
        ip, port = match[2].split(b",")
        assert (ip[1:-1], int(port)) == (b"127.0.0.1", peer_port)
    data = await device.read_exactly(count)
    await device.expect(OK)
    return data


async def zephyr_init(start_port: StartPort, zephyr: Zephyr, **settings: object) -> Device:
    """esp_reset (no reset pin): `AT+RST`, waiting for `ready`; then
    esp_init_work's setup commands, each waiting for OK: AT, ATE0, UART_CUR,
    (1.7: CWMODE_CUR=1,) DHCP on for the station, CIPMUX=1, CWLAPOPT,
    (2.x: CWMODE=1,0, CWAUTOCONN=0, CWMODE=0,0,) CIPRECVMODE=1, (CIPDINFO=1,)
    and CIPSTAMAC? whose quoted value is the interface's MAC; 1.7 then
    sets the hostname (the station mode is on from the start)."""
    device = await esp_module(start_port, zephyr.version, **settings)
    await step(device, b"AT+RST", b"AT+RST" + zephyr.echo_end + OK)
    await device.expect(READY)
    await step(device, b"AT", b"AT" + zephyr.echo_end + OK)
    await step(device, b"ATE0", b"ATE0" + zephyr.echo_end + OK)
    await step(device, b"AT+UART_CUR=115200,8,1,0,0", OK)
    if zephyr.version == "1.7":
        await step(device, zephyr.station_mode, OK)
    await step(device, zephyr.dhcp, OK)
    await step(device, b"AT+CIPMUX=1", OK)
    await step(device, zephyr.lapopt, OK)
    if zephyr.version == "2.4":
        await step(device, b"AT+CWMODE=1,0", OK)
        await step(device, b"AT+CWAUTOCONN=0", OK)
        await step(device, b"AT+CWMODE=0,0", OK)
    await step(device, b"AT+CIPRECVMODE=1", OK)
    if zephyr.dinfo:
        await step(device, b"AT+CIPDINFO=1", OK)
    mac = await step(device, b"AT+CIPSTAMAC%s?" % zephyr.suffix,
                     b'+CIPSTAMAC%s:"%s"\r\n' % (zephyr.suffix, LOOPBACK_MAC) + OK)
    assert lines_of(mac)[0].split(b":", 1)[1][1:-1] == LOOPBACK_MAC  # str_unquote
    if zephyr.version == "1.7":
        await step(device, b'AT+CWHOSTNAME="zephyr"', OK)
    return device


async def zephyr_station_on(device: Device, zephyr: Zephyr) -> None:
    """esp_mode_switch_if_needed with EDF_STA_LOCK (2.x): the station mode,
    then the hostname, applied only when the station is enabled."""
    if zephyr.version == "2.4":
        await step(device, b"AT+CWMODE=1,0", OK)
        await step(device, b'AT+CWHOSTNAME="zephyr"', OK)


async def test_zephyr_init_scan_and_join(start_port: StartPort, zephyr: Zephyr) -> None:
    """Zephyr esp_at (esp.c): esp_init_work's setup, a scan (esp_mgmt_scan_work:
    `AT+CWLAP`, each `+CWLAP:(` line read by on_cmd_cwlap: ecn, quoted SSID,
    RSSI, with mask 31 the quoted MAC, then the channel), a join
    (esp_mgmt_connect: `AT+CWJAP=` with `,` `\\` and `"` escaped in SSID
    and password; `WIFI CONNECTED` / `WIFI GOT IP` are unsolicited
    commands), the addresses one second after `WIFI GOT IP` (esp_ip_addr_work:
    `AT+CIPSTA?`, on_cmd_cipsta splitting at `:` and unquoting), then
    `AT+CWQAP` and, in 2.x, the radio off again (CWMODE=0,0)."""
    device = await zephyr_init(start_port, zephyr, wifi_networks=[LAB, ESCAPED])
    await zephyr_station_on(device, zephyr)
    if zephyr.lapopt.endswith(b"31"):
        scan = (b'+CWLAP:(3,"lab",-50,"%s",6)\r\n+CWLAP:(3,"%s",-70,"02:11:22:33:44:66",6)\r\n'
                % (BSSID, ESCAPED_SSID))
    else:
        scan = b'+CWLAP:(3,"lab",-50,6)\r\n+CWLAP:(3,"%s",-70,6)\r\n' % ESCAPED_SSID
    listed = await step(device, b"AT+CWLAP", scan + OK)
    fields = lines_of(listed)[0][len(b"+CWLAP:("):]
    ecn, ssid, rest = fields.split(b",", 2)
    assert (int(ecn), ssid) == (3, b'"lab"')
    values = rest.rstrip(b")").split(b",")
    assert int(values[0]) == -50 and int(values[-1]) == 6
    if zephyr.lapopt.endswith(b"31"):
        assert values[1] == b'"%s"' % BSSID
    if zephyr.version == "2.4":  # the scan's lock released: nothing needs the station
        await step(device, b"AT+CWMODE=0,0", OK)
        await zephyr_station_on(device, zephyr)
    await step(device, b'AT+CWJAP%s="%s","%s"' % (zephyr.suffix, ESCAPED_SSID, ESCAPED_PASSWORD),
               JOINED + OK)
    addresses = await step(device, b"AT+CIPSTA%s?" % zephyr.suffix,
                           LOOPBACK_STATION % ((zephyr.suffix,) * 3) + OK)
    parsed = {}
    for line in lines_of(addresses)[:3]:
        key, value = line[len(b"+CIPSTA%s:" % zephyr.suffix):].split(b":", 1)
        parsed[key] = value[1:-1]
    assert parsed == {b"ip": b"127.0.0.1", b"gateway": b"0.0.0.0", b"netmask": b"255.0.0.0"}
    await step(device, b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    if zephyr.version == "2.4":
        await step(device, b"AT+CWMODE=0,0", OK)
    await device.expect_silence(0.1)


async def test_zephyr_tcp_and_udp_sockets(start_port: StartPort, zephyr: Zephyr,
                                          tcp_server: TcpServer) -> None:
    """Zephyr esp_at (esp_offload.c, esp_socket.c): a TCP socket takes link 0
    (the first free socket): `AT+CIPSTART=0,"TCP","<ip>",<port>,7200`;
    sends go out in at most 2048 bytes (ESP_MTU) as `AT+CIPSEND=0,<n>`, the
    bytes after `>`, then `SEND OK`; what the peer sends is read one
    `AT+CIPRECVDATA=0,2048` per `+IPD,0,<n>` notice, so every read that
    leaves data must be followed by a new notice; closing the socket is
    `AT+CIPCLOSE=0` (esp_put). In 2.x the next socket, a bound UDP one,
    takes id 0 again: `AT+CIPSTART=0,"UDP","0.0.0.0",65535,<local port>,2,
    "<local ip>"`, read like TCP and answered with
    `AT+CIPSEND=0,<n>,"<ip>",<port>`."""
    device = await zephyr_init(start_port, zephyr, wifi_networks=[LAB])
    await zephyr_station_on(device, zephyr)
    await step(device, b'AT+CWJAP%s="lab","secret42"' % zephyr.suffix, JOINED + OK)
    await device.send(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d,7200\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"0,CONNECT\r\n" + OK)
    prompt = b"\r\nOK\r\n\r\n>" if zephyr.version == "2.4" else b"\r\nOK\r\n> "
    upload = tcp_payload(7, 3000)
    for start in range(0, len(upload), 2048):
        chunk = upload[start:start + 2048]
        await step(device, b"AT+CIPSEND=0,%d" % len(chunk), prompt)
        await device.send(chunk)
        await device.expect(b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(chunk))
    assert await peer.read_exactly(len(upload)) == upload
    download = tcp_payload(8, 5000)
    await peer.send(download)
    received = b""
    while len(received) < len(download):
        received += await zephyr_read(device, zephyr, 0, peer.address[1])
    assert received == download
    await step(device, b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
    await peer.expect_eof()
    if zephyr.version == "2.4":
        udp = await UdpPeer().bind()
        try:
            local = free_port(socket.SOCK_DGRAM)
            await step(device, b'AT+CIPSTART=0,"UDP","0.0.0.0",65535,%d,2,"127.0.0.1"' % local,
                       b"0,CONNECT\r\n" + OK)
            await udp.send_to(b"request", local)
            assert await zephyr_read(device, zephyr, 0, udp.port) == b"request"
            await step(device, b'AT+CIPSEND=0,6,"127.0.0.1",%d' % udp.port, prompt)
            await device.send(b"answer")
            await device.expect(b"\r\nRecv 6 bytes\r\n\r\nSEND OK\r\n")
            assert await udp.receive() == (b"answer", local)
            await step(device, b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
        finally:
            udp.close()
    await device.expect_silence(0.1)


# == Mbed's ESP8266Interface (AT 1.7) ============================================================

#: ESP8266::ESP8266's _parser.oob() prefixes: every unsolicited frame must
#: start with one of them and parse in the form its handler reads
MBED_OOB = (b"+IPD", b"0,CLOSED", b"1,CLOSED", b"2,CLOSED", b"3,CLOSED", b"4,CLOSED",
            b"+CWJAP:", b"WIFI ", b"UNLINK", b"ALREADY CONNECTED", b"ERROR", b"ready",
            b"+CWLAP:", b"wdt reset", b"Soft WDT reset", b"busy ", b"+CIPRECVDATA,")
MBED_FORMS = {
    b"+IPD": rb"\+IPD,(\d),(\d+)(?:\r\n|:)",  # _oob_packet_hdlr: `,%d,` then `%d\n` or `%d:`
    b"busy ": rb"busy (s\.\.\.|p\.\.\.)\r\n",  # _oob_busy: `%4[^"]\n`, s... or p...
    b"WIFI ": rb"WIFI (GOT IP|DISCONNECT|CONNECTED)\r\n",  # _oob_connection_status
    b"UNLINK": rb"UNLINK\r\n",
    b"+CWJAP:": rb"\+CWJAP:(\d+)\r\n",  # _oob_connect_err: `%d`, then FAIL
    b"+CIPRECVDATA,": rb"\+CIPRECVDATA,(\d+):",  # _oob_tcp_data_hdlr: `%d:`, then the bytes
}


def mbed_oob(frame: bytes) -> bytes:
    """The OOB handler that claims ``frame`` (an unsolicited frame, its
    leading CR LF dropped); its form is the one the handler reads."""
    claimed = [prefix for prefix in MBED_OOB if frame.startswith(prefix)]
    assert claimed, f"no Mbed handler for {frame!r}"
    form = MBED_FORMS.get(claimed[0])
    if form is not None:
        assert re.match(form, frame), f"{frame!r} is not {form!r}"
    else:
        assert frame.endswith(b"\r\n")
    return claimed[0]


async def mbed_unsolicited(device: Device, frame: bytes) -> None:
    """An unsolicited frame, exactly, that one of Mbed's OOB handlers reads."""
    await device.expect(frame)
    mbed_oob(frame.removeprefix(b"\r\n"))


async def mbed_init(start_port: StartPort, **settings: object) -> Device:
    """ESP8266Interface::_init with RTS and CTS wired: _reset (at_available
    `AT`, ESP8266::reset `AT+RST` then the `ready` OOB, `AT` again),
    echo_off, start_uart_hw_flow_ctrl (`AT+UART_CUR=<baud>,8,1,0,3`),
    _get_firmware_ok (`AT+GMR` twice: `AT version:%d.%d.%d.%d`, then
    `SDK version:%d.%d.%d` whose major must be at least 2, or the driver
    stops with "Too old SDK firmware"), set_default_wifi_mode
    (`AT+CWMODE_DEF=1`), set_country_code_policy (AT 1.6 and later:
    `AT+CWCOUNTRY_DEF=` and `AT+CWCOUNTRY_CUR=`), cond_enable_tcp_passive_mode
    (AT 1.7 and later: `AT+CIPRECVMODE=1`), startup (`AT+CWMODE_CUR=1`,
    `AT+CIPMUX=1`); every reply ends in the `OK\\n` it waits for."""
    device = await esp_module(start_port, "1.7", **settings)
    await step(device, b"AT", b"AT\r\r\n" + OK)
    await step(device, b"AT+RST", b"AT+RST\r\r\n" + OK)
    await mbed_unsolicited(device, READY)
    await step(device, b"AT", b"AT\r\r\n" + OK)
    await step(device, b"ATE0", b"ATE0\r\r\n" + OK)
    await step(device, b"AT+UART_CUR=115200,8,1,0,3", OK)
    version = await step_like(device, b"AT+GMR", rb"AT version:[^\r]*\r\nSDK version:[^\r]*\r\n"
                              rb"compile time:[^\r]*\r\nBin version:[^\r]*\r\n\r\nOK\r\n")
    at = re.search(rb"AT version:(\d+)\.(\d+)\.(\d+)\.(\d+)", version[0])
    assert at is not None and tuple(int(n) for n in at.groups()[:3]) >= (1, 7, 0)
    version = await step_like(device, b"AT+GMR", rb"AT version:[^\r]*\r\nSDK version:[^\r]*\r\n"
                              rb"compile time:[^\r]*\r\nBin version:[^\r]*\r\n\r\nOK\r\n")
    sdk = re.search(rb"SDK version:(\d+)\.(\d+)\.(\d+)", version[0])
    assert sdk is not None and int(sdk[1]) >= 2  # ESP8266_SDK_VERSION_MAJOR
    await step(device, b"AT+CWMODE_DEF=1", OK)
    await step(device, b'AT+CWCOUNTRY_DEF=0,"CN",1,13', OK)
    await step(device, b'AT+CWCOUNTRY_CUR=0,"CN",1,13', OK)
    await step(device, b"AT+CIPRECVMODE=1", OK)
    await step(device, b"AT+CWMODE_CUR=1", OK)
    await step(device, b"AT+CIPMUX=1", OK)
    return device


async def mbed_ip_address(device: Device, address: bytes) -> bytes:
    """ESP8266::ip_addr: `AT+CIFSR`, `+CIFSR:STAIP,"%15[^"]"`, then OK."""
    reply = await step(device, b"AT+CIFSR", b'+CIFSR:STAIP,"%s"\r\n+CIFSR:STAMAC,"%s"\r\n'
                       % (address, LOOPBACK_MAC) + OK)
    found = re.search(rb'\+CIFSR:STAIP,"([^"]{1,15})"', reply)
    assert found is not None
    return found[1]


async def test_mbed_connect_and_station_queries(start_port: StartPort) -> None:
    """Mbed ESP8266Interface (ESP8266Interface.cpp connect, ESP8266.cpp): _init,
    get_ip_address (not joined: 0.0.0.0), dhcp (`AT+CWDHCP_CUR=1,1`), a
    failed ESP8266::connect (`AT+CWJAP_CUR=`: the `+CWJAP:` OOB reads the
    number then `FAIL`, 2 being an authentication failure), the join
    (`WIFI ` OOBs), the address again, get_gateway / get_netmask (each
    `AT+CIPSTA_CUR?` and its `+CIPSTA_CUR:<key>:"%15[^"]"` line), get_rssi
    (`AT+CWJAP_CUR?` for the BSSID, `+CWJAP_CUR:"%*[^"]","%17[^"]"`, then
    `AT+CWLAP="","<bssid>",` whose `+CWLAP:` OOB reads, for AT 1.6 and
    later, `(%d,"%32[^"]",%hhd,"<mac>",%hhu,` and six more numbers),
    dns_lookup (`+CIPDOMAIN:%s`, unquoted), disconnect (`AT+CWQAP`)."""
    device = await mbed_init(start_port, wifi_networks=[LAB])
    assert await mbed_ip_address(device, b"0.0.0.0") == b"0.0.0.0"
    await step(device, b"AT+CWDHCP_CUR=1,1", OK)
    await device.send(b'AT+CWJAP_CUR="lab","wrong"\r\n')
    await mbed_unsolicited(device, b"+CWJAP:2\r\n")
    await device.expect(b"\r\nFAIL\r\n")  # _oob_connect_err: recv("%d") then recv("FAIL")
    await device.send(b'AT+CWJAP_CUR="lab","secret42"\r\n')
    await mbed_unsolicited(device, b"WIFI CONNECTED\r\n")
    await mbed_unsolicited(device, b"WIFI GOT IP\r\n")
    await device.expect(OK)
    assert await mbed_ip_address(device, b"127.0.0.1") == b"127.0.0.1"
    for key, value in ((b"gateway", b"0.0.0.0"), (b"netmask", b"255.0.0.0")):
        reply = await step(device, b"AT+CIPSTA_CUR?", LOOPBACK_STATION % ((b"_CUR",) * 3) + OK)
        found = re.search(rb'\+CIPSTA_CUR:%s:"([^"]{1,15})"' % key, reply)
        assert found is not None and found[1] == value
    joined = await step(device, b"AT+CWJAP_CUR?", b'+CWJAP_CUR:"lab","%s",6,-50\r\n' % BSSID + OK)
    bssid = re.search(rb'\+CWJAP_CUR:"[^"]*","([^"]{1,17})"', joined)
    assert bssid is not None and bssid[1] == BSSID
    await device.send(b'AT+CWLAP="","%s",\r\n' % bssid[1])
    line = b'+CWLAP:(3,"lab",-50,"%s",6,-1,-1,4,4,7,0)\r\n' % BSSID
    await mbed_unsolicited(device, line)
    await device.expect(OK)
    ap = re.fullmatch(rb'\+CWLAP:\((-?\d+),"([^"]{0,32})",(-?\d+),"((?:[0-9a-f]{2}:){5}'
                      rb'[0-9a-f]{2})",(\d+)(?:,(-?\d+)){6}\)\r\n', line)
    assert ap is not None and (int(ap[1]), ap[2], int(ap[3]), int(ap[5])) == (3, b"lab", -50, 6)
    await step(device, b'AT+CIPDOMAIN="localhost"', b"+CIPDOMAIN:127.0.0.1\r\n" + OK)
    await step(device, b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    mbed_oob(b"WIFI DISCONNECT\r\n")
    await device.expect_silence(0.1)


async def test_mbed_sockets_and_out_of_band_frames(start_port: StartPort, tcp_server: TcpServer,
                                                   late_dns: list[float]) -> None:
    """Mbed ESP8266 (ESP8266.cpp): open_tcp (`AT+CIPSTART=<id>,"TCP",...`,
    socket ids from 0), send (`AT+CIPSEND=<id>,<n>` up to 2048, waiting
    for `>`, then `SEND OK`), passive reads (the `+IPD` OOB reads
    `,%d,` then `%d\\n` for a TCP socket; _recv_tcp_passive sends
    `AT+CIPRECVDATA=<id>,<at most 2048>` and the `+CIPRECVDATA,` OOB reads
    `%d:` then the bytes; a read that leaves data gets a new notice, as
    the driver only reads what a notice announced), a UDP socket (open_udp
    with a local port: its data in active `+IPD,<id>,<n>:` frames), a
    peer's close (`<id>,CLOSED` OOB), close of a socket the module already
    closed (`UNLINK` OOB then ERROR: close() reports success), and a
    command sent while a slow lookup still runs (dns_lookup gives up after
    its 2 s timeout): `busy p...`, which _oob_busy reads as `%4[^"]\\n`."""
    device = await mbed_init(start_port, wifi_networks=[LAB], dns_server_timeout=CONNECT_DELAY + 2)
    await step(device, b'AT+CWJAP_CUR="lab","secret42"', JOINED + OK)
    await device.send(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await device.expect(b"0,CONNECT\r\n" + OK)
    await step(device, b"AT+CIPSEND=0,5", b"\r\nOK\r\n> ")
    await device.send(b"hello")
    await device.expect(b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n")
    await peer.expect(b"hello")
    reply = tcp_payload(9, 3000)
    await peer.send(reply)
    received = b""
    while len(received) < len(reply):
        notice = await device.read_until(rb"\r\n(\+IPD,0,(\d+)\r\n)")
        mbed_oob(notice[1])
        await device.send(b"AT+CIPRECVDATA=0,2048\r\n")
        head = await device.read_until(rb"(\+CIPRECVDATA,)(\d+):")
        mbed_oob(head[0])
        count = int(head[2])
        assert count <= 2048
        received += await device.read_exactly(count)
        await device.expect(OK)
    assert received == reply
    udp = await UdpPeer().bind()
    try:
        local = free_port(socket.SOCK_DGRAM)
        await step(device, b'AT+CIPSTART=1,"UDP","127.0.0.1",%d,%d' % (udp.port, local),
                   b"1,CONNECT\r\n" + OK)
        await udp.send_to(b"datagram", local)
        await mbed_unsolicited(device, b"\r\n+IPD,1,8:")
        assert await device.read_exactly(8) == b"datagram"
        await peer.aclose()
        await mbed_unsolicited(device, b"0,CLOSED\r\n")
        await device.send(b"AT+CIPCLOSE=0\r\n")  # the socket's close() after the OOB
        await mbed_unsolicited(device, b"UNLINK\r\n")
        await device.expect(ERROR)
        await step(device, b'AT+CIPDNS=1,"%s"' % LATE_DNS.encode(), OK)  # the network's DNS
        await device.send(b'AT+CIPDOMAIN="slow.example.test"\r\n')
        await trio.sleep(2.0)  # ESP8266_MISC_TIMEOUT: dns_lookup gave up
        await device.send(b'AT+CIPSTART=2,"TCP","127.0.0.1",%d\r\n' % tcp_server.port)
        await mbed_unsolicited(device, BUSY)
        await device.expect(b"+CIPDOMAIN:127.0.0.1\r\n" + OK)
        await step(device, b"AT+CIPCLOSE=1", b"1,CLOSED\r\n" + OK)
    finally:
        udp.close()
    await device.expect_silence(0.1)
