"""Everything a port writes to its UART: whole frames, in order (NOTES G2).

A frame goes straight to the UART when nothing is queued before it and the
UART takes it whole at once (a reply to a command, usually); only the rest
waits for the writer task. That saves two scheduler passes per reply, and
keeps the order: while anything is queued, every frame queues behind it.
Streams without ``write_nowait`` (memory streams in tests) always queue.

The queue is bounded in bytes (uart_buffer): a slow UART blocks whoever
produces frames (link pumps stop, sockets stop being read).

The discipline between replies and unsolicited frames (ESP-AT E26) is here
too: ``lock`` is held by the interpreter while it writes a reply (for the
whole span of a command in dialects that ask for it) and by a link pump
while it takes data and writes its frame, so no frame falls inside a reply
or between a mode switch and its reply; after a reply that ends a command,
unsolicited frames wait ``quiet_until``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import trio

from .byte_queue import ByteQueue

UART_CHUNK = 65536

Written = Callable[[bytes], None]


class UartOutput:
    def __init__(self, limit: int, *, written: Written,
                 lost: Callable[[str], None]) -> None:
        self.lock = trio.Lock()
        #: unsolicited frames wait until then (the gap after a reply, E26)
        self.quiet_until = 0.0
        self._queue = ByteQueue[bytes](limit)
        self._queued = 0  # frames handed to the writer and not yet written
        self._flushed = trio.lowlevel.ParkingLot()
        self._write_nowait: Callable[[bytes], int] | None = None
        self._written = written
        self._lost = lost

    def attach(self, stream: trio.abc.SendStream) -> None:
        """Write straight to ``stream`` when it can take frames without waiting."""
        self._write_nowait = getattr(stream, "write_nowait", None)

    async def send(self, frame: bytes) -> None:
        """Write one whole frame to the UART, or queue what it does not take
        now for the writer (waits while the queue is full)."""
        if not frame:
            return
        if not self._queued and self._write_nowait is not None:
            try:
                written = self._write_nowait(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._lost(f"write failed: {exc!r}")
                await trio.lowlevel.checkpoint()  # raises Cancelled: the port is ending
                return
            if written:
                self._written(frame[:written])
            if written == len(frame):
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            frame = frame[written:]
        self._queued += 1
        await self._queue.put(frame, len(frame))

    async def run_writer(self, stream: trio.abc.SendStream) -> None:
        """The writer task: queued frames, coalesced, until the stream fails."""
        while True:
            frame = await self._queue.get()
            # let the task that queued this frame queue its next ones too: one
            # write for a burst of +IPD frames instead of one write each
            await trio.lowlevel.cancel_shielded_checkpoint()
            parts = [frame]
            size = len(frame)
            while size < UART_CHUNK:  # coalesce what is already queued
                try:
                    frame = self._queue.get_nowait()
                except trio.WouldBlock:
                    break
                parts.append(frame)
                size += len(frame)
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            self._written(data)
            try:
                await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                return self._lost(f"write failed: {exc!r}")
            self._queued -= len(parts)
            if not self._queued:
                self._flushed.unpark_all()

    async def flush(self) -> None:
        """Wait until every frame sent so far has been written."""
        while self._queued:
            await self._flushed.park()

    def frame_slot(self) -> FrameSlot:
        """``async with output.frame_slot():`` around taking data for an
        unsolicited frame and writing it: waits for any reply span and the
        gap after it."""
        return FrameSlot(self)


class FrameSlot:
    def __init__(self, output: UartOutput) -> None:
        self._output = output

    async def __aenter__(self) -> None:
        output = self._output
        while True:
            await output.lock.acquire()
            if trio.current_time() >= output.quiet_until:
                return
            output.lock.release()
            await trio.sleep_until(output.quiet_until)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._output.lock.release()
