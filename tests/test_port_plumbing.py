"""A Port over trio.testing memory streams, on a MockClock: its plumbing
without a pty (the end-to-end tests use real ptys and sockets).

NOTES items: G2 (whole replies, in order), G4 (one command at a time, the
rest queued), G5 (the escape's guard, judged on the port's clock), C1
(CIP's greeting and echo), S13 (SKT's silence).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from bridge.config import PortSettings
from bridge.port import Port


class Host:
    """The host's end of the memory UART."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def expect(self, expected: bytes) -> None:
        with trio.fail_after(60):  # mock seconds
            while len(self.pending) < len(expected):
                self.pending += await self.stream.receive_some(65536)
        got = bytes(self.pending[:len(expected)])
        del self.pending[:len(expected)]
        assert got == expected

    async def expect_silence(self, seconds: float = 1.0) -> None:
        with trio.move_on_after(seconds):
            self.pending += await self.stream.receive_some(65536)
        assert self.pending == b""


async def run_port(nursery: trio.Nursery, tmp_path: Path, uart: trio.abc.Stream,
                   **settings: object) -> Port:
    port = Port(PortSettings(name="plumbing", device="pty:", bind_address="127.0.0.1",
                             **settings), state_dir=tmp_path)  # type: ignore[arg-type]
    nursery.start_soon(port.run, uart)
    return port


@pytest.fixture
async def cip_host(nursery: trio.Nursery, tmp_path: Path,
                   autojump_clock: trio.testing.MockClock) -> AsyncIterator[Host]:
    uart, host = trio.testing.memory_stream_pair()
    await run_port(nursery, tmp_path, uart, dialect="cip")
    device = Host(host)
    await device.expect(b"\r\nready\r\n")
    yield device


async def test_cip_greeting_echo_and_replies(cip_host: Host) -> None:
    """C1: echo of the line, then the reply; unknown commands are ERROR."""
    await cip_host.send(b"AT\r\n")
    await cip_host.expect(b"AT\r\n\r\nOK\r\n")
    await cip_host.send(b"AT+NOPE\r\nATE0\r\nAT+CIPMUX?\r\n")
    await cip_host.expect(b"AT+NOPE\r\n\r\nERROR\r\nATE0\r\n\r\nOK\r\n+CIPMUX:0\r\nOK\r\n")


async def test_skt_is_silent_on_unknown_commands(nursery: trio.Nursery, tmp_path: Path,
                                                 autojump_clock: trio.testing.MockClock) -> None:
    """S13: nothing for an unknown command; the next one is answered."""
    uart, host_stream = trio.testing.memory_stream_pair()
    await run_port(nursery, tmp_path, uart, dialect="skt")
    host = Host(host_stream)
    await host.send(b"AT+NOPE\r\n")
    await host.expect_silence()
    await host.send(b"AT+SKTSTATE\r\n")
    await host.expect(b"\r\n+SKTSTATE:OK\r\n")


async def test_replies_wait_for_a_host_that_does_not_read(
        nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Backpressure: over a lockstep stream, a host that stops reading stops
    the port reading its commands; once it reads, every reply comes whole
    and in order (G2, G4), none lost."""
    uart, host_stream = trio.testing.lockstep_stream_pair()
    await run_port(nursery, tmp_path, uart, dialect="cip", uart_buffer=1024)
    host = Host(host_stream)
    await host.expect(b"\r\nready\r\n")
    lines = b"".join(b"AT+CIPMUX?\r\n" for _ in range(2000))
    sent = 0

    async def write_commands() -> None:
        nonlocal sent
        for offset in range(0, len(lines), 1200):
            await host.send(lines[offset:offset + 1200])
            sent = min(len(lines), offset + 1200)

    async with trio.open_nursery() as writers:
        writers.start_soon(write_commands)
        await trio.testing.wait_all_tasks_blocked()
        assert 0 < sent < len(lines)  # the port stopped taking commands
        for _ in range(2000):
            await host.expect(b"AT+CIPMUX?\r\n\r\n+CIPMUX:0\r\nOK\r\n")
    assert sent == len(lines)


async def test_passthrough_escape_is_judged_on_the_port_clock(
        cip_host: Host, autojump_clock: trio.testing.MockClock) -> None:
    """G5 on a mock clock: `+++` alone between guards leaves passthrough;
    with a byte after it inside the guard it is data."""
    udp = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    await cip_host.send(b"ATE0\r\n")
    await cip_host.expect(b"ATE0\r\n\r\nOK\r\n")
    await cip_host.send(b'AT+CIPSTART="UDP","127.0.0.1",%d\r\n' % port)
    await cip_host.expect(b"CONNECT\r\nOK\r\n")
    await cip_host.send(b"AT+CIPMODE=1\r\n")
    await cip_host.expect(b"OK\r\n")
    await cip_host.send(b"AT+CIPSEND\r\n")
    await cip_host.expect(b"\r\n>")
    await trio.sleep(1)
    await cip_host.send(b"+++x")  # one burst: data (G5)
    await trio.sleep(1)
    assert (await udp.recv(100)) == b"+++x"
    await cip_host.send(b"+++")
    await cip_host.expect(b"+QUIT\r\n")
    await cip_host.send(b"AT+CIPMODE?\r\n")
    await cip_host.expect(b"+CIPMODE:1\r\nOK\r\n")
    udp.close()
