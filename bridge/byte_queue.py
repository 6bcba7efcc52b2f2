"""A queue bounded by the bytes it holds, not by how many items.

The port's two queues carry chunks from a few bytes (a command) to 64 KiB (a
pty read, a transparent-mode frame); a count bound would let a port hold
64 KiB times the count. ``put`` waits while the queue holds ``limit`` bytes
or more, so it holds at most ``limit`` plus one item. Items that carry no
bytes (link notices) count as zero and never wait.

Not a checkpoint when there is room: the callers' loops checkpoint anyway
(the reader in its UART receive, the pumps in the output lock).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class ByteQueue(Generic[T]):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._items: deque[tuple[T, int]] = deque()
        self._space = trio.lowlevel.ParkingLot()
        self._filled = trio.lowlevel.ParkingLot()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T, size: int) -> None:
        while size and self.size >= self.limit:
            await self._space.park()
        self._items.append((item, size))
        self.size += size
        self._filled.unpark_all()

    def get_nowait(self) -> T:
        if not self._items:
            raise trio.WouldBlock
        item, size = self._items.popleft()
        self.size -= size
        if self.size < self.limit:
            self._space.unpark_all()
        return item

    async def get(self) -> T:
        """The next item, waiting for one; always a checkpoint. One task
        gets from a queue, so an item seen before the checkpoint is still
        there after it."""
        if self._items:
            await trio.lowlevel.checkpoint()
        while not self._items:
            await self._filled.park()
        return self.get_nowait()
