"""Shared test harness: the daemon on a real pty, peers on real sockets.

Every wait here is bounded (``trio.fail_after``) so a broken daemon fails a
test instead of hanging the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import termios
import tty
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio

from bridge import log as log_module
from bridge.config import Config, DaemonSettings, PortSettings
from bridge.daemon import serve

log_module.configure(log_format="console", level=os.environ.get("AT_BRIDGE_TEST_LOG", "warning"))

WAIT = 5.0  # seconds any single expected reply may take on a loaded CI machine


def require_binary(name: str) -> str:
    """A peer binary the test needs: its absence fails the test, never skips it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; .ci/run installs it")
    return path


class Device:
    """The serial device's end of the pty: what the legacy host sends and sees."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd, termios.TCSANOW)  # TCSAFLUSH would drop what already came
        self.stream = trio.lowlevel.FdStream(fd)
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        with trio.fail_after(WAIT):
            await self.stream.send_all(data)

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        assert data, "the daemon closed the pty"
        self.pending += data

    async def read_exactly(self, size: int, timeout: float = WAIT) -> bytes:
        with trio.fail_after(timeout):
            while len(self.pending) < size:
                await self._fill()
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    async def expect(self, expected: bytes, timeout: float = WAIT) -> None:
        """The next bytes from the daemon are exactly ``expected``."""
        got = await self.read_exactly(len(expected), timeout)
        assert got == expected

    async def read_until(self, pattern: bytes, timeout: float = WAIT) -> re.Match[bytes]:
        """Read until ``pattern`` (a regex) matches at the start of what came."""
        regex = re.compile(pattern, re.DOTALL)
        with trio.fail_after(timeout):
            while True:
                match = regex.match(bytes(self.pending))  # a copy: pending changes
                if match:
                    del self.pending[: match.end()]
                    return match
                await self._fill()

    async def skip_until(self, marker: bytes, timeout: float = WAIT) -> None:
        """Drop everything up to and including ``marker`` (after line noise)."""
        with trio.fail_after(timeout):
            while (index := self.pending.find(marker)) < 0:
                del self.pending[:max(0, len(self.pending) - len(marker))]
                await self._fill()
        del self.pending[:index + len(marker)]

    async def expect_silence(self, duration: float = 0.3) -> None:
        with trio.move_on_after(duration):
            await self._fill()
        assert self.pending == b"", f"unexpected bytes: {bytes(self.pending)!r}"

    async def send_in_chunks(self, data: bytes, chunk: int = 4000) -> None:
        """As a UART host writes: in pieces, never all at once."""
        for offset in range(0, len(data), chunk):
            await self.send(data[offset:offset + chunk])

    async def command(self, line: bytes, reply: bytes) -> None:
        await self.send(line + b"\r\n")
        await self.expect(reply)

    async def aclose(self) -> None:
        await self.stream.aclose()


StartPort = Callable[..., Awaitable[Device]]


@pytest.fixture
async def start_port(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[StartPort]:
    """Start the daemon in-process on a new pty; returns the host's Device."""
    devices: list[Device] = []

    async def start(**settings: object) -> Device:
        link = tmp_path / f"uart{len(devices)}"
        port = PortSettings(name=f"test{len(devices)}", device=f"pty:{link}",
                            bind_address="127.0.0.1", **settings)  # type: ignore[arg-type]
        daemon = DaemonSettings(state_dir=str(tmp_path / "state"))
        await nursery.start(serve, Config(daemon=daemon, port=[port]))
        device = Device(str(link))
        devices.append(device)
        return device

    yield start
    for device in devices:
        await device.aclose()


@pytest.fixture
async def skt(start_port: StartPort) -> Device:
    return await start_port(dialect="skt")


@pytest.fixture
async def cip(start_port: StartPort) -> Device:
    """A CIP port whose greeting has been read (NOTES C1)."""
    device = await start_port(dialect="cip")
    await device.expect(b"\r\nready\r\n")
    return device


class Peer:
    """A TCP peer on 127.0.0.1 that the test drives byte by byte."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        with trio.fail_after(WAIT):
            await self.stream.send_all(data)

    async def read_exactly(self, size: int, timeout: float = WAIT) -> bytes:
        with trio.fail_after(timeout):
            while len(self.pending) < size:
                data = await self.stream.receive_some(65536)
                assert data, f"peer closed after {bytes(self.pending)!r}"
                self.pending += data
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    async def expect(self, expected: bytes, timeout: float = WAIT) -> None:
        assert await self.read_exactly(len(expected), timeout) == expected

    async def expect_eof(self, timeout: float = WAIT) -> None:
        with trio.fail_after(timeout):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return
                if not data:
                    return
                self.pending += data

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.stream.socket.getsockname()[:2]
        return host, port

    async def aclose(self) -> None:
        await self.stream.aclose()


class TcpServer:
    """A listening socket on 127.0.0.1; ``accept()`` gives the next Peer."""

    def __init__(self, listener: trio.SocketListener) -> None:
        self.listener = listener
        self.port = listener.socket.getsockname()[1]

    async def accept(self, timeout: float = WAIT) -> Peer:
        with trio.fail_after(timeout):
            return Peer(await self.listener.accept())


@pytest.fixture
async def tcp_server() -> AsyncIterator[TcpServer]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    server = TcpServer(listeners[0])
    yield server
    await server.listener.aclose()


async def exchange(device: Device, peer: Peer, up: bytes, down: bytes) -> None:
    """Transparent data both ways at once; each side gets exactly the other's."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(device.send_in_chunks, up)
        nursery.start_soon(peer.send, down)
        assert await peer.read_exactly(len(up), timeout=60) == up
        assert await device.read_exactly(len(down), timeout=60) == down


async def connect(port: int) -> Peer:
    with trio.fail_after(WAIT):
        return Peer(await trio.open_tcp_stream("127.0.0.1", port))


async def wait_for_path(path: Path) -> None:
    with trio.fail_after(WAIT):
        while not path.exists():
            await trio.sleep(0.02)


async def plug_serial_device(device: Path, host: Path) -> subprocess.Popen[bytes]:
    """A serial device and its host end, made by socat as a USB adapter would
    give them; kill the process to unplug it."""
    process = subprocess.Popen([require_binary("socat"), f"PTY,raw,echo=0,link={device}",
                                f"PTY,raw,echo=0,link={host}"])
    await wait_for_path(device)
    await wait_for_path(host)
    return process


def unplug(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


def free_port(kind: int = trio.socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now (bound and released)."""
    import socket

    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def open_skt_client(device: Device, server: TcpServer, con_id: int = 1) -> Peer:
    """AT+SKTCLIENT to a test server; returns the accepted peer (NOTES S3)."""
    await device.send(b"AT+SKTCLIENT=0,127.0.0.1,%d\r\n" % server.port)
    peer = await server.accept()
    await device.expect(b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=%d\r\n" % con_id)
    return peer


