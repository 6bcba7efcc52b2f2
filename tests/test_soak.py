"""Never lose a byte: a few MB through every mode, SHA-256 compared on both
sides, with line noise in between (bench/soak.py runs the long version)."""

from __future__ import annotations

import random

from conftest import StartPort, TcpServer

from bridge.testing.soak_harness import Tally, cip_framed, noise, skt_framed, transparent

SIZE = 1 << 20  # per mode and direction


async def test_skt_modes_account_for_every_byte(start_port: StartPort,
                                                tcp_server: TcpServer) -> None:
    """S5/S8 framed, then S9 transparent, with noise before each (S13)."""
    rng = random.Random(2026)
    tally = Tally()
    device = await start_port(dialect="skt")
    await noise(device, 0.3, rng)
    await device.expect_silence(0.3)  # S13: noise is never answered
    await device.command(b"AT+SKTCLIENT=0,127.0.0.1,%d" % tcp_server.port,
                         b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
    peer = await tcp_server.accept()
    await skt_framed(device, peer, SIZE, rng, tally)
    await noise(device, 0.3, rng)
    await device.expect_silence(0.3)
    await device.command(b"AT+SKTTT=1", b"\r\n+SKTTT:OK\r\n")
    await transparent(device, peer, SIZE, rng, tally, "skt transparent")
    assert tally.total == 4 * SIZE


async def test_cip_modes_account_for_every_byte(start_port: StartPort,
                                                tcp_server: TcpServer) -> None:
    """C9/C7 framed, then C10 passthrough, with noise before (C1 ERRORs)."""
    rng = random.Random(2027)
    tally = Tally()
    device = await start_port(dialect="cip")
    await device.expect(b"\r\nready\r\n")
    await noise(device, 0.3, rng)
    await device.send(b"ATE0\r\n")
    await device.skip_until(b"ATE0\r\n\r\nOK\r\n")
    await device.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % tcp_server.port,
                         b"CONNECT\r\nOK\r\n")
    peer = await tcp_server.accept()
    await cip_framed(device, peer, SIZE, rng, tally)
    await device.command(b"AT+CIPMODE=1", b"OK\r\n")
    await device.command(b"AT+CIPSEND", b"\r\n>")
    await transparent(device, peer, SIZE, rng, tally, "cip passthrough")
    assert tally.total == 4 * SIZE
