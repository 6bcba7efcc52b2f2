"""Everything a port writes to its UART: whole frames, in order (NOTES G2).

A frame goes straight to the UART when nothing is queued before it and the
UART takes it whole at once (a reply to a command, usually); only the rest
waits for the writer task. That saves two scheduler passes per reply, and
keeps the order: while anything is queued, every frame queues behind it.
Streams without ``write_nowait`` (memory streams in tests) always queue.

The queue is bounded in bytes (uart_buffer): a slow UART blocks whoever
produces frames (link pumps stop, sockets stop being read).

The discipline between replies and unsolicited frames (ESP-AT E26) is here
too: ``lock`` is held by the interpreter while it applies a state change
and its reply (and for the whole span of a command in dialects that ask for
it) and by a link pump while it takes data and writes its frame, so no
frame falls inside a span or between a mode switch and its reply; after a
reply that ends a command,
unsolicited frames wait ``quiet_until`` and, on a pty, until the host has read
the reply: a host that reads in chunks then never finds a frame glued to the
reply's last line, however late the scheduler lets it run.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import trio

from .byte_queue import ByteQueue

UART_CHUNK = 65536
#: seconds the first frame after a reply waits, beyond the gap, for the host
#: to read the reply; a host that takes longer is not reading
HOST_READ_WAIT = 1.0
HOST_READ_POLL = 0.002  # a pty tells nobody when its host reads

Written = Callable[[bytes], None]


class UartOutput:
    def __init__(self, limit: int, *, written: Written,
                 lost: Callable[[str], None]) -> None:
        self.lock = trio.Lock()
        #: unsolicited frames wait until then (the gap after a reply, E26)
        self.quiet_until = 0.0
        self._reply_unread = False  # a reply ended since the last unsolicited frame
        self._unread_by_host: Callable[[], int] | None = None
        self._queue = ByteQueue[bytes](limit)
        self._queued = 0  # frames handed to the writer and not yet written
        self._flushed = trio.lowlevel.ParkingLot()
        self._slot = FrameSlot(self)  # holds no state of its own: one serves every pump
        self._write_nowait: Callable[[bytes], int] | None = None
        self._written = written
        self._lost = lost

    def attach(self, stream: trio.abc.SendStream) -> None:
        """Write straight to ``stream`` when it can take frames without
        waiting; ask it what its host has not read yet when it can tell."""
        self._write_nowait = getattr(stream, "write_nowait", None)
        self._unread_by_host = getattr(stream, "unread_by_host", None)

    def quiet_after_reply(self, gap: float) -> None:
        """A reply ended a command (E26): the next unsolicited frame waits
        ``gap`` seconds, then for the host to have read the reply."""
        self.quiet_until = trio.current_time() + gap
        self._reply_unread = self._unread_by_host is not None

    def frame_may_go(self, now: float) -> bool:
        """Whether an unsolicited frame may be written now (by the holder of
        the lock): the gap is over and the host has read the reply."""
        if now < self.quiet_until:
            return False
        if (self._reply_unread and now < self.quiet_until + HOST_READ_WAIT
                and (self._queued or self._unread_by_host())):  # type: ignore[misc]
            return False
        self._reply_unread = False
        return True

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

    async def take_lock(self) -> None:
        """The output lock for the interpreter, without trio's extra
        scheduler pass when it is free (Lock.acquire always yields once).
        Link pumps use a full acquire (``frame_slot``): their loop needs
        its checkpoint."""
        try:
            self.lock.acquire_nowait()
        except trio.WouldBlock:
            await self.lock.acquire()

    def frame_slot(self) -> FrameSlot:
        """``async with output.frame_slot():`` around taking data for an
        unsolicited frame and writing it: waits for any reply span and the
        gap after it."""
        return self._slot


class FrameSlot:
    def __init__(self, output: UartOutput) -> None:
        self._output = output

    async def __aenter__(self) -> None:
        output = self._output
        while True:
            # a full acquire (a checkpoint even when the lock is free): a pump
            # that finds nothing to write after all loops back through here
            await output.lock.acquire()
            if not output.quiet_until:  # no reply ever asked for quiet (SKT, CIP)
                return
            now = trio.current_time()
            if output.frame_may_go(now):
                return
            output.lock.release()
            await trio.sleep_until(max(output.quiet_until, now + HOST_READ_POLL))

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._output.lock.release()
