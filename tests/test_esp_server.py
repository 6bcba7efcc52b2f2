"""ESP-AT server, profile 2.4 (E27): CIPSERVER over TCP and SSL,
CIPSERVERMAXCONN, the lowest free id, CIPSERVER? forms, stopping with and
without closing the peers, CIPSTO closing idle peers. Real peers on
127.0.0.1 (TCP sockets, openssl s_client); exact bytes."""

from __future__ import annotations

import random
from pathlib import Path

import trio
from conftest import WAIT, Certificates, Device, Peer, StartPort, TcpServer, connect, free_port
from esp_links_harness import ERROR, OK, esp_port, open_tcp, send_data
from tls_peers import s_client


async def accept_peer(device: Device, port: int, link_id: int) -> Peer:
    """A peer connects to the host's server and is announced `<id>,CONNECT`."""
    peer = await connect(port)
    await device.expect(b"%d,CONNECT\r\n" % link_id)
    return peer


async def test_server_needs_mux_and_is_one(start_port: StartPort) -> None:
    """E27: CIPSERVER=1 needs CIPMUX=1; a second CIPSERVER=1 is ERROR; =0
    with no server is OK; CIPSERVER? shows 0, or 1 with port, type, CA."""
    device = await esp_port(start_port)
    port = free_port()
    await device.command(b"AT+CIPSERVER=1,%d" % port, ERROR)
    await device.command(b"AT+CIPSERVER?", b"+CIPSERVER:0\r\n" + OK)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b"AT+CIPSERVER=0", OK)
    await device.command(b"AT+CIPSERVER=1,%d" % port, OK)
    await device.command(b"AT+CIPSERVER?", b'+CIPSERVER:1,%d,"TCP",0\r\n' % port + OK)
    await device.command(b"AT+CIPSERVER=1,%d" % free_port(), ERROR)
    await device.command(b"AT+CIPSERVER=1", ERROR)
    await device.command(b"AT+CIPSERVER=2", ERROR)
    await device.command(b"AT+CIPSERVER=1,%d,\"UDP\"" % free_port(), ERROR)
    await device.command(b"AT+CIPSERVER=0", OK)
    await device.command(b"AT+CIPSERVER?", b"+CIPSERVER:0\r\n" + OK)


async def test_server_default_port(start_port: StartPort) -> None:
    """E27: the port defaults to 333. The port listens on a loopback
    address of its own, so that no other test's port 333 is in the way."""
    address = ".".join(["127", *(str(random.randrange(1, 255)) for _ in range(3))])
    device = await esp_port(start_port, mux=True, bind_address=address)
    await device.command(b"AT+CIPSERVER=1", OK)
    await device.command(b"AT+CIPSERVER?", b'+CIPSERVER:1,333,"TCP",0\r\n' + OK)
    with trio.fail_after(WAIT):
        peer = Peer(await trio.open_tcp_stream(address, 333))
    await device.expect(b"0,CONNECT\r\n")
    await peer.send(b"333")
    await device.expect(b"\r\n+IPD,0,3:333")


async def test_server_port_in_use_is_error(start_port: StartPort,
                                           tcp_server: TcpServer) -> None:
    """E27: a port something else listens on: ERROR, and no server runs."""
    device = await esp_port(start_port, mux=True)
    await device.command(b"AT+CIPSERVER=1,%d" % tcp_server.port, ERROR)
    await device.command(b"AT+CIPSERVER?", b"+CIPSERVER:0\r\n" + OK)


async def test_server_peers_take_the_lowest_free_id(start_port: StartPort,
                                                    tcp_server: TcpServer) -> None:
    """E27: an incoming peer takes the lowest id no link holds and is
    announced `<id>,CONNECT`; its data comes as `+IPD,<id>,...`, and
    CIPSEND=<id> reaches it; its close is `<id>,CLOSED`; a freed id is
    taken again."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port, mux=True)
    held.append(await open_tcp(device, tcp_server, 0))
    held.append(await open_tcp(device, tcp_server, 2))
    port = free_port()
    await device.command(b"AT+CIPSERVER=1,%d" % port, OK)
    first = await accept_peer(device, port, 1)
    second = await accept_peer(device, port, 3)
    await first.send(b"from one")
    await device.expect(b"\r\n+IPD,1,8:from one")
    await send_data(device, b"to three", 3)
    await second.expect(b"to three")
    await first.aclose()
    await device.expect(b"1,CLOSED\r\n")
    held.append(await accept_peer(device, port, 1))
    held.append(await accept_peer(device, port, 4))
    await device.send(b"AT+CIPSTATUS\r\n")
    await device.read_until(
        rb'STATUS:3\r\n\+CIPSTATUS:0,"TCP","127\.0\.0\.1",%d,\d+,0\r\n'
        rb'\+CIPSTATUS:1,"TCP","127\.0\.0\.1",\d+,%d,1\r\n'
        rb'\+CIPSTATUS:2,"TCP","127\.0\.0\.1",%d,\d+,0\r\n'
        rb'\+CIPSTATUS:3,"TCP","127\.0\.0\.1",\d+,%d,1\r\n'
        rb'\+CIPSTATUS:4,"TCP","127\.0\.0\.1",\d+,%d,1\r\n\r\nOK\r\n'
        % (tcp_server.port, port, tcp_server.port, port, port))
    refused = await connect(port)  # no id is free
    await refused.expect_eof()
    await device.expect_silence(0.2)


async def test_server_max_conn_refuses_the_excess(start_port: StartPort) -> None:
    """E27: beyond AT+CIPSERVERMAXCONN peers the server refuses (closes) a
    new peer without a notice; when one leaves, a new one is taken; 1-5
    only."""
    held: list[Peer] = []  # peers whose sockets must stay open
    device = await esp_port(start_port, mux=True)
    await device.command(b"AT+CIPSERVERMAXCONN?", b"+CIPSERVERMAXCONN:5\r\n" + OK)
    await device.command(b"AT+CIPSERVERMAXCONN=0", ERROR)
    await device.command(b"AT+CIPSERVERMAXCONN=6", ERROR)
    await device.command(b"AT+CIPSERVERMAXCONN=2", OK)
    await device.command(b"AT+CIPSERVERMAXCONN?", b"+CIPSERVERMAXCONN:2\r\n" + OK)
    port = free_port()
    await device.command(b"AT+CIPSERVER=1,%d" % port, OK)
    first = await accept_peer(device, port, 0)
    held.append(await accept_peer(device, port, 1))
    excess = await connect(port)
    await excess.expect_eof()
    await device.expect_silence(0.2)
    await first.aclose()
    await device.expect(b"0,CLOSED\r\n")
    held.append(await accept_peer(device, port, 0))


async def test_server_stop_keeps_or_closes_peers(start_port: StartPort) -> None:
    """E27: AT+CIPSERVER=0 stops listening and keeps the peers (they still
    talk both ways); AT+CIPSERVER=0,1 closes them too, each with its
    `<id>,CLOSED` before OK."""
    device = await esp_port(start_port, mux=True)
    port = free_port()
    await device.command(b"AT+CIPSERVER=1,%d" % port, OK)
    kept = await accept_peer(device, port, 0)
    await device.command(b"AT+CIPSERVER=0", OK)
    with trio.fail_after(WAIT):
        try:
            await trio.open_tcp_stream("127.0.0.1", port)
            raise AssertionError("the server still listens")
        except OSError:
            pass
    await kept.send(b"still")
    await device.expect(b"\r\n+IPD,0,5:still")
    await send_data(device, b"here", 0)
    await kept.expect(b"here")
    await device.command(b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
    await device.command(b"AT+CIPSERVER=1,%d" % port, OK)
    first = await accept_peer(device, port, 0)
    second = await accept_peer(device, port, 1)
    await device.command(b"AT+CIPSERVER=0,1", b"0,CLOSED\r\n1,CLOSED\r\n" + OK)
    await first.expect_eof()
    await second.expect_eof()
    await device.command(b"AT+CIPSTATUS", b"STATUS:4\r\n" + OK)
    await device.command(b"AT+CIPMUX=0", OK)


async def test_cipsto_closes_idle_peers(start_port: StartPort, tcp_server: TcpServer) -> None:
    """E27: AT+CIPSTO=<s> closes a server's peer idle that long with
    `<id>,CLOSED`; a peer that keeps talking stays, and a link the host
    opened is never closed for idling; 0-7200, default 180."""
    device = await esp_port(start_port, mux=True)
    await device.command(b"AT+CIPSTO?", b"+CIPSTO:180\r\n" + OK)
    await device.command(b"AT+CIPSTO=7201", ERROR)
    await device.command(b"AT+CIPSTO=1", OK)
    await device.command(b"AT+CIPSTO?", b"+CIPSTO:1\r\n" + OK)
    client = await open_tcp(device, tcp_server, 4)
    port = free_port()
    await device.command(b"AT+CIPSERVER=1,%d" % port, OK)
    idle = await accept_peer(device, port, 0)
    talker = await accept_peer(device, port, 1)
    dots = 10

    async def talk() -> None:
        for _ in range(dots):
            await talker.send(b".")
            await trio.sleep(0.3)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(talk)
        closed = await device.read_until(rb"((?:\r\n\+IPD,1,1:\.)*)0,CLOSED\r\n", timeout=4)
        assert 0.9 <= trio.current_time() - started <= 3.5
    await device.expect(b"\r\n+IPD,1,1:." * (dots - closed[1].count(b".")))
    await idle.expect_eof()
    await send_data(device, b"alive", 1)
    await talker.expect(b"alive")
    await send_data(device, b"alive", 4)
    await client.expect(b"alive")


# -- SSL server -------------------------------------------------------------------------


async def test_ssl_server_with_configured_certificate(
        start_port: StartPort, certs: Certificates, peers: list[trio.Process]) -> None:
    """E27: CIPSERVER=1,<port>,"SSL",1 serves TLS with the port's
    tls_server_cert_file; a peer that verifies it is announced after its
    handshake; data both ways exactly; CIPSTATUS says "SSL"; CIPSERVER?
    says SSL and the CA flag."""
    device = await esp_port(start_port, mux=True, tls_server_cert_file=str(certs.cert_file),
                            tls_server_key_file=str(certs.key_file))
    port = free_port()
    await device.command(b'AT+CIPSERVER=1,%d,"SSL",1' % port, OK)
    await device.command(b"AT+CIPSERVER?", b'+CIPSERVER:1,%d,"SSL",1\r\n' % port + OK)
    client = await s_client(peers, port, "-CAfile", str(certs.ca_file), "-verify_return_error",
                            "-verify_hostname", "localhost")
    await device.expect(b"0,CONNECT\r\n")
    await client.send(b"secret\n")
    await device.expect(b"\r\n+IPD,0,7:secret\n")
    await send_data(device, b"reply\n", 0)
    await client.expect(b"reply\n")
    await device.send(b"AT+CIPSTATUS\r\n")
    await device.read_until(rb'STATUS:3\r\n\+CIPSTATUS:0,"SSL","127\.0\.0\.1",\d+,%d,1\r\n'
                            rb"\r\nOK\r\n" % port)


async def test_ssl_server_with_the_local_ca(start_port: StartPort, peers: list[trio.Process],
                                            tmp_path: Path) -> None:
    """E27: without a configured certificate the SSL server uses the local
    CA's certificate; a peer that fails the handshake takes no id."""
    device = await esp_port(start_port, mux=True)
    port = free_port()
    await device.command(b'AT+CIPSERVER=1,%d,"SSL"' % port, OK)
    ca_file = tmp_path / "state" / "tls" / "local-ca.pem"
    assert ca_file.exists()
    plain = await connect(port)
    await plain.send(b"not a handshake\r\n")
    await plain.expect_eof()
    await device.expect_silence(0.2)
    client = await s_client(peers, port, "-CAfile", str(ca_file), "-verify_return_error",
                            "-verify_hostname", "localhost")
    await device.expect(b"0,CONNECT\r\n")
    await client.send(b"hi\n")
    await device.expect(b"\r\n+IPD,0,3:hi\n")
