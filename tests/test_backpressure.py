"""Backpressure both ways (ARCHITECTURE.md): a side that stops reading stalls
the other side after a bounded amount, nothing is dropped, and everything
flows again, exactly, when it resumes."""

from __future__ import annotations

import hashlib
import os

import trio
from conftest import Device, TcpServer, open_skt_client

LIMIT = 64 << 20  # far more than every buffer on the way put together
STALL = 0.5  # seconds without progress that count as "stalled"


async def write_until_stalled(send, data: bytes, chunk: int = 65536) -> int:
    """Send chunks until a send makes no progress for STALL seconds; return the bytes sent."""
    sent = 0
    while sent < len(data):
        with trio.move_on_after(STALL) as scope:
            await send(data[sent:sent + chunk])
        if scope.cancelled_caught:
            return sent
        sent += chunk
    return sent


async def enter_transparent(device: Device) -> None:
    await device.command(b"AT+SKTTT=1", b"\r\n+SKTTT:OK\r\n")
    await trio.sleep(0.05)


async def test_slow_peer_stalls_the_uart(skt: Device, tcp_server: TcpServer) -> None:
    """A peer that stops reading stops the daemon reading the UART; nothing is lost."""
    peer = await open_skt_client(skt, tcp_server)
    await enter_transparent(skt)
    data = os.urandom(LIMIT)
    # a send cancelled part-way may have written part of its chunk: the peer
    # then gets that part too, so compare against what it reads
    sent = await write_until_stalled(skt.stream.send_all, data, chunk=4096)
    assert sent < LIMIT, "the UART side was never back-pressured"
    received = await peer.read_exactly(sent, timeout=30)
    assert received == data[:sent]


async def test_slow_uart_stalls_the_socket(skt: Device, tcp_server: TcpServer) -> None:
    """A host that stops reading the UART stops the daemon reading the socket."""
    peer = await open_skt_client(skt, tcp_server)
    await enter_transparent(skt)
    data = os.urandom(LIMIT)
    sent = await write_until_stalled(peer.stream.send_all, data)
    assert sent < LIMIT, "the socket side was never back-pressured"
    received = await skt.read_exactly(sent, timeout=30)
    assert hashlib.sha256(received).digest() == hashlib.sha256(data[:sent]).digest()


async def test_unread_data_waits_for_sktread(skt: Device, tcp_server: TcpServer) -> None:
    """Without auto-receive, a link holds at most link_buffer and then stops
    reading its socket; every byte is still there for AT+SKTREAD, in order."""
    peer = await open_skt_client(skt, tcp_server)
    data = os.urandom(LIMIT)
    sent = await write_until_stalled(peer.stream.send_all, data)
    assert sent < LIMIT, "the link buffered without bound"
    received = bytearray()
    with trio.fail_after(60):
        while len(received) < sent:
            await skt.send(b"AT+SKTREAD=1,4096\r\n")
            header = await skt.read_until(rb"\+SKTREAD:OK,(\d+),1:")
            size = int(header[1])
            received += await skt.read_exactly(size)
            await skt.expect(b"\r\n")
    assert bytes(received) == data[:sent]
