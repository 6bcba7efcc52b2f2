"""ESP-AT links, profile 2.4: CIPMUX (E15), CIPSTART and CIPSTARTEX over TCP,
UDP and SSL (E16, E17), CIPSTATUS and CIPSTATE (E18), CIPCLOSE and
CIPCLOSEMODE (E19), a peer's close (E20). Real sockets on 127.0.0.1, real
TLS peers (openssl s_server with trustme certificates); exact bytes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio
from conftest import WAIT, Certificates, Device, Peer, StartPort, TcpServer, free_port
from esp_links_harness import (
    ERROR,
    OK,
    UdpPeer,
    esp_port,
    open_tcp,
    open_udp,
    send_data,
)
from tls_peers import cert_options, s_server

CLOSED = b"CLOSED\r\n"


def status_line(prefix: bytes, link_id: int, kind: bytes, remote_port: int, local_port: int,
                server: int = 0, remote_ip: bytes = b"127.0.0.1") -> bytes:
    return b'+%s:%d,"%s","%s",%d,%d,%d\r\n' % (prefix, link_id, kind, remote_ip, remote_port,
                                              local_port, server)


def ports_of(peer: Peer) -> tuple[int, int]:
    """(the link's remote port, the link's local port) as the peer sees them."""
    return peer.stream.socket.getsockname()[1], peer.stream.socket.getpeername()[1]


# -- E15 ------------------------------------------------------------------------------


async def test_cipmux_rules(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E15: default 0; only 0 or 1; no change while a link or the server is
    open, nor to 1 while CIPMODE=1; ids 0-4 with MUX 1."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port)
    await device.command(b"AT+CIPMUX?", b"+CIPMUX:0\r\n" + OK)
    await device.command(b"AT+CIPMUX=2", ERROR)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b"AT+CIPMUX?", b"+CIPMUX:1\r\n" + OK)
    await device.command(b'AT+CIPSTART=5,"TCP","127.0.0.1",%d' % tcp_server.port, ERROR)
    held.append(await open_tcp(device, tcp_server, 4))
    await device.command(b"AT+CIPMUX=0", ERROR)
    await device.command(b"AT+CIPMUX?", b"+CIPMUX:1\r\n" + OK)
    await device.command(b"AT+CIPCLOSE=4", b"4,CLOSED\r\n" + OK)
    await device.command(b"AT+CIPSERVER=1,%d" % free_port(), OK)
    await device.command(b"AT+CIPMUX=0", ERROR)
    await device.command(b"AT+CIPSERVER=0", OK)
    await device.command(b"AT+CIPMUX=0", OK)
    held.append(await open_tcp(device, tcp_server))
    await device.command(b"AT+CIPMUX=1", ERROR)
    await device.command(b"AT+CIPCLOSE", CLOSED + OK)
    await device.command(b"AT+CIPMODE=1", OK)
    await device.command(b"AT+CIPMUX=1", ERROR)
    await device.command(b"AT+CIPMUX?", b"+CIPMUX:0\r\n" + OK)
    await device.command(b"AT+CIPMODE=0", OK)
    await device.command(b"AT+CIPMUX=1", OK)


# -- E16: TCP ---------------------------------------------------------------------------


async def test_cipstart_tcp_single_and_multiple(start_port: StartPort,
                                                tcp_server: TcpServer) -> None:
    """E16: `CONNECT` then OK (MUX 1: `<id>,CONNECT`), by address or name;
    an open id is `ALREADY CONNECTED` then ERROR and the link stays."""
    device = await esp_port(start_port)
    peer = await open_tcp(device, tcp_server)
    await device.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % tcp_server.port,
                         b"ALREADY CONNECTED\r\n" + ERROR)
    await send_data(device, b"still here")
    await peer.expect(b"still here")
    await device.command(b"AT+CIPCLOSE", CLOSED + OK)
    await peer.expect_eof()
    await device.command(b"AT+CIPMUX=1", OK)
    peers_by_id = {}
    for link_id in (3, 0, 4, 1, 2):
        peers_by_id[link_id] = await open_tcp(device, tcp_server, link_id, host=b"localhost")
    await device.command(b'AT+CIPSTART=3,"TCP","localhost",%d' % tcp_server.port,
                         b"ALREADY CONNECTED\r\n" + ERROR)
    for link_id, each in peers_by_id.items():
        await send_data(device, b"to %d" % link_id, link_id)
        await each.expect(b"to %d" % link_id)


async def test_cipstartex_takes_the_lowest_free_id(start_port: StartPort,
                                                   tcp_server: TcpServer) -> None:
    """E16: AT+CIPSTARTEX is CIPSTART with the lowest free id, reported
    `<id>,CONNECT` (with CIPMUX=0 too); none free: ERROR."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port)
    await device.send(b'AT+CIPSTARTEX="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    held.append(await tcp_server.accept())
    await device.expect(b"0,CONNECT\r\n" + OK)
    await device.command(b"AT+CIPSTARTEX=\"TCP\",\"127.0.0.1\",%d" % tcp_server.port,
                         b"ALREADY CONNECTED\r\n" + ERROR)
    await device.command(b"AT+CIPCLOSE", CLOSED + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    held.append(await open_tcp(device, tcp_server, 0))
    held.append(await open_tcp(device, tcp_server, 2))
    for expected in (1, 3, 4):
        await device.send(b'AT+CIPSTARTEX="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
        held.append(await tcp_server.accept())
        await device.expect(b"%d,CONNECT\r\n" % expected + OK)
    await device.command(b'AT+CIPSTARTEX="TCP","127.0.0.1",%d' % tcp_server.port, ERROR)
    await device.command(b"AT+CIPCLOSE=1", b"1,CLOSED\r\n" + OK)
    await device.send(b'AT+CIPSTARTEX="UDP","127.0.0.1",%d\r\n' % free_port(socket.SOCK_DGRAM))
    await device.expect(b"1,CONNECT\r\n" + OK)


def keepalive_timer(local_port: int, remote_port: int) -> tuple[int, float]:
    """The kernel's timer for a TCP socket on 127.0.0.1 (/proc/net/tcp):
    (kind, seconds left); kind 2 is the keepalive timer."""
    wanted = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            kind, when = fields[5].split(":")
            return int(kind, 16), int(when, 16) / socket_clock_ticks()
    raise AssertionError(f"no socket {wanted} in /proc/net/tcp")


def socket_clock_ticks() -> int:
    """/proc/net/tcp counts timers in USER_HZ ticks."""
    import os

    return os.sysconf("SC_CLK_TCK")


async def test_cipstart_keepalive(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E16: keepalive 1-7200 s sets TCP_KEEPIDLE: the link's socket has a
    keepalive timer that long (seen in /proc/net/tcp); 0 or none: no timer;
    7201 is ERROR."""
    device = await esp_port(start_port, mux=True)
    await device.command(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d,7201' % tcp_server.port, ERROR)
    await device.send(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d,120\r\n' % tcp_server.port)
    kept = await tcp_server.accept()
    await device.expect(b"0,CONNECT\r\n" + OK)
    await device.send(b'AT+CIPSTART=1,"TCP","127.0.0.1",%d,0\r\n' % tcp_server.port)
    plain = await tcp_server.accept()
    await device.expect(b"1,CONNECT\r\n" + OK)
    kind, left = keepalive_timer(*reversed(ports_of(kept)))
    assert kind == 2 and 100 < left <= 120
    kind, _ = keepalive_timer(*reversed(ports_of(plain)))
    assert kind == 0


# -- E16: failures ------------------------------------------------------------------------


async def test_cipstart_failures_are_error_then_closed(start_port: StartPort,
                                                       tcp_server: TcpServer) -> None:
    """E16: a refused port, an unresolvable name and a connect timeout are
    `ERROR` then `CLOSED` (MUX 1: `<id>,CLOSED`), both in the reply; the id
    stays free."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port, connect_timeout=1.0)
    await device.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % free_port(), ERROR + CLOSED)
    await device.command(b'AT+CIPSTART="TCP","no-such-host.invalid",80', ERROR + CLOSED)
    await device.command(b'AT+CIPSTART="SSL","no-such-host.invalid",443', ERROR + CLOSED)
    await device.command(b'AT+CIPSTART="UDP","no-such-host.invalid",53', ERROR + CLOSED)
    with stalled_listener() as stalled_port:
        started = trio.current_time()
        await device.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % stalled_port,
                             ERROR + CLOSED)
        assert trio.current_time() - started >= 0.9  # it waited for connect_timeout
        await device.command(b"AT+CIPMUX=1", OK)
        await device.command(b'AT+CIPSTART=2,"TCP","127.0.0.1",%d' % stalled_port,
                             ERROR + b"2,CLOSED\r\n")
    await device.command(b'AT+CIPSTART=2,"TCP","127.0.0.1",%d' % free_port(),
                         ERROR + b"2,CLOSED\r\n")
    await device.command(b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)
    held.append(await open_tcp(device, tcp_server, 2))


async def test_cipstart_forms_and_local_failures(start_port: StartPort,
                                                 tcp_server: TcpServer) -> None:
    """E16: the id leads exactly with CIPMUX=1 (else ERROR, nothing opened);
    a UDP local port already taken, and an SSL handshake with a peer that
    does not speak TLS, are `ERROR` then `CLOSED`."""
    device = await esp_port(start_port)
    await device.command(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % tcp_server.port, ERROR)
    await device.command(b'AT+CIPSTART="TCP","127.0.0.1"', ERROR)
    await device.command(b'AT+CIPSTART="FTP","127.0.0.1",%d' % tcp_server.port, ERROR)
    await device.command(b'AT+CIPSTART="TCP","127.0.0.1",0', ERROR)
    await device.command(b'AT+CIPSTART="UDP","127.0.0.1",9,70000', ERROR)
    await device.command(b'AT+CIPSTART="UDP","127.0.0.1",9,1000,3', ERROR)
    taken = await UdpPeer().bind()
    try:
        await device.command(b'AT+CIPSTART="UDP","127.0.0.1",9,%d' % taken.port, ERROR + CLOSED)
    finally:
        taken.close()
    await device.send(b'AT+CIPSTART="SSL","127.0.0.1",%d\r\n' % tcp_server.port)
    not_tls = await tcp_server.accept()
    await not_tls.send(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    await not_tls.aclose()
    await device.expect(ERROR + CLOSED)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % tcp_server.port, ERROR)
    await device.command(b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)


@contextmanager
def stalled_listener() -> Iterator[int]:
    """A port whose connects never complete: a listener that never accepts,
    with its accept queue full, so the kernel drops further SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(2)]
    try:
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        yield port
    finally:
        for each in [*fillers, listener]:
            each.close()


async def test_cipstart_not_joined_is_error(start_port: StartPort,
                                            tcp_server: TcpServer) -> None:
    """E16: before a join, or after a quit, CIPSTART is `ERROR` alone."""
    device = await esp_port(start_port, joined=False)
    await device.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % tcp_server.port, ERROR)
    await device.command(b'AT+CWJAP="lab","secret"', b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK)
    await device.command(b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    await device.command(b'AT+CIPSTARTEX="TCP","127.0.0.1",%d' % tcp_server.port, ERROR)
    await device.command(b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)


# -- E16: UDP -------------------------------------------------------------------------------


async def test_udp_modes_and_local_ports(start_port: StartPort) -> None:
    """E16: the local port is the one asked for; mode 0 keeps the peer,
    1 takes the first other sender once, 2 follows every sender; CIPSTATUS
    and CIPSTATE report the current peer; sends go to it."""
    device = await esp_port(start_port, mux=True)
    first, second, third = [await UdpPeer().bind() for _ in range(3)]
    try:
        locals_ = [await open_udp(device, first.port, mode, mode) for mode in range(3)]
        for mode in range(3):
            await send_data(device, b"hello %d" % mode, mode)
            assert await first.receive() == (b"hello %d" % mode, locals_[mode])
        for mode in range(3):
            await second.send_to(b"from second", locals_[mode])
            await device.expect(b"\r\n+IPD,%d,11:from second" % mode)
            await third.send_to(b"from third", locals_[mode])
            await device.expect(b"\r\n+IPD,%d,10:from third" % mode)
        expected_peer = {0: first.port, 1: second.port, 2: third.port}
        for prefix in (b"CIPSTATE", b"CIPSTATUS"):
            await device.command(b"AT+%s%s" % (prefix, b"?" if prefix == b"CIPSTATE" else b""),
                                 (b"STATUS:3\r\n" if prefix == b"CIPSTATUS" else b"")
                                 + b"".join(status_line(prefix, mode, b"UDP", expected_peer[mode],
                                                        locals_[mode]) for mode in range(3))
                                 + OK)
        for mode, peer in ((0, first), (1, second), (2, third)):
            await send_data(device, b"reply %d" % mode, mode)
            assert await peer.receive() == (b"reply %d" % mode, locals_[mode])
    finally:
        for each in (first, second, third):
            each.close()


async def test_udp_listener_first_sender_becomes_peer(start_port: StartPort) -> None:
    """E16: remote 0.0.0.0 with a local port is a listener: CIPSTATUS shows
    no peer until the first datagram; its sender becomes the peer (mode 0
    keeps it) and a send without destination goes there."""
    device = await esp_port(start_port)
    local = await open_udp(device, 0, mode=0, remote=b"0.0.0.0")
    await device.command(b"AT+CIPSTATUS", b"STATUS:3\r\n"
                         + status_line(b"CIPSTATUS", 0, b"UDP", 0, local, remote_ip=b"0.0.0.0")
                         + OK)
    first, second = await UdpPeer().bind(), await UdpPeer().bind()
    try:
        await first.send_to(b"ping", local)
        await device.expect(b"\r\n+IPD,4:ping")
        await second.send_to(b"other", local)
        await device.expect(b"\r\n+IPD,5:other")
        await device.command(b"AT+CIPSTATUS", b"STATUS:3\r\n"
                             + status_line(b"CIPSTATUS", 0, b"UDP", first.port, local) + OK)
        await send_data(device, b"pong")
        assert await first.receive() == (b"pong", local)
    finally:
        first.close()
        second.close()


# -- E16, E17: SSL ----------------------------------------------------------------------------


async def ssl_port(start_port: StartPort, certs: Certificates, **settings: object) -> Device:
    return await esp_port(start_port, tls_ca_file=str(certs.ca_file), **settings)


async def test_ssl_link_against_s_server(start_port: StartPort, certs: Certificates,
                                         peers: list[trio.Process]) -> None:
    """E16/E17: "SSL" verified against the port's tls_ca_file; data both
    ways exactly; CIPSTATUS says "SSL"."""
    device = await ssl_port(start_port, certs, mux=True)
    port = free_port()
    server = await s_server(peers, port, *cert_options(certs))
    await device.command(b'AT+CIPSTART=1,"SSL","localhost",%d' % port, b"1,CONNECT\r\n" + OK)
    await send_data(device, b"over tls\n", 1)
    await server.expect(b"over tls\n")
    await server.send(b"back\n")
    await device.expect(b"\r\n+IPD,1,5:back\n")
    await device.send(b"AT+CIPSTATUS\r\n")
    await device.read_until(rb'STATUS:3\r\n\+CIPSTATUS:1,"SSL","127\.0\.0\.1",%d,\d+,0\r\n'
                            % port + OK.replace(b"\r\n", rb"\r\n"))


async def test_ssl_sni_is_the_host_or_cipsslcsni(start_port: StartPort, certs: Certificates,
                                                 peers: list[trio.Process]) -> None:
    """E17: SNI is the host name, or AT+CIPSSLCSNI's for that link. The
    server presents the certificate for `localhost` only to a client whose
    SNI is the name it was told (and aborts otherwise), so a verified
    connect proves which SNI was sent."""
    device = await ssl_port(start_port, certs, mux=True)
    by_host = free_port()
    await s_server(peers, by_host, "-cert", str(certs.other_cert_file),
                   "-key", str(certs.other_key_file), "-servername", "localhost",
                   "-cert2", str(certs.cert_file), "-key2", str(certs.key_file),
                   "-servername_fatal")
    await device.command(b'AT+CIPSTART=0,"SSL","localhost",%d' % by_host, b"0,CONNECT\r\n" + OK)
    by_setting = free_port()
    await s_server(peers, by_setting, "-cert", str(certs.other_cert_file),
                   "-key", str(certs.other_key_file), "-servername", "sni.example",
                   "-cert2", str(certs.cert_file), "-key2", str(certs.key_file),
                   "-servername_fatal")
    await device.command(b'AT+CIPSTART=1,"SSL","localhost",%d' % by_setting,
                         ERROR + b"1,CLOSED\r\n")
    await device.command(b"AT+CIPSSLCCONF=1,2,0,0", OK)  # E17: the MUX 1 form, per id
    await device.command(b"AT+CIPSSLCCONF?", b"".join(
        b"+CIPSSLCCONF:%d,%d,0,0\r\n" % (link_id, 2 if link_id == 1 else 0)
        for link_id in range(5)) + OK)
    await device.command(b'AT+CIPSSLCSNI=1,"sni.example"', OK)
    await device.command(b"AT+CIPSSLCSNI?", b'+CIPSSLCSNI:1,"sni.example"\r\n' + OK)
    await device.command(b'AT+CIPSTART=1,"SSL","localhost",%d' % by_setting,
                         b"1,CONNECT\r\n" + OK)


async def test_ssl_bad_certificate_fails_whatever_cipsslcconf_says(
        start_port: StartPort, certs: Certificates, peers: list[trio.Process]) -> None:
    """E16/E17: a certificate for another name, or from a CA the port does
    not trust, is `ERROR` then `CLOSED`; AT+CIPSSLCCONF is stored and
    reported but never turns verification off; a plain TCP peer fails too."""
    device = await ssl_port(start_port, certs)
    await device.command(b"AT+CIPSSLCCONF?", b"+CIPSSLCCONF:0,0,0,0\r\n" + OK)
    await device.command(b"AT+CIPSSLCCONF=0", OK)
    await device.command(b"AT+CIPSSLCCONF?", b"+CIPSSLCCONF:0,0,0,0\r\n" + OK)
    await device.command(b"AT+CIPSSLCCONF=3,1,1", OK)
    await device.command(b"AT+CIPSSLCCONF?", b"+CIPSSLCCONF:0,3,1,1\r\n" + OK)
    await device.command(b"AT+CIPSSLCCONF=4", ERROR)
    await device.command(b"AT+CIPSSLCCONF=0", OK)
    wrong_name = free_port()
    await s_server(peers, wrong_name, "-cert", str(certs.other_cert_file),
                   "-key", str(certs.other_key_file))
    await device.command(b'AT+CIPSTART="SSL","localhost",%d' % wrong_name, ERROR + CLOSED)
    untrusting = await esp_port(start_port)  # system CAs only
    trusted_elsewhere = free_port()
    await s_server(peers, trusted_elsewhere, *cert_options(certs))
    await untrusting.command(b"AT+CIPSSLCCONF=0", OK)
    await untrusting.command(b'AT+CIPSTART="SSL","127.0.0.1",%d' % trusted_elsewhere,
                             ERROR + CLOSED)
    await device.command(b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)
    await device.command(b'AT+CIPSTART="SSL","localhost",%d' % trusted_elsewhere,
                         b"CONNECT\r\n" + OK)


# -- E18 ---------------------------------------------------------------------------------------


async def test_cipstatus_numbers(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E18 (2.4): 1 before any join (0 with CWMODE 0 or 2), 2 joined with
    no link, 3 with a link, 4 after the last link closed, 5 after a quit;
    a new join resets 4 to 2."""
    device = await esp_port(start_port, joined=False)
    await device.command(b"AT+CIPSTATUS", b"STATUS:1\r\n" + OK)
    await device.command(b"AT+CWMODE=2", OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:0\r\n" + OK)
    await device.command(b"AT+CWMODE=3", OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:1\r\n" + OK)
    await device.command(b"AT+CWMODE=1", OK)
    await device.command(b'AT+CWJAP="lab","secret"', b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)
    peer = await open_tcp(device, tcp_server)
    remote, local = ports_of(peer)
    await device.command(b"AT+CIPSTATUS", b"STATUS:3\r\n"
                         + status_line(b"CIPSTATUS", 0, b"TCP", remote, local) + OK)
    await device.command(b"AT+CIPCLOSE", CLOSED + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:4\r\n" + OK)
    await device.command(b'AT+CWJAP="lab","secret"',
                         b"WIFI DISCONNECT\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:2\r\n" + OK)
    await device.command(b"AT+CWQAP", b"WIFI DISCONNECT\r\n" + OK)
    await device.command(b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)


async def test_cipstatus_and_cipstate_lines(start_port: StartPort,
                                            tcp_server: TcpServer) -> None:
    """E18: one line per link in id order with type, remote ip and port,
    local port and 0 for a client / 1 for a server's peer; CIPSTATE? gives
    the same lines, and just OK with no link; the link is listed right
    after CONNECT."""
    device = await esp_port(start_port, mux=True)
    await device.command(b"AT+CIPSTATE?", OK)
    client = await open_tcp(device, tcp_server, 3)
    udp_peer = await UdpPeer().bind()
    try:
        udp_local = await open_udp(device, udp_peer.port, 1, mode=0)
        server_port = free_port()
        await device.command(b"AT+CIPSERVER=1,%d" % server_port, OK)
        with trio.fail_after(WAIT):
            incoming = Peer(await trio.open_tcp_stream("127.0.0.1", server_port))
        await device.expect(b"0,CONNECT\r\n")
        client_remote, client_local = ports_of(client)
        lines = [
            (0, b"TCP", incoming.address[1], server_port, 1),
            (1, b"UDP", udp_peer.port, udp_local, 0),
            (3, b"TCP", client_remote, client_local, 0),
        ]
        await device.command(b"AT+CIPSTATE?", b"".join(
            status_line(b"CIPSTATE", *line) for line in lines) + OK)
        await device.command(b"AT+CIPSTATUS", b"STATUS:3\r\n" + b"".join(
            status_line(b"CIPSTATUS", *line) for line in lines) + OK)
    finally:
        udp_peer.close()


# -- E19 ---------------------------------------------------------------------------------------


async def test_cipclose_forms(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E19: `AT+CIPCLOSE` with MUX 0, `=<id>` with MUX 1, 5 closes all
    (each `<id>,CLOSED` in id order) then OK; the other form, a free id or
    an id out of range is ERROR; the peer sees the close."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port)
    await device.command(b"AT+CIPCLOSE", ERROR)
    peer = await open_tcp(device, tcp_server)
    await device.command(b"AT+CIPCLOSE=0", ERROR)
    await device.command(b"AT+CIPCLOSE", CLOSED + OK)
    await peer.expect_eof()
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b"AT+CIPCLOSE", ERROR)
    await device.command(b"AT+CIPCLOSE=2", ERROR)
    await device.command(b"AT+CIPCLOSE=6", ERROR)
    await device.command(b"AT+CIPCLOSE=5", OK)
    ends = {link_id: await open_tcp(device, tcp_server, link_id) for link_id in (4, 1, 2)}
    await device.command(b"AT+CIPCLOSE=2", b"2,CLOSED\r\n" + OK)
    await ends[2].expect_eof()
    held.append(await open_tcp(device, tcp_server, 0))
    await device.command(b"AT+CIPCLOSE=5", b"0,CLOSED\r\n1,CLOSED\r\n4,CLOSED\r\n" + OK)
    for link_id in (1, 4):
        await ends[link_id].expect_eof()
    await device.command(b"AT+CIPSTATUS", b"STATUS:4\r\n" + OK)


async def test_cipclosemode_abort_sends_rst(start_port: StartPort,
                                            tcp_server: TcpServer) -> None:
    """E19: AT+CIPCLOSEMODE=<id>,1 closes that link with a reset (the peer's
    read fails with ECONNRESET); mode 0 is the orderly close (EOF)."""
    device = await esp_port(start_port, mux=True)
    aborted = await open_tcp(device, tcp_server, 1)
    orderly = await open_tcp(device, tcp_server, 2)
    await device.command(b"AT+CIPCLOSEMODE=1,1", OK)
    await device.command(b"AT+CIPCLOSEMODE=2,0", OK)
    await device.command(b"AT+CIPCLOSEMODE=1,2", ERROR)
    await device.command(b"AT+CIPCLOSEMODE=1", ERROR)
    await device.command(b"AT+CIPCLOSE=1", b"1,CLOSED\r\n" + OK)
    await device.command(b"AT+CIPCLOSE=2", b"2,CLOSED\r\n" + OK)
    assert await read_end(aborted) == "reset"
    assert await read_end(orderly) == "eof"


async def read_end(peer: Peer) -> str:
    with trio.fail_after(WAIT):
        try:
            while data := await peer.stream.receive_some(65536):
                peer.pending += data
        except trio.BrokenResourceError as exc:
            assert isinstance(exc.__cause__, ConnectionResetError)
            return "reset"
    return "eof"


# -- E20 ---------------------------------------------------------------------------------------


async def test_peer_close_after_last_data(start_port: StartPort,
                                          tcp_server: TcpServer) -> None:
    """E20: a peer that sends and closes: its data frames, then `CLOSED`
    (MUX 1: `<id>,CLOSED`); the id is free again."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port)
    peer = await open_tcp(device, tcp_server)
    await peer.send(b"last words")
    await peer.aclose()
    await device.expect(b"\r\n+IPD,10:last words" + CLOSED)
    await device.command(b"AT+CIPSTATUS", b"STATUS:4\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    peer = await open_tcp(device, tcp_server, 2)
    await peer.send(b"x" * 3000)
    await peer.aclose()
    await device.expect(b"\r\n+IPD,2,1460:" + b"x" * 1460 + b"\r\n+IPD,2,1460:" + b"x" * 1460
                        + b"\r\n+IPD,2,80:" + b"x" * 80 + b"2,CLOSED\r\n")
    held.append(await open_tcp(device, tcp_server, 2))

