"""ESP-AT and real host software on a pseudo-terminal."""

from __future__ import annotations

import trio
from conftest import StartPort, TcpServer

from bridge.output import HOST_READ_WAIT


async def test_a_frame_after_a_reply_waits_until_the_host_read_it(
        start_port: StartPort, tcp_server: TcpServer) -> None:
    """E26 on a pty: the first unsolicited frame after a command's final
    reply waits, beyond urc_gap_ms, until the host has read the reply (what
    adafruit_espatcontrol needs when the scheduler runs it late: it reads
    SEND OK in chunks and drops a read that ends with anything else), and
    no longer than HOST_READ_WAIT for a host that does not read."""
    device = await start_port(dialect="esp-at")
    await device.expect(b"\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    await device.command(b'AT+CWJAP="net","pw"', b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")
    await device.send(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await peer.send(b"late")
    await trio.sleep(0.2)  # ten gaps of 20 ms, the host reading nothing
    await device.expect(b"CONNECT\r\n\r\nOK\r\n")
    assert device.pending == b""  # one read took all there was: the reply alone
    await device.expect(b"\r\n+IPD,4:late")

    await device.send(b"AT\r\n")
    await trio.sleep(0.1)
    await peer.send(b"unread")
    await trio.sleep(HOST_READ_WAIT + 0.3)
    await device.expect(b"\r\nOK\r\n")
    assert device.pending == b"\r\n+IPD,6:unread"  # written without waiting for the host
