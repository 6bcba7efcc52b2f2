"""DTLS server links (the DTLS form of NOTES C6; C4, C7-C9, C11, C15, T2,
T3): first the link on its own, then through the CIP dialect, against
openssl s_client -dtls1_2 and socat's OPENSSL-DTLS-CLIENT on loopback."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from conftest import WAIT, Certificates, Device, StartPort, free_port
from OpenSSL import SSL
from tls_peers import (
    PSK_IDENTITY,
    PSK_KEY,
    Process,
    listening,
    s_client,
    start_peer,
)

from bridge.links.dtls import DtlsLink, DtlsServerLink, listen_dtls
from bridge.links.inbound import Address
from bridge.links.link import Link, Proto, Role
from bridge.net.psk import Psk
from bridge.net.tls import ClientCertificates, client_context, server_context

OK = b"OK\r\n"
# socat's DTLS client cuts its ClientHello into 256-byte records unless its
# cipher list is short, and a server that keeps no state before the cookie
# exchange (trio, like OpenSSL's DTLSv1_listen) cannot take a fragmented one
SOCAT_CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"


def trusting(ca_file: Path) -> tuple[str, ...]:
    return ("-dtls1_2", "-CAfile", str(ca_file), "-verify_return_error")


def with_psk(key: bytes = PSK_KEY, identity: bytes = PSK_IDENTITY) -> tuple[str, ...]:
    return ("-dtls1_2", "-psk", key.hex(), "-psk_identity", identity.decode())


async def socat_client(peers: list[trio.Process], port: int, ca_file: Path, *,
                       echo: bool = False) -> Process:
    """socat's DTLS client: stdin to the server and back to stdout, or an echo."""
    address = (f"OPENSSL-DTLS-CLIENT:127.0.0.1:{port},cafile={ca_file},"
               f"cipher={SOCAT_CIPHER}")
    return await start_peer(peers, ["socat", address, "PIPE"] if echo
                            else ["socat", "-", address], 0)


def certificate_context(certs: Certificates) -> SSL.Context:
    return server_context(str(certs.cert_file), str(certs.key_file), datagram=True, psk=None)


# -- the link on its own ---------------------------------------------------------------

async def run_link(link: Link) -> None:
    """As the port runs a link: its receive loop, for as long as it is open."""
    with link.scope:
        await link.receive_loop()


@dataclass
class Served:
    """A DTLS server link and what it did: the peers it admitted, in order,
    and the clients it turned away."""

    server: DtlsServerLink
    admitted: trio.MemoryReceiveChannel[DtlsLink]
    refused: list[tuple[Address, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.local[1]

    async def next_peer(self) -> DtlsLink:
        with trio.fail_after(WAIT):
            return await self.admitted.receive()

    def nobody_admitted(self) -> bool:
        try:
            self.admitted.receive_nowait()
        except trio.WouldBlock:
            return True
        return False

    async def refusal(self) -> str:
        """Why the next client was turned away."""
        with trio.fail_after(WAIT):
            while not self.refused:
                await trio.sleep(0.02)
        return self.refused.pop(0)[1]


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(nursery: trio.Nursery) -> AsyncIterator[Serve]:
    servers: list[DtlsServerLink] = []

    async def start(context: SSL.Context, *, handshake_timeout: float = WAIT,
                    idle_timeout: float = 60.0) -> Served:
        server = await listen_dtls("127.0.0.1", 0, context, handshake_timeout=handshake_timeout,
                                   idle_timeout=idle_timeout, inbound_capacity=1 << 16)
        announce, admitted = trio.open_memory_channel[DtlsLink](8)
        served = Served(server, admitted)

        async def accept(peer: DtlsLink) -> None:  # as a dialect does: run it, tell the host
            nursery.start_soon(run_link, peer)
            await announce.send(peer)

        server.on_accept = accept
        server.on_refuse = lambda address, why: served.refused.append((address, why))
        nursery.start_soon(run_link, server)
        servers.append(server)
        return served

    yield start
    for server in servers:
        for seed in server.seeds:
            seed.close()
        server.close()


async def next_datagram(peer: DtlsLink) -> bytes:
    inbound = peer.inbound
    assert inbound is not None
    with trio.fail_after(WAIT):
        await inbound.wait_until(lambda: bool(inbound) or inbound.ended is not None)
    taken = inbound.take(1 << 16)
    assert taken is not None, f"the peer ended ({inbound.ended}) instead"
    assert taken[1] == peer.remote
    return taken[0]


async def end_of(peer: DtlsLink) -> str | None:
    """How the peer ended, once all it sent has been taken."""
    inbound = peer.inbound
    assert inbound is not None
    with trio.fail_after(WAIT):
        await inbound.wait_until(lambda: inbound.ended is not None and not inbound)
    return inbound.ended


async def test_link_admits_a_peer_after_its_handshake_until_close_notify(
        serve: Serve, certs: Certificates, peers: list[trio.Process]) -> None:
    """A client verified against the server's certificate becomes the held
    peer (a seed); datagrams both ways exactly; its close_notify ends it, and
    once it is closed the next client (socat) is admitted."""
    served = await serve(certificate_context(certs))
    client = await s_client(peers, served.port, *trusting(certs.ca_file), close_on_eof=True)
    peer = await served.next_peer()
    assert (peer.role, peer.proto, served.server.peer) == (Role.SEED, Proto.DTLS, peer)
    assert peer.remote[0] == "127.0.0.1" and peer.local == served.server.local
    await client.send(b"hello\n")
    assert await next_datagram(peer) == b"hello\n"
    every_byte = bytes(range(256))
    await peer.send(every_byte)
    await client.expect(every_byte)
    await client.close_input()
    assert await end_of(peer) == "closed"
    assert served.server.peer is peer  # held until its link is closed (the host is told first)
    peer.close()
    second = await socat_client(peers, served.port, certs.ca_file)
    peer = await served.next_peer()
    await second.send(b"next\n")
    assert await next_datagram(peer) == b"next\n"
    await peer.send(b"\r\nback\x00")
    await second.expect(b"\r\nback\x00")
    assert served.refused == []


async def test_link_with_psk_and_a_bad_key(serve: Serve, peers: list[trio.Process]) -> None:
    """T3: DTLS 1.2 with a pre-shared key. A wrong key or identity never
    completes its handshake: turned away when it times out, nobody held."""
    context = server_context("", "", datagram=True, psk=Psk(PSK_KEY, PSK_IDENTITY))
    served = await serve(context, handshake_timeout=1.0)
    await s_client(peers, served.port, *with_psk(key=b"wrong-key"))
    assert await served.refusal() == "handshake timeout"
    await s_client(peers, served.port, *with_psk(identity=b"somebody-else"))
    assert await served.refusal() == "handshake timeout"
    assert served.server.peer is None and served.nobody_admitted()
    client = await s_client(peers, served.port, *with_psk())
    peer = await served.next_peer()
    await client.send(b"psk\n")
    assert await next_datagram(peer) == b"psk\n"
    await peer.send(b"ok\n")
    await client.expect(b"ok\n")


async def test_link_turns_away_other_clients_while_one_is_held(
        serve: Serve, certs: Certificates, peers: list[trio.Process]) -> None:
    """C6: one peer at a time. Another client (openssl, socat) is turned away
    before its handshake, and the held peer goes on as before."""
    served = await serve(certificate_context(certs))
    first = await s_client(peers, served.port, *trusting(certs.ca_file))
    peer = await served.next_peer()
    await s_client(peers, served.port, *trusting(certs.ca_file))
    assert await served.refusal() == "link busy"
    await socat_client(peers, served.port, certs.ca_file)
    assert await served.refusal() == "link busy"
    for round_trip in range(3):
        await first.send(b"up %d\n" % round_trip)
        assert await next_datagram(peer) == b"up %d\n" % round_trip
        await peer.send(b"down %d\n" % round_trip)
        await first.expect(b"down %d\n" % round_trip)
    assert served.server.peer is peer and served.nobody_admitted()
    assert peer.inbound is not None and peer.inbound.ended is None


async def test_link_peer_gone_silent_ends_after_the_idle_timeout(
        serve: Serve, certs: Certificates, peers: list[trio.Process]) -> None:
    """A peer that vanishes (killed: no close_notify) ends after idle_timeout
    of silence, not before while it speaks; then the next client is served."""
    served = await serve(certificate_context(certs), idle_timeout=0.5)
    client = await s_client(peers, served.port, *trusting(certs.ca_file))
    peer = await served.next_peer()
    for _ in range(4):  # 1.2 s in all, never 0.5 s of silence
        await trio.sleep(0.3)
        await client.send(b"tick\n")
        assert await next_datagram(peer) == b"tick\n"
    client.process.kill()
    silent_since = trio.current_time()
    assert await end_of(peer) == "idle"
    assert trio.current_time() - silent_since >= 0.4
    peer.close()
    client = await s_client(peers, served.port, *trusting(certs.ca_file))
    peer = await served.next_peer()
    await client.send(b"new\n")
    assert await next_datagram(peer) == b"new\n"


def stray_datagrams(seed: int) -> list[bytes]:
    """Noise, a ClientHello without a cookie, and records that look like the
    association's but are not."""
    rng = random.Random(seed)
    noise = [rng.randbytes(size) for size in (0, 1, 13, 25, 100, 1500)]
    hello_header = bytes([22, 0xFE, 0xFD]) + bytes(10) + b"\x00\x40" + bytes([1])
    return noise + [
        hello_header + rng.randbytes(63),                 # a ClientHello, garbled
        bytes([23, 0xFE, 0xFD, 0, 1]) + rng.randbytes(60),  # application data, epoch 1
        bytes([22, 0xFE, 0xFD, 0, 0]) + rng.randbytes(40),  # a handshake record, epoch 0
        bytes([21, 0xFE, 0xFD, 0, 1]) + bytes(8) + b"\x00\x02\x02\x28",  # a fatal alert, unsealed
    ]


async def test_link_stray_datagrams_leave_the_held_peer_alone(
        serve: Serve, certs: Certificates) -> None:
    """Datagrams from elsewhere, and forged ones from the held peer's own
    address, neither end nor disturb it, and admit nobody."""
    served = await serve(certificate_context(certs))
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    with trio.DTLSEndpoint(sock) as endpoint, \
            trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        context = client_context("127.0.0.1", datagram=True, psk=None,
                                 certificates=ClientCertificates(ca_file=str(certs.ca_file)))
        channel = endpoint.connect(("127.0.0.1", served.port), context)
        with trio.fail_after(WAIT):
            await channel.do_handshake()
        peer = await served.next_peer()
        for round_trip, stray in enumerate(stray_datagrams(7) * 3):
            await stranger.sendto(stray, ("127.0.0.1", served.port))
            await sock.sendto(stray, ("127.0.0.1", served.port))
            await channel.send(b"still here %d" % round_trip)
            assert await next_datagram(peer) == b"still here %d" % round_trip
            await peer.send(b"and here %d" % round_trip)
            with trio.fail_after(WAIT):
                assert await channel.receive() == b"and here %d" % round_trip
        assert served.server.peer is peer and served.nobody_admitted()
        assert served.refused == []


# -- through the CIP dialect ---------------------------------------------------------------

async def cip_port(start_port: StartPort, **settings: object) -> Device:
    device = await start_port(dialect="cip", **settings)
    await device.expect(b"\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    return device


def start_server(port: int, link_id: int | None = None) -> bytes:
    """C4: AT+CIPSTART=[<id>,]"DTLS",<remote host>,<remote port>,<keepalive>,
    <local port>,<local ip> (the remote pair is not used by a server)."""
    head = b"" if link_id is None else b"%d," % link_id
    return b'AT+CIPSTART=%s"DTLS","127.0.0.1",1,0,%d,"127.0.0.1"' % (head, port)


async def status(device: Device) -> bytes:
    await device.send(b"AT+CIPSTATUS?\r\n")
    return (await device.read_until(rb"(\+BIPSTATUS:[^\r]*\r\n)+")).group(0)


async def exchange(device: Device, peer: Process, up: bytes, down: bytes,
                   link_id: int | None = None) -> None:
    """C7, C9: ``up`` from the peer arrives as one +IPD; ``down`` goes to it
    by AT+CIPSEND."""
    await peer.send(up)
    await device.expect(b"\r\n+IPD(%d),%d:" % (link_id or 0, len(up)) + up)
    head = b"" if link_id is None else b"%d," % link_id
    await device.command(b"AT+CIPSEND=%s%d" % (head, len(down)), b"\r\n>")
    await device.send(down)
    await peer.expect(down)
    await device.expect(b"SEND OK\r\n")


async def test_cip_dtls_server_with_the_port_certificate(
        start_port: StartPort, certs: Certificates, peers: list[trio.Process]) -> None:
    """C6 for DTLS: OK and listening; CONNECT when a peer's handshake
    completes, +IPD per datagram, CIPSEND to it, CLOSED on its close_notify,
    then the next peer (socat); CIPSTATUS type 3, server 1 (C11); CIPCLOSE
    frees the port."""
    device = await cip_port(start_port, tls_server_cert_file=str(certs.cert_file),
                            tls_server_key_file=str(certs.key_file))
    await device.command(b"AT+CIPMUX=1", OK)
    port = free_port(socket.SOCK_DGRAM)
    await device.command(start_server(port, 1), OK)
    assert await status(device) == b"+BIPSTATUS:3,0.0.0.0,0,%d,1\r\n" % port
    await device.command(b"AT+CIPSEND=1,4", b"CMDRSP:ERROR\r\n")  # no peer yet
    client = await s_client(peers, port, *trusting(certs.ca_file), close_on_eof=True)
    await device.expect(b"1,CONNECT\r\n")
    await exchange(device, client, b"\x00hi\r\n", b"\xffyo\n", link_id=1)
    line = await status(device)
    assert line.startswith(b"+BIPSTATUS:3,127.0.0.1,") and line.endswith(b",%d,1\r\n" % port)
    await client.close_input()
    await device.expect(b"1,CLOSED\r\n")
    assert await status(device) == b"+BIPSTATUS:3,0.0.0.0,0,%d,1\r\n" % port
    second = await socat_client(peers, port, certs.ca_file)
    await device.expect(b"1,CONNECT\r\n")
    await exchange(device, second, b"socat\n", b"ok\n", link_id=1)
    await device.command(b"AT+CIPCLOSE=1", b"1,CLOSED\r\nOK\r\n")
    assert not listening(port, udp=True)
    await device.command(b"AT+CIPSTATUS?", b"+BIPSTATUS:ALL disconnect\r\n")


async def test_cip_dtls_server_single_link_with_the_local_ca(
        start_port: StartPort, peers: list[trio.Process], tmp_path: Path) -> None:
    """T2: without a configured certificate the local CA's is used; the
    single-link form (CIPMUX=0) announces CONNECT without an id."""
    device = await cip_port(start_port)
    port = free_port(socket.SOCK_DGRAM)
    await device.command(start_server(port), OK)
    ca_file = tmp_path / "state" / "tls" / "local-ca.pem"
    client = await s_client(peers, port, *trusting(ca_file))
    await device.expect(b"CONNECT\r\n")
    await exchange(device, client, b"x", b"abc")


async def test_cip_dtls_server_with_psk(start_port: StartPort,
                                        peers: list[trio.Process]) -> None:
    """C15: a server link opened after AT+CIPSSLCPSK uses the key; a client
    with a wrong key gets no CONNECT and the link goes on listening."""
    device = await cip_port(start_port, tls_handshake_timeout=1.0)
    await device.command(b'AT+CIPSSLCPSK="%s","%s"' % (PSK_KEY, PSK_IDENTITY), OK)
    port = free_port(socket.SOCK_DGRAM)
    await device.command(start_server(port), OK)
    await s_client(peers, port, *with_psk(key=b"not-the-key"))
    await device.expect_silence(1.5)
    client = await s_client(peers, port, *with_psk())
    await device.expect(b"CONNECT\r\n")
    await exchange(device, client, b"psk\n", b"ok\n")


async def test_cip_dtls_server_holds_one_peer_until_it_goes_silent(
        start_port: StartPort, certs: Certificates, peers: list[trio.Process]) -> None:
    """C6: a second client while one is held gets no CONNECT, nor do stray
    datagrams print anything; the held peer works on. A peer that vanishes is
    CLOSED after dtls_idle_timeout, and the next client is served."""
    device = await cip_port(start_port, tls_server_cert_file=str(certs.cert_file),
                            tls_server_key_file=str(certs.key_file), dtls_idle_timeout=1.0)
    await device.command(b"AT+CIPMUX=1", OK)
    port = free_port(socket.SOCK_DGRAM)
    await device.command(start_server(port, 2), OK)
    first = await s_client(peers, port, *trusting(certs.ca_file))
    await device.expect(b"2,CONNECT\r\n")
    second = await s_client(peers, port, *trusting(certs.ca_file))
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        for stray in stray_datagrams(11):
            await stranger.sendto(stray, ("127.0.0.1", port))
    await device.expect_silence(0.5)
    await exchange(device, first, b"held\n", b"ok\n", link_id=2)
    second.process.kill()  # or it may come in when the first goes
    first.process.kill()
    await device.expect_silence(0.7)
    await device.expect(b"2,CLOSED\r\n")
    third = await s_client(peers, port, *trusting(certs.ca_file))
    await device.expect(b"2,CONNECT\r\n")
    await exchange(device, third, b"third\n", b"3\n", link_id=2)


async def test_cip_dtls_server_one_mib_of_datagrams(
        start_port: StartPort, certs: Certificates, peers: list[trio.Process]) -> None:
    """1 MiB each way as 1024 datagrams of 1024 random bytes: each CIPSEND
    echoed by socat as one +IPD, every byte checked (one datagram in flight,
    so loopback never drops one)."""
    device = await cip_port(start_port, tls_server_cert_file=str(certs.cert_file),
                            tls_server_key_file=str(certs.key_file))
    port = free_port(socket.SOCK_DGRAM)
    await device.command(start_server(port), OK)
    await socat_client(peers, port, certs.ca_file, echo=True)
    await device.expect(b"CONNECT\r\n")
    data = random.Random(18).randbytes(1 << 20)
    for offset in range(0, len(data), 1024):
        chunk = data[offset:offset + 1024]
        await device.command(b"AT+CIPSEND=1024", b"\r\n>")
        await device.send(chunk)
        echo = b"\r\n+IPD(0),1024:" + chunk
        # SEND OK and the echo race: either may reach the UART first
        assert await device.read_exactly(len(b"SEND OK\r\n") + len(echo)) in (
            b"SEND OK\r\n" + echo, echo + b"SEND OK\r\n")
