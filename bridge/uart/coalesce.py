"""Read everything a device already holds in one receive.

A pty or tty hands out at most 4 KiB per read(2) while more is already
waiting; reading on until the fd would block makes one trip through the port
(and its scheduler hops) carry up to 64 KiB instead of 4 KiB.
"""

from __future__ import annotations

import os

import trio


class CoalescingStream(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream, fd: int) -> None:
        self.inner = inner
        self.fd = fd

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        limit = max_bytes or 65536
        data = await self.inner.receive_some(limit)
        parts = [data]
        size = len(data)
        while data and size < limit:
            try:
                data = os.read(self.fd, limit - size)
            except OSError:
                break  # would block, or a failure the next receive reports
            parts.append(data)
            size += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()
