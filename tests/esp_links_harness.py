"""The host and peers of the ESP-AT link tests (esp-at.md E15-E27): an
ESP-AT port on a pty with echo off and the station joined, UDP peers on
127.0.0.1 (TLS peers are tests/tls_peers.py's, certificates conftest's)."""

from __future__ import annotations

import socket

import trio
from conftest import WAIT, Device, Peer, StartPort, TcpServer, free_port

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
SEND_OK = b"\r\nSEND OK\r\n"
SEND_FAIL = b"\r\nSEND FAIL\r\n"
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK
PROMPT = b"\r\nOK\r\n\r\n>"  # E21, profile 2.4


async def esp_port(start_port: StartPort, *, joined: bool = True, mux: bool = False,
                   **settings: object) -> Device:
    """An ESP-AT 2.4 port after `ready`, with ATE0 (E4), joined (E9) and in
    the CIPMUX mode asked for (E15). The station is the loopback interface,
    so a join works on any machine."""
    settings = {"interface": "lo", "ready_ms": 50, **settings}
    device = await start_port(dialect="esp-at", **settings)
    await device.expect(b"\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n" + OK)
    if joined:
        await device.command(b'AT+CWJAP="lab","secret"', JOINED)
    if mux:
        await device.command(b"AT+CIPMUX=1", OK)
    return device


def notice(word: bytes, link_id: int | None) -> bytes:
    """`CONNECT⏎` / `<id>,CONNECT⏎` (E16), `CLOSED⏎` / `<id>,CLOSED⏎` (E19)."""
    return (b"" if link_id is None else b"%d," % link_id) + word + b"\r\n"


async def open_tcp(device: Device, server: TcpServer, link_id: int | None = None,
                   host: bytes = b"127.0.0.1") -> Peer:
    """AT+CIPSTART to the test server; the accepted peer (E16)."""
    lead = b"" if link_id is None else b"%d," % link_id
    await device.send(b'AT+CIPSTART=%s"TCP","%s",%d\r\n' % (lead, host, server.port))
    peer = await server.accept()
    await device.expect(notice(b"CONNECT", link_id) + OK)
    return peer


async def open_udp(device: Device, remote_port: int, link_id: int | None = None,
                   mode: int | None = None, remote: bytes = b"127.0.0.1") -> int:
    """AT+CIPSTART "UDP" from a free local port, in `mode` if given; that
    port (E16). Remote 0.0.0.0 makes a listener."""
    local = free_port(socket.SOCK_DGRAM)
    lead = b"" if link_id is None else b"%d," % link_id
    tail = b"" if mode is None else b",%d" % mode
    await device.command(b'AT+CIPSTART=%s"UDP","%s",%d,%d%s' % (
        lead, remote, remote_port, local, tail), notice(b"CONNECT", link_id) + OK)
    return local


async def send_data(device: Device, data: bytes, link_id: int | None = None,
                    dest: bytes = b"") -> None:
    """AT+CIPSEND, the prompt, the bytes, `Recv`, SEND OK (E21)."""
    lead = b"" if link_id is None else b"%d," % link_id
    await device.command(b"AT+CIPSEND=%s%d%s" % (lead, len(data), dest), PROMPT)
    await device.send(data)
    await device.expect(b"\r\nRecv %d bytes\r\n" % len(data) + SEND_OK)


class UdpPeer:
    """A UDP socket on 127.0.0.1 that the test drives datagram by datagram."""

    def __init__(self) -> None:
        self.sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    async def bind(self) -> UdpPeer:
        await self.sock.bind(("127.0.0.1", 0))
        return self

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    async def send_to(self, data: bytes, port: int) -> None:
        await self.sock.sendto(data, ("127.0.0.1", port))

    async def receive(self, timeout: float = WAIT) -> tuple[bytes, int]:
        with trio.fail_after(timeout):
            data, source = await self.sock.recvfrom(65536)
        return data, source[1]

    def close(self) -> None:
        self.sock.close()
