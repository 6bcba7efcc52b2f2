"""Faults, each a test: peers that reset or stall, a UART that vanishes
mid-transfer, a local port already in use, and thousands of connect/close
cycles with nothing leaked."""

from __future__ import annotations

import gc
import os
import socket
import struct
from pathlib import Path

import trio
from conftest import (
    WAIT,
    Device,
    Peer,
    StartPort,
    TcpServer,
    connect,
    free_port,
    plug_serial_device,
    unplug,
)
from test_cli import running

from bridge.testing.procstat import memory_kib

OK = b"OK\r\n"


def reset(peer: Peer) -> None:
    """Close with SO_LINGER 0: the daemon's side gets a TCP RST."""
    sock = peer.stream.socket
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def quiet_cip(start_port: StartPort, **settings: object) -> Device:
    device = await start_port(dialect="cip", **settings)
    await device.expect(b"\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    return device


async def test_peer_reset_mid_transfer(start_port: StartPort, tcp_server: TcpServer) -> None:
    """A reset while the host streams to it (transparent) and while it streams
    to the host (auto-receive): the host is told in the dialect's words, no
    crash, the port keeps working (S7, S9, C8)."""
    skt = await start_port(dialect="skt")
    await skt.command(b"AT+SKTCLIENT=0,127.0.0.1,%d" % tcp_server.port,
                      b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
    peer = await tcp_server.accept()
    await skt.command(b"AT+SKTTT=1", b"\r\n+SKTTT:OK\r\n")
    await trio.sleep(0.05)
    await skt.send(os.urandom(100_000))
    reset(peer)
    await skt.skip_until(b"\r\n#\r\n")  # S9: back to command mode
    await trio.sleep(0.05)  # what was still streaming for the link was dropped till a pause
    await skt.command(b"AT+SKTREAD=1,10", b"\r\n+SKTREAD:ERROR:8\r\n")  # a reset, not a close
    await skt.command(b"AT+SKTDEL=1", b"\r\n+SKTDEL:OK\r\n")

    await skt.command(b"AT+SKTCLIENT=0,127.0.0.1,%d" % tcp_server.port,
                      b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
    peer = await tcp_server.accept()
    await skt.command(b"AT+SKTRECVCFG=1", b"\r\n+SKTRECVCFG:OK\r\n")
    await peer.send(b"x" * 10_000)
    await skt.read_until(rb"(\+SKTREAD:OK,\d+,1:x+\r\n)+")
    reset(peer)
    await skt.read_until(rb"(\+SKTREAD:OK,\d+,1:x+\r\n)*\+SKTREAD:ERROR:8,1\r\n")

    cip = await quiet_cip(start_port)
    await cip.send(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await cip.expect(b"CONNECT\r\nOK\r\n")
    await peer.send(b"y" * 10_000)
    reset(peer)
    await cip.read_until(rb"(\r\n\+IPD\(0\),\d+:y+)*CLOSED\r\n")
    await cip.command(b"AT+CIPSTATUS?", b"+BIPSTATUS:ALL disconnect\r\n")


async def test_tls_peers_that_stall_in_the_handshake(start_port: StartPort,
                                                     tcp_server: TcpServer) -> None:
    """A TLS server that never answers the hello fails the client within the
    connect timeout (SKT 18, CIP ERROR); a client that never sends its hello
    is dropped after tls_handshake_timeout, while the port answers at once."""
    skt = await start_port(dialect="skt", connect_timeout=0.5, tls_handshake_timeout=0.5)
    started = trio.current_time()
    await skt.command(b"AT+SKTCLIENT=2,127.0.0.1,%d" % tcp_server.port,
                      b"\r\n+SKTCLIENT:ERROR:18\r\n")
    assert trio.current_time() - started < 0.5 + 1
    silent_server_side = await tcp_server.accept()  # it never spoke
    port = free_port()
    await skt.command(b"AT+SKTSERVER=2,%d" % port, b"\r\n+SKTSERVER:OK\r\n+SKTSERVER:con_id=1\r\n")
    staller = await connect(port)
    await skt.send(b"AT+SKTSTATE\r\n")  # the handshake does not hold up commands
    await skt.read_until(rb"con_id:1,server,ssl,address:127\.0\.0\.1,port:%d,socket:\d+\r\n"
                         rb"\r\n\+SKTSTATE:OK\r\n" % port)
    await staller.expect_eof(timeout=0.5 + 1)  # and takes no con_id (S12)
    await skt.expect_silence(0.1)
    cip = await quiet_cip(start_port, connect_timeout=0.5)
    await cip.command(b'AT+CIPSTART="TLS","127.0.0.1",%d' % tcp_server.port, b"ERROR\r\n")
    await silent_server_side.aclose()


async def test_local_port_in_use(start_port: StartPort) -> None:
    """SKT error 7 (S3) and CIP ERROR for a server port already taken."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        skt = await start_port(dialect="skt")
        await skt.command(b"AT+SKTSERVER=0,%d" % port, b"\r\n+SKTSERVER:ERROR:7\r\n")
        cip = await quiet_cip(start_port)
        await cip.command(b'AT+CIPSTART="TCP","127.0.0.1",1,0,%d,"127.0.0.1"' % port,
                          b"ERROR\r\n")
        await cip.command(b"AT", OK)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_ten_thousand_connect_close_cycles_leak_nothing(start_port: StartPort,
                                                              tcp_server: TcpServer) -> None:
    """10,000 AT+CIPSTART/AT+CIPCLOSE cycles: afterwards as many fds and
    Trio tasks as before."""
    cip = await quiet_cip(start_port)
    connect_line = b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port
    reply = b"CONNECT\r\nOK\r\nCLOSED\r\nOK\r\n"

    async def cycle() -> None:
        await cip.send(connect_line + b"AT+CIPCLOSE\r\n")
        peer = await tcp_server.accept()
        await cip.expect(reply)
        await peer.expect_eof()
        await peer.aclose()

    await cycle()  # let every lazily made resource exist before counting
    await trio.sleep(0.1)  # and the closed link's tasks finish, as below
    gc.collect()  # sockets other tests dropped close now, not while we count
    fds, tasks = open_fds(), trio.lowlevel.current_statistics().tasks_living
    with trio.fail_after(120):
        for _ in range(10_000):
            await cycle()
    await trio.sleep(0.1)
    gc.collect()
    assert open_fds() == fds
    assert trio.lowlevel.current_statistics().tasks_living == tasks


async def test_stalled_peer_keeps_daemon_memory_flat(tmp_path: Path,
                                                     tcp_server: TcpServer) -> None:
    """A peer that stops reading: the daemon's memory stays flat while the
    host pushes far more than every buffer holds; nothing is dropped when the
    peer resumes."""
    link = tmp_path / "uart"
    async with running(tmp_path, "--pty", str(link)) as bridge:
        assert await bridge.line() == str(link)
        pid = bridge.process.pid
        device = Device(str(link))
        await device.command(b"AT+SKTCLIENT=0,127.0.0.1,%d" % tcp_server.port,
                             b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
        peer = await tcp_server.accept()
        peer.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        await device.command(b"AT+SKTTT=1", b"\r\n+SKTTT:OK\r\n")
        await trio.sleep(0.05)
        before = memory_kib(pid)
        data = os.urandom(64 << 20)
        sent = 0
        peak = before
        while sent < len(data):
            with trio.move_on_after(0.5) as stalled:
                await device.stream.send_all(data[sent:sent + 4096])
            if stalled.cancelled_caught:
                break
            sent += 4096
            if sent % (1 << 20) == 0:
                peak = max(peak, memory_kib(pid))
        peak = max(peak, memory_kib(pid))
        assert sent < len(data), "the UART was never back-pressured"
        # bounded by uart_buffer and one link buffer, not by what was sent
        assert peak - before < 16 * 1024, (before, peak, sent)
        received = await peer.read_exactly(sent, timeout=60)
        assert received == data[:sent]
        assert await bridge.stop() == 0
        await device.aclose()
        await peer.aclose()


async def test_uart_vanishes_mid_transfer(nursery: trio.Nursery, tmp_path: Path,
                                          tcp_server: TcpServer) -> None:
    """The serial device disappears while a link streams to it: the link is
    closed, the daemon survives, and the port answers once it is back."""
    from bridge.config import Config, DaemonSettings, PortSettings
    from bridge.daemon import serve

    device_path, host_path = tmp_path / "ttyUSB0", tmp_path / "host"
    pair = await plug_serial_device(device_path, host_path)
    try:
        config = Config(daemon=DaemonSettings(state_dir=str(tmp_path / "state")),
                        port=[PortSettings(name="usb", device=str(device_path),
                                           bind_address="127.0.0.1")])
        await nursery.start(serve, config)
        host = Device(str(host_path))
        await host.command(b"AT+SKTCLIENT=0,127.0.0.1,%d" % tcp_server.port,
                           b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
        peer = await tcp_server.accept()
        await host.command(b"AT+SKTRECVCFG=1", b"\r\n+SKTRECVCFG:OK\r\n")

        async def stream_to_host() -> None:
            try:
                while True:
                    await peer.stream.send_all(b"z" * 65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        nursery.start_soon(stream_to_host)
        await host.read_until(rb"\+SKTREAD:OK,")
        unplug(pair)
        await host.aclose()
        await peer.expect_eof(timeout=WAIT)
        pair = await plug_serial_device(device_path, host_path)
        host = Device(str(host_path))
        with trio.fail_after(3):
            while True:
                await host.send(b"AT+SKTSTATE\r\n")
                with trio.move_on_after(0.3):
                    await host.read_until(rb".*?\r\n\+SKTSTATE:OK\r\n")
                    break
        await host.aclose()
    finally:
        unplug(pair)


async def test_line_noise_keeps_memory_flat_and_backpressures(tmp_path: Path) -> None:
    """Noise as fast as the pty takes it: the port reads no faster than it
    answers (ERROR per garbage line, C1), its memory stays flat, and it
    answers at once when the noise stops."""
    import random

    from bridge.testing.soak_harness import noise

    link = tmp_path / "uart"
    async with running(tmp_path, "--pty", str(link), "--dialect", "cip") as bridge:
        assert await bridge.line() == str(link)
        device = Device(str(link))
        await device.expect(b"\r\nready\r\n")
        before = memory_kib(bridge.process.pid)
        sent = await noise(device, 3.0, random.Random(5))
        grown = memory_kib(bridge.process.pid) - before
        assert grown < 8 * 1024, (sent, grown)
        await device.send(b"ATE0\r\n")
        # what is queued is bounded (uart_buffer bytes): it is answered quickly
        await device.skip_until(b"ATE0\r\n\r\nOK\r\n", timeout=1.5)
        await device.command(b"AT", OK)
        assert await bridge.stop() == 0
        await device.aclose()


async def test_state_dir_that_cannot_be_written(start_port: StartPort, tmp_path: Path) -> None:
    """An unwritable state directory is an operational failure, not a
    silence: SKT's SSL server cannot make its local CA (error 24, as for any
    TLS set-up failure, S12) and CIP's persisted settings still apply (C16:
    the command answers OK; the log says the save failed)."""
    (tmp_path / "state").write_text("a file where the state directory should be")
    skt = await start_port(dialect="skt")
    await skt.command(b"AT+SKTSERVER=2,%d" % free_port(), b"\r\n+SKTSERVER:ERROR:24\r\n")
    cip = await start_port(dialect="cip")
    await cip.expect(b"\r\nready\r\n")
    await cip.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    await cip.command(b'AT+CIPDNS=1,"127.0.0.1"', b"OK\r\n")
    await cip.command(b"AT+CIPDNS?", b'+CIPDNS:1,"127.0.0.1"\r\nOK\r\n')
