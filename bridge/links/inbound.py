"""Bytes a link received that the host has not taken yet, bounded.

A link's receive loop waits in ``put`` while the buffer is full, so a slow
host stops socket reads and the peer feels TCP backpressure; nothing is
dropped. Datagram links keep each datagram's boundary and source.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import trio

Address = tuple[str, int]
REFILL = 16384  # the least room worth a socket read (smaller buffers: a quarter)


class Inbound:
    def __init__(self, capacity: int, *, datagrams: bool) -> None:
        self.capacity = capacity
        self.datagrams = datagrams
        self.size = 0
        self.ended: str | None = None  # why no more data will come: "closed", "reset", "idle"
        self.arrivals = 0  # chunks put so far: a passive-mode notice follows an arrival
        self._chunks: deque[tuple[bytes, Address | None]] = deque()
        self._changed = trio.lowlevel.ParkingLot()

    def __bool__(self) -> bool:
        return bool(self._chunks)

    async def put(self, data: bytes, source: Address | None = None) -> None:
        while self.size >= self.capacity:
            await self._changed.park()
        self._chunks.append((data, source))
        self.size += len(data)
        self.arrivals += 1
        self.wake()

    async def room(self) -> int:
        """Bytes the buffer takes now, once it has room for a quarter of its
        capacity: a stream reads no more than that from its socket, so it
        never holds more than its capacity, and a buffer the host keeps
        nearly full is refilled in a few large reads, not many small ones."""
        refill = max(1, min(self.capacity // 4, REFILL))
        while self.capacity - self.size < refill:
            await self._changed.park()
        return self.capacity - self.size

    def take(self, limit: int) -> tuple[bytes, Address | None] | None:
        """Up to ``limit`` bytes in arrival order; one datagram (or its first
        part, the rest kept with its source) for datagram links."""
        if not self._chunks:
            return None
        data, source = self._chunks.popleft()
        if len(data) > limit:
            self._chunks.appendleft((data[limit:], source))
            data = data[:limit]
        elif not self.datagrams:
            parts = [data]
            taken = len(data)
            while self._chunks and taken < limit:
                more, _ = self._chunks.popleft()
                if taken + len(more) > limit:
                    self._chunks.appendleft((more[limit - taken :], None))
                    more = more[: limit - taken]
                parts.append(more)
                taken += len(more)
            data = b"".join(parts)
        self.size -= len(data)
        self.wake()
        return data, source

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        self.wake()

    def wake(self) -> None:
        """Something a waiter may care about changed (data, space, host mode)."""
        self._changed.unpark_all()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.park()
