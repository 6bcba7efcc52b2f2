"""Byte accounting and line-noise soak, shared by tests/test_soak.py (a few
MB) and bench/soak.py (up to 1 GB): every mode moves random data both ways
and the SHA-256 of what each side sent is compared with what the other side
received."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from inspect import isawaitable

import trio

from .trio_ends import Device, Peer

CHUNK = 2048


@dataclass
class Tally:
    """Bytes moved and digests compared, per mode and direction."""

    moved: dict[str, int] = field(default_factory=dict)

    def add(self, mode: str, size: int, digest_sent: bytes, digest_received: bytes) -> None:
        assert digest_sent == digest_received, f"{mode}: SHA-256 differs"
        self.moved[mode] = self.moved.get(mode, 0) + size

    @property
    def total(self) -> int:
        return sum(self.moved.values())


class RandomSource:
    """Random blocks adding up to ``size`` bytes, hashed as they are made."""

    def __init__(self, rng: random.Random, size: int, block: int = CHUNK) -> None:
        self.rng, self.size, self.block = rng, size, block
        self.sha = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        left = self.size
        while left:
            data = self.rng.randbytes(min(self.block, left))
            self.sha.update(data)
            left -= len(data)
            yield data

    def digest(self) -> bytes:
        return self.sha.digest()


async def sink(read, size: int) -> bytes:
    """SHA-256 of exactly ``size`` bytes read with ``read(n)``."""
    digest = hashlib.sha256()
    left = size
    while left:
        data = await read(min(left, 65536))
        digest.update(data)
        left -= len(data)
    return digest.digest()


async def skt_framed(device: Device, peer: Peer, size: int, rng: random.Random,
                     tally: Tally, con_id: int = 1) -> None:
    """SKTSEND blocks uplink, then auto-receive (+SKTREAD frames) downlink."""
    await send_counted(device, peer, size, rng, tally, "skt framed up",
                       lambda data: b"AT+SKTSEND=%d,%d:" % (len(data), con_id) + data,
                       b"\r\n+SKTSEND:OK\r\n")
    await device.command(b"AT+SKTRECVCFG=1", b"\r\n+SKTRECVCFG:OK\r\n")
    await receive_frames(device, peer, size, rng, tally, "skt framed down",
                         rb"\+SKTREAD:OK,(\d+),%d:" % con_id, b"\r\n")
    await device.command(b"AT+SKTRECVCFG=0", b"\r\n+SKTRECVCFG:OK\r\n")


async def cip_framed(device: Device, peer: Peer, size: int, rng: random.Random,
                     tally: Tally) -> None:
    """CIPSEND blocks uplink (prompt, data, SEND OK), then +IPD downlink."""

    async def command(data: bytes) -> bytes:
        await device.command(b"AT+CIPSEND=%d" % len(data), b"\r\n>")
        return data

    await send_counted(device, peer, size, rng, tally, "cip framed up", command,
                       b"SEND OK\r\n")
    await receive_frames(device, peer, size, rng, tally, "cip framed down",
                         rb"\r\n\+IPD\(0\),(\d+):", b"")


async def send_counted(device: Device, peer: Peer, size: int, rng: random.Random,
                       tally: Tally, mode: str, framed, reply: bytes) -> None:
    """Counted sends one after another; the peer hashes what arrives."""
    received: dict[str, bytes] = {}

    async def collect() -> None:
        received["digest"] = await sink(peer.read_exactly, size)

    source = RandomSource(rng, size)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect)
        for data in source:
            message = framed(data)
            if isawaitable(message):
                message = await message
            await device.send(message)
            await device.expect(reply)
    tally.add(mode, size, source.digest(), received["digest"])


async def receive_frames(device: Device, peer: Peer, size: int, rng: random.Random,
                         tally: Tally, mode: str, header: bytes, trailer: bytes) -> None:
    """The peer streams; the host reassembles the dialect's data frames."""
    source, got = RandomSource(rng, size, 65536), hashlib.sha256()
    total = 0

    async def send_all() -> None:
        for data in source:
            await peer.send(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_all)
        while total < size:
            match = await device.read_until(header)
            data = await device.read_exactly(int(match[1]))
            await device.expect(trailer)
            got.update(data)
            total += len(data)
    tally.add(mode, size, source.digest(), got.digest())


async def transparent(device: Device, peer: Peer, size: int, rng: random.Random,
                      tally: Tally, mode: str) -> None:
    """Raw both ways at once (SKTTT or CIP passthrough, already entered)."""
    result: dict[str, bytes] = {}

    up, down = RandomSource(rng, size, 4096), RandomSource(rng, size, 65536)

    async def uplink() -> None:
        for data in up:
            await device.send(data)

    async def uplink_received() -> None:
        result["up received"] = await sink(peer.read_exactly, size)

    async def downlink() -> None:
        for data in down:
            await peer.send(data)

    async def downlink_received() -> None:
        result["down received"] = await sink(device.read_exactly, size)

    async with trio.open_nursery() as nursery:
        for task in (uplink, uplink_received, downlink, downlink_received):
            nursery.start_soon(task)
    tally.add(f"{mode} up", size, up.digest(), result["up received"])
    tally.add(f"{mode} down", size, down.digest(), result["down received"])


async def noise(device: Device, seconds: float, rng: random.Random) -> int:
    """Random bytes (never forming "AT+", so no command can run by chance)
    for ``seconds``, while whatever the port answers is read and dropped
    (CIP echoes and answers ERROR; a host that stopped reading would stall
    the port, as it should). Returns how many bytes were sent."""
    sent = 0

    async def drain() -> None:
        while True:
            await device.stream.receive_some(65536)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain)
        with trio.move_on_after(seconds):
            while True:
                chunk = rng.randbytes(rng.randrange(1, 600)).replace(b"AT+", b"at+")
                await device.send(chunk)
                sent += len(chunk)
        await device.send(b"\r\n")
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    device.pending.clear()
    return sent
