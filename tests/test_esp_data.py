"""ESP-AT data, profile 2.4: CIPSEND (E21), CIPSENDEX (E22), passthrough
(E23), active +IPD frames (E24) and passive receive (E25). Real sockets on
127.0.0.1; exact bytes."""

from __future__ import annotations

import random

import trio
from conftest import WAIT, Certificates, Device, Peer, StartPort, TcpServer, exchange, free_port
from esp_links_harness import (
    ERROR,
    OK,
    PROMPT,
    SEND_FAIL,
    SEND_OK,
    UdpPeer,
    esp_port,
    open_tcp,
    open_udp,
    send_data,
)
from tls_peers import cert_options, s_server

ALL_BYTES = bytes(range(256))


def recv(count: int) -> bytes:
    return b"\r\nRecv %d bytes\r\n" % count


# -- E21 ---------------------------------------------------------------------------------


async def test_cipsend_lengths_and_exact_bytes(start_port: StartPort,
                                               tcp_server: TcpServer) -> None:
    """E21: the prompt `\\r\\nOK\\r\\n\\r\\n>`, exactly len raw bytes (CR, LF,
    `AT`, every byte value), `Recv <len> bytes`, SEND OK; 1 and 8192 are
    the limits, 0 and 8193 are ERROR with no prompt and no payload read."""
    device = await esp_port(start_port)
    peer = await open_tcp(device, tcp_server)
    await send_data(device, b"x")
    await peer.expect(b"x")
    tricky = b"AT\r\n\r\nAT+CIPCLOSE\r\n" + ALL_BYTES + b"+++"
    await send_data(device, tricky)
    await peer.expect(tricky)
    big = random.Random(21).randbytes(8192)
    await device.command(b"AT+CIPSEND=8192", PROMPT)
    await device.send_in_chunks(big, 1000)
    await device.expect(recv(8192) + SEND_OK)
    assert await peer.read_exactly(8192) == big
    for bad in (b"0", b"8193", b"-1", b"x"):
        await device.command(b"AT+CIPSEND=" + bad, ERROR)
    await device.command(b"AT", OK)  # nothing was taken as payload


async def test_cipsend_no_link_is_not_valid(start_port: StartPort,
                                            tcp_server: TcpServer) -> None:
    """E21/G7: no such link: `link is not valid` then ERROR, no prompt, and
    what follows is read as commands, in both MUX modes."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port)
    await device.command(b"AT+CIPSEND=4", b"link is not valid\r\n" + ERROR)
    await device.command(b"AT", OK)
    await device.command(b"AT+CIPMUX=1", OK)
    held.append(await open_tcp(device, tcp_server, 1))
    await device.command(b"AT+CIPSEND=3,4", b"link is not valid\r\n" + ERROR)
    await device.command(b"AT", OK)


async def test_cipsend_form_must_match_cipmux(start_port: StartPort,
                                              tcp_server: TcpServer) -> None:
    """E21: plain form 1 or 3 parameters, MUX form 2 or 4; the other
    mode's form is ERROR with no prompt."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port)
    held.append(await open_tcp(device, tcp_server))
    await device.command(b"AT+CIPSEND=0,4", ERROR)
    await device.command(b'AT+CIPSEND=0,4,"127.0.0.1",80', ERROR)
    await device.command(b"AT+CIPSEND=4,1", ERROR)
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    peer = await open_tcp(device, tcp_server, 0)
    await device.command(b"AT+CIPSEND=4", ERROR)
    await device.command(b'AT+CIPSEND=4,"127.0.0.1",80', ERROR)
    await send_data(device, b"mux!", 0)
    await peer.expect(b"mux!")


async def test_cipsend_udp_destination(start_port: StartPort) -> None:
    """E21: a UDP link's CIPSEND with host and port sends there, once; the
    next send without them goes to the link's peer (mode 0); a TCP link's
    send with a destination is ERROR."""
    device = await esp_port(start_port, mux=True)
    peer, other = await UdpPeer().bind(), await UdpPeer().bind()
    try:
        local = await open_udp(device, peer.port, 2, mode=0)
        await send_data(device, b"elsewhere", 2, b',"127.0.0.1",%d' % other.port)
        assert await other.receive() == (b"elsewhere", local)
        await send_data(device, b"home", 2)
        assert await peer.receive() == (b"home", local)
        await send_data(device, b"by name", 2, b',"localhost",%d' % other.port)
        assert await other.receive() == (b"by name", local)
    finally:
        peer.close()
        other.close()


async def test_cipsend_udp_destination_that_does_not_resolve(start_port: StartPort) -> None:
    """E21: a destination name that does not resolve: the bytes are taken,
    then `SEND FAIL`; the link stays."""
    device = await esp_port(start_port)
    peer = await UdpPeer().bind()
    try:
        local = await open_udp(device, peer.port)
        await device.command(b'AT+CIPSEND=5,"no-such-host.invalid",53', PROMPT)
        await device.send(b"where")
        await device.expect(recv(5) + SEND_FAIL)
        await send_data(device, b"here")
        assert await peer.receive() == (b"here", local)
    finally:
        peer.close()


async def test_cipsend_listener_without_peer_fails(start_port: StartPort) -> None:
    """E21: a UDP listener with no peer yet and no destination takes the
    bytes, then `SEND FAIL`; with a destination it sends."""
    device = await esp_port(start_port)
    local = await open_udp(device, 0, mode=2, remote=b"0.0.0.0")
    await device.command(b"AT+CIPSEND=5", PROMPT)
    await device.send(b"lost?")
    await device.expect(recv(5) + SEND_FAIL)
    await device.command(b"AT", OK)
    peer = await UdpPeer().bind()
    try:
        await send_data(device, b"found", dest=b',"127.0.0.1",%d' % peer.port)
        assert await peer.receive() == (b"found", local)
    finally:
        peer.close()


async def test_cipsend_link_lost_during_payload(start_port: StartPort,
                                                tcp_server: TcpServer) -> None:
    """E21/E20: a link lost while the bytes arrive: every byte is still
    consumed, then `SEND FAIL`; its CLOSED comes after the reply; what
    follows the payload is a command again."""
    device = await esp_port(start_port, mux=True)
    peer = await open_tcp(device, tcp_server, 3)
    await device.command(b"AT+CIPSEND=3,10", PROMPT)
    await device.send(b"AT\r\n+")
    await peer.aclose()
    await trio.sleep(0.2)  # the daemon sees the close before the rest arrives
    await device.send(b"AT\r\n\r")
    await device.expect(recv(10) + SEND_FAIL + b"3,CLOSED\r\n")
    await device.command(b"AT", OK)


# -- E22 ---------------------------------------------------------------------------------


async def test_cipsendex_ends_at_backslash_zero(start_port: StartPort,
                                                tcp_server: TcpServer) -> None:
    """E22: CIPSENDEX sends up to len bytes or up to `\\0` (taken, not sent);
    `\\\\0` sends `\\0`; the bytes after `\\0` are commands again."""
    device = await esp_port(start_port)
    peer = await open_tcp(device, tcp_server)
    await device.command(b"AT+CIPSENDEX=100", PROMPT)
    await device.send(b"hello\\0AT\r\n")
    await device.expect(recv(5) + SEND_OK + OK)
    await peer.expect(b"hello")
    await device.command(b"AT+CIPSENDEX=12", PROMPT)
    await device.send(b"a\\\\0b\\c\\0")
    await device.expect(recv(6) + SEND_OK)
    await peer.expect(b"a\\0b\\c")
    await device.command(b"AT+CIPSENDEX=4", PROMPT)
    await device.send(b"wxyz")
    await device.expect(recv(4) + SEND_OK)
    await peer.expect(b"wxyz")
    await device.command(b"AT+CIPSENDEX=0", ERROR)
    await device.command(b"AT+CIPSENDEX=8193", ERROR)
    await device.command(b"AT+CIPSENDEX=0,4", ERROR)


async def test_cipsendex_mux_and_not_valid(start_port: StartPort,
                                           tcp_server: TcpServer) -> None:
    """E22: the MUX form and `link is not valid` as for CIPSEND."""
    device = await esp_port(start_port, mux=True)
    peer = await open_tcp(device, tcp_server, 4)
    await device.command(b"AT+CIPSENDEX=4,50", PROMPT)
    await device.send(b"\r\n\\0")
    await device.expect(recv(2) + SEND_OK)
    await peer.expect(b"\r\n")
    await device.command(b"AT+CIPSENDEX=0,5", b"link is not valid\r\n" + ERROR)
    await device.command(b"AT+CIPSENDEX=5", ERROR)


# -- E23 ---------------------------------------------------------------------------------


async def enter_passthrough(device: Device, tcp_server: TcpServer) -> Peer:
    peer = await open_tcp(device, tcp_server)
    await device.command(b"AT+CIPMODE=1", OK)
    await device.command(b"AT+CIPMODE?", b"+CIPMODE:1\r\n" + OK)
    await device.command(b"AT+CIPSEND", PROMPT)
    await trio.sleep(0.05)  # the guard before any escape
    return peer


async def test_passthrough_one_mib_both_ways(start_port: StartPort,
                                             tcp_server: TcpServer) -> None:
    """E23: AT+CIPSEND with CIPMODE=1 answers the prompt, then 1 MiB each
    way at once arrives unaltered, every byte checked; a guarded `+++`
    leaves printing nothing; the link stays and passthrough comes back."""
    device = await esp_port(start_port)
    peer = await enter_passthrough(device, tcp_server)
    up = random.Random(1).randbytes(1 << 20)
    down = random.Random(2).randbytes(1 << 20)
    await exchange(device, peer, up, down)
    await trio.sleep(0.1)
    await device.send(b"+++")
    await device.expect_silence(0.3)
    await device.command(b"AT", OK)
    await device.send(b"AT+CIPSTATUS\r\n")
    await device.read_until(rb'STATUS:3\r\n\+CIPSTATUS:0,"TCP","127\.0\.0\.1",\d+,\d+,0\r\n'
                            rb"\r\nOK\r\n")
    await device.command(b"AT+CIPSEND", PROMPT)
    await trio.sleep(0.05)
    await device.send(b"again")
    await peer.expect(b"again")
    await peer.send(b"and back")
    await device.expect(b"and back")


async def test_passthrough_escape_needs_its_guards(start_port: StartPort,
                                                   tcp_server: TcpServer) -> None:
    """E23/G5: `+++` inside data, or followed by more data within the
    guard, is data; data that came before passthrough is delivered first."""
    device = await esp_port(start_port)
    peer = await open_tcp(device, tcp_server)
    await device.command(b"AT+CIPMODE=1", OK)
    await device.command(b"AT+CIPSEND", PROMPT)
    await trio.sleep(0.05)
    await device.send(b"data+++")
    await peer.expect(b"data+++")
    await trio.sleep(0.1)
    await device.send(b"+++more")
    await peer.expect(b"+++more")
    await trio.sleep(0.1)
    await device.send(b"+++")
    await device.expect_silence(0.2)
    await device.command(b"AT+CIPMODE=0", OK)
    await send_data(device, b"normal")
    await peer.expect(b"normal")


async def test_passthrough_link_closed_by_the_peer(start_port: StartPort,
                                                  tcp_server: TcpServer) -> None:
    """E23/E20: the peer's last data comes raw, then `CLOSED`, and the port
    is back in command mode (as CIP's passthrough, NOTES C8)."""
    device = await esp_port(start_port)
    peer = await enter_passthrough(device, tcp_server)
    await peer.send(b"last")
    await peer.aclose()
    await device.expect(b"lastCLOSED\r\n")
    await device.command(b"AT", OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:4\r\n" + OK)


async def test_passthrough_needs_cipmode_and_a_link(start_port: StartPort,
                                                    tcp_server: TcpServer) -> None:
    """E23: AT+CIPSEND (no arguments) without CIPMODE=1, or with no link,
    is ERROR; CIPMODE=1 needs MUX 0."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port)
    await device.command(b"AT+CIPSEND", ERROR)
    await device.command(b"AT+CIPMODE=1", OK)
    await device.command(b"AT+CIPSEND", ERROR)
    await device.command(b"AT+CIPMODE=0", OK)
    held.append(await open_tcp(device, tcp_server))
    await device.command(b"AT+CIPSEND", ERROR)
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b"AT+CIPMODE=1", ERROR)
    await device.command(b"AT+CIPMODE?", b"+CIPMODE:0\r\n" + OK)


async def test_passthrough_over_ssl(start_port: StartPort, certs: Certificates,
                                    peers: list[trio.Process]) -> None:
    """E23: passthrough works on an SSL link too: raw bytes both ways."""
    device = await esp_port(start_port, tls_ca_file=str(certs.ca_file))
    port = free_port()
    server = await s_server(peers, port, *cert_options(certs))
    await device.command(b'AT+CIPSTART="SSL","localhost",%d' % port, b"CONNECT\r\n" + OK)
    await device.command(b"AT+CIPMODE=1", OK)
    await device.command(b"AT+CIPSEND", PROMPT)
    await trio.sleep(0.05)
    await device.send(ALL_BYTES)
    await server.expect(ALL_BYTES)
    await server.send(b"raw back\n")
    await device.expect(b"raw back\n")
    await trio.sleep(0.1)
    await device.send(b"+++")
    await device.expect_silence(0.2)
    await device.command(b"AT+CIPSTATUS", b"STATUS:3\r\n" + b'+CIPSTATUS:0,"SSL","127.0.0.1",'
                         b"%d,%d,0\r\n" % (port, server_local_port(port)) + OK)


def server_local_port(server_port: int) -> int:
    """The local port of the one connection to 127.0.0.1:server_port."""
    from pathlib import Path

    wanted = f"0100007F:{server_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == wanted and fields[3] == "01":
            return int(fields[1].split(":")[1], 16)
    raise AssertionError(f"no connection to {server_port}")


async def test_passthrough_packing_over_udp(start_port: StartPort) -> None:
    """E23: UART bytes are packed as CIP does: a packet at 1460 bytes or
    after 20 ms of quiet; over UDP each packet is one datagram."""
    device = await esp_port(start_port)
    peer = await UdpPeer().bind()
    try:
        local = await open_udp(device, peer.port, mode=0)
        await device.command(b"AT+CIPMODE=1", OK)
        await device.command(b"AT+CIPSEND", PROMPT)
        await trio.sleep(0.05)
        data = random.Random(3).randbytes(3000)
        await device.send(data)
        sizes = [len((await peer.receive())[0]) for _ in range(3)]
        assert sizes == [1460, 1460, 80]
        await trio.sleep(0.1)
        await device.send(b"first")
        await trio.sleep(0.2)
        await device.send(b"second")
        assert await peer.receive() == (b"first", local)
        assert await peer.receive() == (b"second", local)
        await peer.send_to(b"down", local)
        await device.expect(b"down")
    finally:
        peer.close()


# -- E24 ---------------------------------------------------------------------------------


async def test_ipd_chunks_follow_ipd_chunk(start_port: StartPort,
                                           tcp_server: TcpServer) -> None:
    """E24: TCP data comes in frames of at most ipd_chunk bytes, no CR LF
    after the data; all 256 byte values unaltered."""
    device = await esp_port(start_port, ipd_chunk=100)
    peer = await open_tcp(device, tcp_server)
    await peer.send(ALL_BYTES)
    await device.expect(b"\r\n+IPD,100:" + ALL_BYTES[:100] + b"\r\n+IPD,100:"
                        + ALL_BYTES[100:200] + b"\r\n+IPD,56:" + ALL_BYTES[200:])
    await device.expect_silence(0.1)


async def test_ipd_udp_datagram_is_one_frame(start_port: StartPort) -> None:
    """E24: a 4000-byte datagram is one frame, whatever ipd_chunk; each
    datagram its own frame."""
    device = await esp_port(start_port, mux=True)
    peer = await UdpPeer().bind()
    try:
        local = await open_udp(device, peer.port, 1)
        big = random.Random(24).randbytes(4000)
        await peer.send_to(big, local)
        await device.expect(b"\r\n+IPD,1,4000:" + big)
        await peer.send_to(b"one", local)
        await peer.send_to(b"two", local)
        await device.expect(b"\r\n+IPD,1,3:one\r\n+IPD,1,3:two")
    finally:
        peer.close()


async def test_ipd_forms_with_cipdinfo(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E24: `+IPD,<len>:` (MUX 0), `+IPD,<id>,<len>:` (MUX 1), and with
    CIPDINFO=1 `,"<ip>",<port>` after len; CIPDINFO? answers true/false."""
    device = await esp_port(start_port)
    await device.command(b"AT+CIPDINFO?", b"+CIPDINFO:false\r\n" + OK)
    peer = await open_tcp(device, tcp_server)
    port = peer.address[1]
    await peer.send(b"plain")
    await device.expect(b"\r\n+IPD,5:plain")
    await device.command(b"AT+CIPDINFO=1", OK)
    await device.command(b"AT+CIPDINFO?", b"+CIPDINFO:true\r\n" + OK)
    await peer.send(b"info")
    await device.expect(b'\r\n+IPD,4,"127.0.0.1",%d:info' % port)
    await device.command(b"AT+CIPDINFO=2", ERROR)
    await device.command(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    peer = await open_tcp(device, tcp_server, 2)
    port = peer.address[1]
    await peer.send(ALL_BYTES)
    await device.expect(b'\r\n+IPD,2,256,"127.0.0.1",%d:' % port + ALL_BYTES)
    await device.command(b"AT+CIPDINFO=0", OK)
    await peer.send(b"bare")
    await device.expect(b"\r\n+IPD,2,4:bare")


async def test_ipd_udp_sender_with_cipdinfo(start_port: StartPort) -> None:
    """E24: with CIPDINFO=1 a datagram's frame names its own sender."""
    device = await esp_port(start_port)
    first, second = await UdpPeer().bind(), await UdpPeer().bind()
    try:
        local = await open_udp(device, 0, mode=2, remote=b"0.0.0.0")
        await device.command(b"AT+CIPDINFO=1", OK)
        await first.send_to(b"a", local)
        await device.expect(b'\r\n+IPD,1,"127.0.0.1",%d:a' % first.port)
        await second.send_to(b"b", local)
        await device.expect(b'\r\n+IPD,1,"127.0.0.1",%d:b' % second.port)
    finally:
        first.close()
        second.close()


# -- E25 ---------------------------------------------------------------------------------


async def test_passive_mode_one_notice_and_reads(start_port: StartPort,
                                                 tcp_server: TcpServer) -> None:
    """E25: in passive mode data is kept; the first arrival is announced
    `+IPD,<total>` and later arrivals are not until the host reads;
    CIPRECVDATA gives up to max bytes and what it leaves is announced
    again with the total buffered, as is the next arrival after a read
    that emptied the buffer."""
    device = await esp_port(start_port)
    await device.command(b"AT+CIPRECVMODE?", b"+CIPRECVMODE:0\r\n" + OK)
    await device.command(b"AT+CIPRECVMODE=1", OK)
    await device.command(b"AT+CIPRECVMODE?", b"+CIPRECVMODE:1\r\n" + OK)
    peer = await open_tcp(device, tcp_server)
    await device.command(b"AT+CIPRECVDATA=10", ERROR)  # nothing buffered
    await peer.send(b"0123456789")
    await device.expect(b"\r\n+IPD,10\r\n")
    await peer.send(b"abcde")
    await device.expect_silence(0.2)
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:15,-1,-1,-1,-1\r\n" + OK)
    await device.command(b"AT+CIPRECVDATA=4", b"+CIPRECVDATA:4,0123" + OK)
    await device.expect(b"\r\n+IPD,11\r\n")
    await peer.send(b"XY")
    await device.expect_silence(0.2)
    await device.command(b"AT+CIPDINFO=1", OK)
    await device.command(b"AT+CIPRECVDATA=100", b'+CIPRECVDATA:13,"127.0.0.1",%d,456789abcdeXY'
                         % peer.address[1] + OK)
    await device.expect_silence(0.1)
    await peer.send(b"Z")
    await device.expect(b"\r\n+IPD,1\r\n")
    await device.command(b"AT+CIPRECVDATA=100", b'+CIPRECVDATA:1,"127.0.0.1",%d,Z'
                         % peer.address[1] + OK)
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:0,-1,-1,-1,-1\r\n" + OK)
    await device.command(b"AT+CIPRECVDATA=1", ERROR)
    await device.command(b"AT+CIPRECVDATA=0", ERROR)
    await device.command(b"AT+CIPRECVMODE=0", OK)
    await peer.send(b"live")
    await device.expect(b'\r\n+IPD,4,"127.0.0.1",%d:live' % peer.address[1])
    await device.command(b"AT+CIPRECVDATA=4", ERROR)  # active mode


async def test_passive_mode_mux_and_recvtype(start_port: StartPort,
                                             tcp_server: TcpServer) -> None:
    """E25: MUX 1 forms `+IPD,<id>,<total>` and CIPRECVDATA=<id>,<max>;
    AT+CIPRECVTYPE=<id>,1 sets the port's mode; CIPRECVLEN? has -1 for
    every id without a link; all 256 byte values come back unaltered."""
    device = await esp_port(start_port, mux=True)
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:-1,-1,-1,-1,-1\r\n" + OK)
    await device.command(b"AT+CIPRECVTYPE=3,1", OK)
    await device.command(b"AT+CIPRECVMODE?", b"+CIPRECVMODE:1\r\n" + OK)
    first = await open_tcp(device, tcp_server, 1)
    second = await open_tcp(device, tcp_server, 3)
    await first.send(ALL_BYTES)
    await device.expect(b"\r\n+IPD,1,256\r\n")
    await second.send(b"three")
    await device.expect(b"\r\n+IPD,3,5\r\n")
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:-1,256,-1,5,-1\r\n" + OK)
    await device.command(b"AT+CIPRECVDATA=3,100", b"+CIPRECVDATA:5,three" + OK)
    await device.command(b"AT+CIPRECVDATA=1,1000", b"+CIPRECVDATA:256," + ALL_BYTES + OK)
    await device.command(b"AT+CIPRECVDATA=2,10", ERROR)
    await device.command(b"AT+CIPRECVDATA=10", ERROR)
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:-1,0,-1,0,-1\r\n" + OK)


async def test_passive_udp_datagram_in_two_reads(start_port: StartPort) -> None:
    """E25: a UDP read takes one datagram; one larger than max gives max
    bytes and keeps the rest for the next read, announced again with all
    that waits; datagrams are never merged."""
    device = await esp_port(start_port)
    peer = await UdpPeer().bind()
    try:
        await device.command(b"AT+CIPRECVMODE=1", OK)
        local = await open_udp(device, peer.port)
        big = random.Random(25).randbytes(3000)
        await peer.send_to(big, local)
        await device.expect(b"\r\n+IPD,3000\r\n")
        await peer.send_to(b"small", local)
        await device.expect_silence(0.2)
        await device.command(b"AT+CIPRECVDATA=2048", b"+CIPRECVDATA:2048," + big[:2048] + OK)
        await device.expect(b"\r\n+IPD,957\r\n")
        await device.command(b"AT+CIPRECVDATA=2048", b"+CIPRECVDATA:952," + big[2048:] + OK)
        await device.expect(b"\r\n+IPD,5\r\n")
        await device.command(b"AT+CIPDINFO=1", OK)
        await device.command(b"AT+CIPRECVDATA=2048",
                             b'+CIPRECVDATA:5,"127.0.0.1",%d,small' % peer.port + OK)
    finally:
        peer.close()


async def test_passive_closed_held_until_read(start_port: StartPort,
                                              tcp_server: TcpServer) -> None:
    """E25: a link the peer closed keeps its data readable; its CLOSED comes
    only once the buffer is empty (or at once when the host closes it)."""
    device = await esp_port(start_port, mux=True)
    await device.command(b"AT+CIPRECVMODE=1", OK)
    peer = await open_tcp(device, tcp_server, 0)
    await peer.send(b"goodbye")
    await peer.aclose()
    await device.expect(b"\r\n+IPD,0,7\r\n")
    await device.expect_silence(0.2)
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:7,-1,-1,-1,-1\r\n" + OK)
    await device.command(b"AT+CIPRECVDATA=0,4", b"+CIPRECVDATA:4,good" + OK)
    await device.expect(b"\r\n+IPD,0,3\r\n")
    await device.expect_silence(0.2)
    await device.command(b"AT+CIPRECVDATA=0,4", b"+CIPRECVDATA:3,bye" + OK + b"0,CLOSED\r\n")
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:-1,-1,-1,-1,-1\r\n" + OK)
    other = await open_tcp(device, tcp_server, 1)
    await other.send(b"unread")
    await other.aclose()
    await device.expect(b"\r\n+IPD,1,6\r\n")
    await device.expect_silence(0.2)
    await device.command(b"AT+CIPCLOSE=1", b"1,CLOSED\r\n" + OK)
    await device.expect_silence(0.2)


async def test_passive_close_with_nothing_buffered(start_port: StartPort,
                                                  tcp_server: TcpServer) -> None:
    """E25/E20: a peer that closes with nothing buffered is `CLOSED` at
    once; CIPRECVDATA takes a max up to 0x7fffffff."""
    device = await esp_port(start_port)
    await device.command(b"AT+CIPRECVMODE=1", OK)
    peer = await open_tcp(device, tcp_server)
    await peer.send(b"abc")
    await device.expect(b"\r\n+IPD,3\r\n")
    await device.command(b"AT+CIPRECVDATA=2147483647", b"+CIPRECVDATA:3,abc" + OK)
    await device.command(b"AT+CIPRECVDATA=2147483648", ERROR)
    await peer.aclose()
    await device.expect(b"CLOSED\r\n")
    await device.command(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:-1,-1,-1,-1,-1\r\n" + OK)


async def test_passive_backpressure_loses_nothing(start_port: StartPort,
                                                  tcp_server: TcpServer) -> None:
    """E25: a link whose buffer is full (link_buffer) stops reading its
    socket: the peer's sending stalls, the buffered count stays put, and
    reading it all gives every byte in order."""
    device = await esp_port(start_port, link_buffer=8192)
    await device.command(b"AT+CIPRECVMODE=1", OK)
    peer = await open_tcp(device, tcp_server)
    data = random.Random(8).randbytes(4 << 20)
    sent = trio.Event()

    async def send_all() -> None:
        await peer.stream.send_all(data)
        sent.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_all)
        await device.read_until(rb"\r\n\+IPD,\d+\r\n")
        await trio.sleep(0.5)
        assert not sent.is_set()  # the kernel's buffers are full: the peer waits
        lengths = []
        for _ in range(2):
            await device.send(b"AT+CIPRECVLEN?\r\n")
            match = await device.read_until(rb"\+CIPRECVLEN:(\d+),-1,-1,-1,-1\r\n\r\nOK\r\n")
            lengths.append(int(match[1]))
            await trio.sleep(0.2)
        assert lengths[0] == lengths[1] <= 8192
        received = bytearray()
        with trio.fail_after(60):
            while len(received) < len(data):
                await device.send(b"AT+CIPRECVDATA=8192\r\n")
                head = await device.read_until(rb"(?:\r\n\+IPD,\d+\r\n)?"
                                               rb"(?:\+CIPRECVDATA:(\d+),|\r\nERROR\r\n)")
                if head[1] is None:  # emptied just now: the socket is being read again
                    await trio.sleep(0.01)
                    continue
                received += await device.read_exactly(int(head[1]))
                await device.read_until(rb"\r\nOK\r\n(?:\r\n\+IPD,\d+\r\n)?")
        assert received == data
        with trio.fail_after(WAIT):
            await sent.wait()
