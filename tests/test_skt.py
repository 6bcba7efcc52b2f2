"""The SKT dialect end to end: a real pty as the UART, real sockets on 127.0.0.1.

Each test cites the NOTES.md items (S1..S13, G1..G8) its behaviour follows.
"""

from __future__ import annotations

import socket

import trio
from conftest import (
    WAIT,
    Device,
    Peer,
    TcpServer,
    connect,
    exchange,
    free_port,
    open_skt_client,
)

OK = b"\r\n+%s:OK\r\n"


def error(command: bytes, number: int) -> bytes:
    return b"\r\n+%s:ERROR:%d\r\n" % (command, number)


async def read_when_ready(device: Device, con_id: int, size: int, expected: bytes) -> None:
    """AT+SKTREAD until data has arrived (it may still be in flight), then exact."""
    empty = b"+SKTREAD:OK,0,%d:\r\n" % con_id
    with trio.fail_after(WAIT):
        while True:
            await device.send(b"AT+SKTREAD=%d,%d\r\n" % (con_id, size))
            reply = await device.read_exactly(len(empty))
            if reply != empty:
                rest = await device.read_exactly(len(expected) - len(reply))
                assert reply + rest == expected
                return
            await trio.sleep(0.02)


async def open_server(device: Device, mode: int = 0, con_id: int = 1) -> int:
    port = free_port(socket.SOCK_STREAM if mode == 0 else socket.SOCK_DGRAM)
    await device.command(b"AT+SKTSERVER=%d,%d" % (mode, port),
                         b"\r\n+SKTSERVER:OK\r\n+SKTSERVER:con_id=%d\r\n" % con_id)
    return port


async def accept_seed(device: Device, port: int, server_id: int, seed_id: int) -> Peer:
    """A peer connects to our TCP server and is announced as a seed (NOTES S4)."""
    peer = await connect(port)
    local_port = peer.address[1]
    await device.read_until(
        rb"\r\n\+SKTSERVER: A client connected to server\[%d\]\r\n"
        rb"con_id:%d, seed, tcp, address:127\.0\.0\.1, port:%d, socket:\d+\r\n"
        % (server_id, seed_id, local_port))
    return peer


# -- AT+SKTCLIENT (S3) ---------------------------------------------------------

async def test_tcp_client_send_and_read(skt: Device, tcp_server: TcpServer) -> None:
    """S3 reply, S5 counted send, S6 read format."""
    peer = await open_skt_client(skt, tcp_server)
    await skt.send(b"AT+SKTSEND=5,1:hello")
    await peer.expect(b"hello")
    await skt.expect(OK % b"SKTSEND")
    await peer.send(b"world")
    await read_when_ready(skt, 1, 100, b"+SKTREAD:OK,5,1:world\r\n")


async def test_client_errors(skt: Device) -> None:
    """S3: parameters checked first, each with the spec's error number."""
    refused = free_port()
    cases = [
        (b"AT+SKTCLIENT=0,127.0.0.1", 1),  # parameter count
        (b"AT+SKTCLIENT=0,127.0.0.1,80,1,2", 1),
        (b"AT+SKTCLIENT=x,127.0.0.1,80", 1),  # not a number: error parameter
        (b"AT+SKTCLIENT=3,127.0.0.1,80", 17),  # connection type unknown
        (b"AT+SKTCLIENT=7,127.0.0.1,80", 17),
        (b"AT+SKTCLIENT=0,bad host!,80", 6),
        (b"AT+SKTCLIENT=0,127.0.0.1,0", 3),
        (b"AT+SKTCLIENT=0,127.0.0.1,65536", 3),
        (b"AT+SKTCLIENT=1,127.0.0.1,80,0", 11),
        (b"AT+SKTCLIENT=1,127.0.0.1,80,70000", 11),
        (b"AT+SKTCLIENT=0,no-such-host.invalid,80", 2),
        (b"AT+SKTCLIENT=0,127.0.0.1,%d" % refused, 9),
        (b"AT+SKTCLIENT?", 1),
        (b"AT+SKTCLIENT", 1),
    ]
    for line, number in cases:
        await skt.command(line, error(b"SKTCLIENT", number))
    await skt.command(b"AT+SKTSTATE", OK % b"SKTSTATE")  # nothing was opened


async def test_udp_client_local_port_in_use(skt: Device) -> None:
    """SKTCLIENT error 12: the local port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        await skt.command(b"AT+SKTCLIENT=1,127.0.0.1,9,%d" % port, error(b"SKTCLIENT", 12))


async def test_ten_links_exhaust_con_ids(skt: Device, tcp_server: TcpServer) -> None:
    """S2: con_ids 1..9, lowest free first, reused after AT+SKTDEL; error 4 when full."""
    peers = [await open_skt_client(skt, tcp_server, con_id) for con_id in range(1, 10)]
    await skt.command(b"AT+SKTCLIENT=0,127.0.0.1,%d" % tcp_server.port, error(b"SKTCLIENT", 4))
    await skt.command(b"AT+SKTDEL=4", OK % b"SKTDEL")
    await peers[3].expect_eof()
    peers[3] = await open_skt_client(skt, tcp_server, 4)
    await skt.command(b"AT+SKTDEL=0", OK % b"SKTDEL")
    for peer in peers:
        await peer.expect_eof()


# -- AT+SKTSEND (S5, G3, G7) ---------------------------------------------------

async def test_send_all_byte_values(skt: Device, tcp_server: TcpServer) -> None:
    """G3/S5: every byte value, CR and LF included, counted, unaltered."""
    peer = await open_skt_client(skt, tcp_server)
    data = bytes(range(256)) * 4
    await skt.send(b"AT+SKTSEND=%d,1:" % len(data) + data)
    await peer.expect(data)
    await skt.expect(OK % b"SKTSEND")


async def test_send_framed_by_count_not_line_end(skt: Device, tcp_server: TcpServer) -> None:
    """S5: the spec's example sends 14 bytes, CR LF included; bytes after the
    count are the next command, and a CR LF after it is an empty line."""
    peer = await open_skt_client(skt, tcp_server)
    await skt.send(b"AT+SKTSEND=14,1:Hello_World!\r\n\r\nAT+SKTSEND=2,1:ab\r\nAT+SKTSTATE\r\n")
    await peer.expect(b"Hello_World!\r\nab")
    await skt.expect(OK % b"SKTSEND" + OK % b"SKTSEND")
    await skt.read_until(rb"con_id:1,client,tcp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
                         % tcp_server.port)
    await skt.expect(OK % b"SKTSTATE")


async def test_send_errors_consume_counted_payload(skt: Device, tcp_server: TcpServer) -> None:
    """G7: a parsable data_size always consumes that many bytes, even when the
    send then fails; an unparsable one discards the rest of the line."""
    peer = await open_skt_client(skt, tcp_server)
    # unknown con_ids (S2: outside 1..9 is 'not found' too): payload consumed
    for con_id in (b"5", b"0", b"10"):
        await skt.send(b"AT+SKTSEND=4,%s:AT+S" % con_id)
        await skt.expect(error(b"SKTSEND", 3))
    await skt.send(b"AT+SKTSEND=3,1,127.0.0.1:xyz")  # wrong argument count after payload
    await skt.expect(error(b"SKTSEND", 1))
    await skt.send(b"AT+SKTSEND=3,1,127.0.0.1,9:xyz")  # a destination on a TCP link
    await skt.expect(error(b"SKTSEND", 1))
    await skt.send(b"AT+SKTSEND=3,x:xyz")
    await skt.expect(error(b"SKTSEND", 1))
    # count does not parse: the rest of the line is discarded
    await skt.send(b"AT+SKTSEND=x,1:AT+SKTDEL=1\r\n")
    await skt.expect(error(b"SKTSEND", 1))
    await skt.send(b"AT+SKTSEND=0,1:AT+SKTDEL=1\r\n")
    await skt.expect(error(b"SKTSEND", 2))
    await skt.send(b"AT+SKTSEND=999999,1:AT+SKTDEL=1\r\n")
    await skt.expect(error(b"SKTSEND", 2))
    await skt.command(b"AT+SKTSEND=3,1", error(b"SKTSEND", 1))  # no colon, no data
    await skt.command(b"AT+SKTSEND?", error(b"SKTSEND", 1))
    # the link took none of that and still works
    await skt.send(b"AT+SKTSEND=2,1:ok")
    await peer.expect(b"ok")
    await skt.expect(OK % b"SKTSEND")


async def test_send_after_peer_closed(skt: Device, tcp_server: TcpServer) -> None:
    """S7: data before the close is delivered, then error 7 on read, 8 on send,
    and the con_id stays taken until AT+SKTDEL."""
    peer = await open_skt_client(skt, tcp_server)
    await peer.send(b"last words")
    await peer.aclose()
    await trio.sleep(0.1)
    await skt.command(b"AT+SKTREAD=1,100", b"+SKTREAD:OK,10,1:last words\r\n")
    await skt.command(b"AT+SKTREAD=1,100", error(b"SKTREAD", 7))
    await skt.send(b"AT+SKTSEND=2,1:hi")
    await skt.expect(error(b"SKTSEND", 8))
    await skt.send(b"AT+SKTSTATE\r\n")
    await skt.read_until(rb"con_id:1,client,tcp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
                         % tcp_server.port)
    await skt.expect(OK % b"SKTSTATE")
    await skt.command(b"AT+SKTDEL=1", OK % b"SKTDEL")
    await skt.command(b"AT+SKTSTATE", OK % b"SKTSTATE")


# -- AT+SKTREAD / AT+SKTRECVCFG (S6-S8) -----------------------------------------

async def test_read_errors_and_partial_reads(skt: Device, tcp_server: TcpServer) -> None:
    """S6: len 0 when nothing waits; buff_size bounds a read; the rest stays."""
    peer = await open_skt_client(skt, tcp_server)
    await skt.command(b"AT+SKTREAD=1,100", b"+SKTREAD:OK,0,1:\r\n")
    await peer.send(b"0123456789")
    await read_when_ready(skt, 1, 4, b"+SKTREAD:OK,4,1:0123\r\n")
    await skt.command(b"AT+SKTREAD=1,100", b"+SKTREAD:OK,6,1:456789\r\n")
    for line, number in [(b"AT+SKTREAD=1,0", 2), (b"AT+SKTREAD=1,999999", 2),
                         (b"AT+SKTREAD=2,100", 3), (b"AT+SKTREAD=0,100", 3),
                         (b"AT+SKTREAD=10,100", 3), (b"AT+SKTREAD=1", 1),
                         (b"AT+SKTREAD=a,100", 1), (b"AT+SKTREAD=1,b", 1)]:
        await skt.command(line, error(b"SKTREAD", number))


async def test_read_buffer_of_2048(skt: Device, tcp_server: TcpServer) -> None:
    """S6: buff_size up to at least 2048, binary data unaltered."""
    peer = await open_skt_client(skt, tcp_server)
    data = bytes(range(256)) * 8
    await peer.send(data)
    await trio.sleep(0.1)
    await skt.command(b"AT+SKTREAD=1,2048", b"+SKTREAD:OK,2048,1:" + data + b"\r\n")


async def test_auto_receive(skt: Device, tcp_server: TcpServer) -> None:
    """S8: with AT+SKTRECVCFG=1 data comes unasked in SKTREAD form, in order,
    data queued before it first; S6: SKTREAD is error 11 meanwhile; S7: one
    error 7 notice when the peer closes."""
    peer = await open_skt_client(skt, tcp_server)
    await peer.send(b"queued")
    await trio.sleep(0.1)
    await skt.command(b"AT+SKTRECVCFG=1",
                      OK % b"SKTRECVCFG" + b"+SKTREAD:OK,6,1:queued\r\n")
    await peer.send(b"live")
    await skt.expect(b"+SKTREAD:OK,4,1:live\r\n")
    await skt.command(b"AT+SKTREAD=1,10", error(b"SKTREAD", 11))
    await skt.command(b"AT+SKTRECVCFG=2", error(b"SKTRECVCFG", 1))
    await skt.command(b"AT+SKTRECVCFG", error(b"SKTRECVCFG", 1))
    await peer.aclose()
    await skt.expect(b"+SKTREAD:ERROR:7,1\r\n")
    await skt.expect_silence()
    await skt.command(b"AT+SKTRECVCFG=0", OK % b"SKTRECVCFG")
    await skt.command(b"AT+SKTREAD=1,10", error(b"SKTREAD", 7))


# -- AT+SKTSERVER and seeds (S4, S11) -------------------------------------------

async def test_tcp_server_with_two_seeds_kept_apart(skt: Device) -> None:
    """S4: each accepted peer is a seed with its own con_id, announced at once;
    their data and sends never mix; S11 state lines."""
    port = await open_server(skt)
    first = await accept_seed(skt, port, 1, 2)
    second = await accept_seed(skt, port, 1, 3)
    await first.send(b"from first")
    await second.send(b"from second")
    await read_when_ready(skt, 3, 100, b"+SKTREAD:OK,11,3:from second\r\n")
    await read_when_ready(skt, 2, 100, b"+SKTREAD:OK,10,2:from first\r\n")
    await skt.send(b"AT+SKTSEND=3,2:one")
    await skt.expect(OK % b"SKTSEND")
    await skt.send(b"AT+SKTSEND=3,3:two")
    await skt.expect(OK % b"SKTSEND")
    await first.expect(b"one")
    await second.expect(b"two")
    await skt.send(b"AT+SKTSEND=1,1:x")
    await skt.expect(error(b"SKTSEND", 7))
    await skt.command(b"AT+SKTREAD=1,10", error(b"SKTREAD", 6))
    await skt.send(b"AT+SKTSTATE\r\n")
    await skt.read_until(
        rb"con_id:1,server,tcp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
        rb"con_id:2,seed,tcp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
        rb"con_id:3,seed,tcp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
        % (port, first.address[1], second.address[1]))
    await skt.expect(OK % b"SKTSTATE")
    # S10: deleting the server closes its seeds
    await skt.command(b"AT+SKTDEL=1", OK % b"SKTDEL")
    await first.expect_eof()
    await second.expect_eof()
    await skt.command(b"AT+SKTSTATE", OK % b"SKTSTATE")


async def test_seed_refused_when_no_con_id(skt: Device, tcp_server: TcpServer) -> None:
    """S4: with every con_id taken, a new peer is closed (and logged)."""
    port = await open_server(skt)
    clients = [await open_skt_client(skt, tcp_server, con_id) for con_id in range(2, 10)]
    peer = await connect(port)
    await peer.expect_eof()
    await skt.expect_silence()
    for client in clients:
        await client.aclose()


async def test_server_errors(skt: Device) -> None:
    """SKTSERVER error numbers: 1 count, 2 port, 14 type, 9/12 exists, 7 bind."""
    for line, number in [(b"AT+SKTSERVER=0", 1), (b"AT+SKTSERVER=0,1,2", 1),
                         (b"AT+SKTSERVER=0,0", 2), (b"AT+SKTSERVER=0,65536", 2),
                         (b"AT+SKTSERVER=3,5000", 14),
                         (b"AT+SKTSERVER=0,x", 1)]:
        await skt.command(line, error(b"SKTSERVER", number))
    tcp_port = await open_server(skt, 0, 1)
    await skt.command(b"AT+SKTSERVER=0,%d" % tcp_port, error(b"SKTSERVER", 9))
    udp_port = await open_server(skt, 1, 2)
    await skt.command(b"AT+SKTSERVER=1,%d" % udp_port, error(b"SKTSERVER", 12))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        await skt.command(b"AT+SKTSERVER=0,%d" % taken.getsockname()[1],
                          error(b"SKTSERVER", 7))


async def test_udp_server(skt: Device) -> None:
    """S6: a UDP server's reads carry the source; sends go to a given
    destination or to the last source; error 4 before anyone has spoken."""
    port = await open_server(skt, mode=1)
    await skt.send(b"AT+SKTSEND=2,1:no")
    await skt.expect(error(b"SKTSEND", 4))
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        await client.bind(("127.0.0.1", 0))
        client_port = client.getsockname()[1]
        await client.sendto(b"ping\r\n", ("127.0.0.1", port))
        await read_when_ready(skt, 1, 100,
                              b"+SKTREAD:OK,6,1,127.0.0.1,%d:ping\r\n\r\n" % client_port)
        await skt.send(b"AT+SKTSEND=4,1:pong")
        await skt.expect(OK % b"SKTSEND")
        with trio.fail_after(WAIT):
            assert await client.recv(100) == b"pong"
        await skt.send(b"AT+SKTSEND=5,1,127.0.0.1,%d:again" % client_port)
        await skt.expect(OK % b"SKTSEND")
        with trio.fail_after(WAIT):
            assert await client.recv(100) == b"again"
        # datagram boundaries are kept
        await client.sendto(b"one", ("127.0.0.1", port))
        await client.sendto(b"two", ("127.0.0.1", port))
        await trio.sleep(0.1)
        await skt.command(b"AT+SKTREAD=1,100",
                          b"+SKTREAD:OK,3,1,127.0.0.1,%d:one\r\n" % client_port)
        await skt.command(b"AT+SKTREAD=1,100",
                          b"+SKTREAD:OK,3,1,127.0.0.1,%d:two\r\n" % client_port)
    await skt.send(b"AT+SKTSTATE\r\n")
    await skt.read_until(rb"con_id:1,server,udp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
                         % port)
    await skt.expect(OK % b"SKTSTATE")


async def test_udp_client(skt: Device) -> None:
    """UDP client: default destination, optional local port, reads without source."""
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        await server.bind(("127.0.0.1", 0))
        server_port = server.getsockname()[1]
        local_port = free_port(socket.SOCK_DGRAM)
        await skt.command(b"AT+SKTCLIENT=1,127.0.0.1,%d,%d" % (server_port, local_port),
                          b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
        await skt.send(b"AT+SKTSEND=3,1:abc")
        await skt.expect(OK % b"SKTSEND")
        with trio.fail_after(WAIT):
            data, source = await server.recvfrom(100)
        assert (data, source) == (b"abc", ("127.0.0.1", local_port))
        await server.sendto(b"\x00reply\xff", source)
        await read_when_ready(skt, 1, 100, b"+SKTREAD:OK,7,1:\x00reply\xff\r\n")
        await skt.send(b"AT+SKTSTATE\r\n")
        await skt.read_until(
            rb"con_id:1,client,udp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n" % server_port)
        await skt.expect(OK % b"SKTSTATE")


# -- AT+SKTDEL (S10) ---------------------------------------------------------------

async def test_delete(skt: Device, tcp_server: TcpServer) -> None:
    """S10: one, all (auto-receive off too), an id not open answers OK."""
    first = await open_skt_client(skt, tcp_server, 1)
    second = await open_skt_client(skt, tcp_server, 2)
    await skt.command(b"AT+SKTDEL=7", OK % b"SKTDEL")
    await skt.command(b"AT+SKTDEL=10", error(b"SKTDEL", 1))
    await skt.command(b"AT+SKTDEL=-1", error(b"SKTDEL", 1))
    await skt.command(b"AT+SKTDEL", error(b"SKTDEL", 1))
    await skt.command(b"AT+SKTDEL=1", OK % b"SKTDEL")
    await first.expect_eof()
    await skt.command(b"AT+SKTRECVCFG=1", OK % b"SKTRECVCFG")
    await skt.command(b"AT+SKTDEL=0", OK % b"SKTDEL")
    await second.expect_eof()
    # auto-receive is off again: a read answers instead of error 11
    third = await open_skt_client(skt, tcp_server, 1)
    await skt.command(b"AT+SKTREAD=1,10", b"+SKTREAD:OK,0,1:\r\n")
    await third.aclose()


# -- AT+SKTTT (S9, G5) -------------------------------------------------------------

async def enter_transparent(device: Device) -> None:
    await device.command(b"AT+SKTTT=1", OK % b"SKTTT")
    await trio.sleep(0.05)  # the escape's guard time


async def leave_transparent(device: Device) -> None:
    """G5: ---- alone, with the guard of silence before and after; S9: \\r\\n#\\r\\n."""
    await trio.sleep(0.05)
    for hyphen in b"----":
        await device.send(bytes([hyphen]))
        await trio.sleep(0.01)
    await device.expect(b"\r\n#\r\n")


async def test_transparent_errors(skt: Device, tcp_server: TcpServer) -> None:
    """S9: exactly one open entity, and it must be a client (errors 2, 3, 4)."""
    await skt.command(b"AT+SKTTT=1", error(b"SKTTT", 2))
    await skt.command(b"AT+SKTTT=0", error(b"SKTTT", 1))
    await skt.command(b"AT+SKTTT", error(b"SKTTT", 1))
    await open_server(skt)
    await skt.command(b"AT+SKTTT=1", error(b"SKTTT", 3))
    client = await open_skt_client(skt, tcp_server, 2)
    await skt.command(b"AT+SKTTT=1", error(b"SKTTT", 4))
    await client.aclose()


async def test_transparent_both_ways_and_escape(skt: Device, tcp_server: TcpServer) -> None:
    """S9: raw both ways, no header, no added CR LF; data received before is
    delivered first; G5: `data----` in one burst stays data; the escape alone
    leaves, the link stays open and auto-receive is off."""
    peer = await open_skt_client(skt, tcp_server)
    await peer.send(b"early ")
    await trio.sleep(0.1)
    await skt.command(b"AT+SKTTT=1", OK % b"SKTTT" + b"early ")
    await trio.sleep(0.05)
    await skt.send(b"Hello world!\r\n")
    await peer.expect(b"Hello world!\r\n")
    await skt.send(b"data----")
    await peer.expect(b"data----")
    await peer.send(b"back\x00\xff")
    await skt.expect(b"back\x00\xff")
    await leave_transparent(skt)
    await skt.command(b"AT+SKTSEND=3,1:cmd", OK % b"SKTSEND")
    await peer.expect(b"cmd")
    await peer.send(b"after")
    await read_when_ready(skt, 1, 100, b"+SKTREAD:OK,5,1:after\r\n")


async def test_transparent_hyphens_with_data_after_are_data(skt: Device,
                                                           tcp_server: TcpServer) -> None:
    """G5: hyphens held while deciding are forwarded in order if more follows."""
    peer = await open_skt_client(skt, tcp_server)
    await enter_transparent(skt)
    await skt.send(b"--")
    await trio.sleep(0.05)
    await skt.send(b"--x")
    await peer.expect(b"----x")
    await trio.sleep(0.05)
    await skt.send(b"----\r\n")  # the escape may be followed by a line end
    await skt.expect(b"\r\n#\r\n")
    await skt.expect_silence()


async def test_transparent_peer_closes(skt: Device, tcp_server: TcpServer) -> None:
    """S9: a link that closes during transparent mode prints \\r\\n#\\r\\n and
    returns to command mode; S7 applies (error 7, con_id kept)."""
    peer = await open_skt_client(skt, tcp_server)
    await enter_transparent(skt)
    await peer.send(b"bye")
    await peer.aclose()
    await skt.expect(b"bye\r\n#\r\n")
    await skt.command(b"AT+SKTREAD=1,10", error(b"SKTREAD", 7))
    await skt.command(b"AT+SKTDEL=1", OK % b"SKTDEL")


async def test_transparent_one_mib_random_both_ways(skt: Device,
                                                    tcp_server: TcpServer) -> None:
    """S9/G3: 1 MiB of random bytes each way, unaltered and in order."""
    import random

    peer = await open_skt_client(skt, tcp_server)
    await enter_transparent(skt)
    rng = random.Random(1234)
    up = rng.randbytes(1 << 20)
    down = rng.randbytes(1 << 20)

    await exchange(skt, peer, up, down)
    await leave_transparent(skt)


# -- bad input (S13, G1) -------------------------------------------------------------

async def test_unknown_and_malformed_commands_are_silent(skt: Device) -> None:
    """S13: unknown commands get nothing; G1: names are case-sensitive, and
    `AT+ SKTSEND` is not a command; over-long lines are dropped silently."""
    for line in (b"AT", b"ATE0", b"AT+FOO=1", b"at+sktstate", b"AT+ SKTSTATE",
                 b"AT+SKTSTATE=1", b"AT+SKTSTATE?", b"hello", b"\x00\xff\x80"):
        await skt.send(line + b"\r\n")
    await skt.send(b"AT+SKTSTATE" + b"x" * 5000 + b"\r\n")
    await skt.expect_silence()
    await skt.command(b"AT+SKTSTATE", OK % b"SKTSTATE")


async def test_line_endings(skt: Device) -> None:
    """G1: CR LF, lone CR and lone LF each end a line; CR LF counts once."""
    await skt.send(b"AT+SKTSTATE\rAT+SKTSTATE\nAT+SKTSTATE\r\n\r\n\nAT+SKTSTATE\r")
    await skt.expect((OK % b"SKTSTATE") * 4)
    await skt.expect_silence()


async def test_random_garbage_then_port_still_works(skt: Device, tcp_server: TcpServer) -> None:
    """Line noise never crashes the port or hurts an open link."""
    import random

    peer = await open_skt_client(skt, tcp_server)
    rng = random.Random(99)
    for _ in range(200):
        chunk = rng.randbytes(rng.randrange(1, 600)).replace(b"AT+", b"at+")
        await skt.send(chunk)
    await skt.send(b"\r\n")
    await skt.expect_silence(0.5)  # S13: noise is never answered
    await skt.send(b"AT+SKTSEND=4,1:\r\n\x00\xff")
    await peer.expect(b"\r\n\x00\xff")
    await skt.expect(OK % b"SKTSEND")
    await skt.send(b"AT+SKTSTATE\r\n")
    await skt.read_until(rb"con_id:1,client,tcp,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
                         % tcp_server.port)
    await skt.expect(OK % b"SKTSTATE")
