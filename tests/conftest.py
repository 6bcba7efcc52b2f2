"""Shared test harness: the daemon on a real pty, peers on real sockets.

Every wait here is bounded (``trio.fail_after``) so a broken daemon fails a
test instead of hanging the suite. The host and the peer a test drives are
bridge/testing/trio_ends.py's ``Device`` and ``Peer``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trustme

from bridge import log as log_module
from bridge.config import Config, DaemonSettings, PortSettings
from bridge.daemon import serve

# before the toolkit is imported, so that its asserts fail with pytest's messages
pytest.register_assert_rewrite("bridge.testing")

from bridge.testing.trio_ends import WAIT, Device, Peer  # noqa: E402

log_module.configure(log_format="console", level=os.environ.get("AT_BRIDGE_TEST_LOG", "warning"))


def require_binary(name: str) -> str:
    """A peer binary the test needs: its absence fails the test, never skips it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; .ci/run installs it")
    return path


StartPort = Callable[..., Awaitable[Device]]


@pytest.fixture
async def start_port(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[StartPort]:
    """Start the daemon in-process on a new pty; returns the host's Device."""
    devices: list[Device] = []

    async def start(**settings: object) -> Device:
        link = tmp_path / f"uart{len(devices)}"
        settings = {"bind_address": "127.0.0.1", **settings}
        port = PortSettings(name=f"test{len(devices)}", device=f"pty:{link}",
                            **settings)  # type: ignore[arg-type]
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


@dataclass
class Certificates:
    ca_file: Path
    cert_file: Path  # issued for localhost and 127.0.0.1
    key_file: Path
    other_cert_file: Path  # issued for another name only
    other_key_file: Path


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    """A CA made by trustme and certificates it issued, as PEM files."""
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    other = ca.issue_cert("other.example")
    paths = Certificates(*(tmp_path / name for name in (
        "ca.pem", "server.pem", "server.key", "other.pem", "other.key")))
    ca.cert_pem.write_to_path(str(paths.ca_file))
    issued.cert_chain_pems[0].write_to_path(str(paths.cert_file))
    issued.private_key_pem.write_to_path(str(paths.key_file))
    other.cert_chain_pems[0].write_to_path(str(paths.other_cert_file))
    other.private_key_pem.write_to_path(str(paths.other_key_file))
    return paths


@pytest.fixture
async def peers() -> AsyncIterator[list[trio.Process]]:
    """The peer programs a test starts (tls_peers.start_peer), killed at its end."""
    started: list[trio.Process] = []
    yield started
    for process in started:
        process.kill()
        with trio.CancelScope(shield=True), trio.move_on_after(WAIT):
            await process.wait()
