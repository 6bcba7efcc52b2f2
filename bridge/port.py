"""One UART and everything behind it: reader, interpreter, links, writer.

A Port is a nursery that supervises (ARCHITECTURE.md):

1. the UART reader, which queues timestamped chunks for the interpreter;
2. the interpreter, which feeds the dialect's framer and runs one command at
   a time (NOTES G4);
3. one task per open link, started through ``start_link``;
4. the UART writer, draining one queue of whole frames (NOTES G2).

A frame goes straight to the UART when nothing is queued before it and the
UART takes it whole at once (a reply to a command, usually); only the rest
waits for the writer. That saves two scheduler passes per reply, and keeps
the order: while anything is queued, every frame queues behind it.

Both queues are bounded in bytes (uart_buffer): a slow UART blocks whoever
produces frames (link pumps stop, sockets stop being read); a slow link
blocks the interpreter, the reader stops, and the UART is no longer read
(flow control takes over).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
import trio

from .at.events import NEED_DATA
from .at.framer import Framer, Mode
from .byte_queue import ByteQueue
from .config import PortSettings
from .dialects.cip import CipDialect
from .dialects.skt import SktDialect
from .links.link import Link
from .log import traced
from .store import Store
from .uart.device_stream import DeviceStream

DIALECTS = {"skt": SktDialect, "cip": CipDialect}
UART_CHUNK = 65536
COMPLAINTS_PER_SECOND = 5  # line noise must not flood the log
TIMED_MODES = (Mode.TRANSPARENT, Mode.DRAIN)  # where arrival times decide (G5)


class DeviceLost(Exception):
    """The UART ended (EOF) or failed; the port must be reopened."""


@dataclass
class PortCounters:
    """Bytes and frames moved by a port, kept across reopens (for metrics)."""

    uart_in: int = 0
    uart_out: int = 0
    frames_out: int = 0  # unsolicited data frames (+IPD, +SKTREAD) written
    link_in: int = 0
    link_out: int = 0


class Port:
    def __init__(self, settings: PortSettings, *, state_dir: Path, trace: bool = False,
                 counters: PortCounters | None = None) -> None:
        self.settings = settings
        self.counters = counters or PortCounters()
        self.trace = trace
        self.state_dir = state_dir
        self.store = Store(state_dir / f"{settings.name}.json")
        self.log = structlog.get_logger("bridge.port").bind(port=settings.name)
        self.output_lock = trio.Lock()
        self._out = ByteQueue[bytes](settings.uart_buffer)  # frames for the UART writer
        self._in = ByteQueue[object](settings.uart_buffer)  # UART chunks and link notices
        self._queued = 0  # frames handed to the writer and not yet written
        self._uart: DeviceStream | None = None
        self._nursery: trio.Nursery | None = None
        self._lost: DeviceLost | None = None
        self._complaint_window = -1.0
        self._complaints = self._suppressed = 0
        self.dialect = DIALECTS[settings.dialect](self)

    async def run(self, uart: DeviceStream) -> None:
        """Serve the UART until cancelled; raises DeviceLost if it fails."""
        self._uart = uart
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._read_uart, uart)
                nursery.start_soon(self._write_uart, uart)
                await self.dialect.on_open()
                nursery.start_soon(self._interpret)
        finally:
            self.dialect.close_all()
        if self._lost is not None:
            raise self._lost

    def _device_lost(self, why: str) -> None:
        """End the port (and its links) for the daemon to reopen the device."""
        if self._lost is None:
            self._lost = DeviceLost(why)
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    # -- services for the dialect -----------------------------------------

    def complain(self, event: str, **fields: object) -> None:
        """A warning about the host's input, at most COMPLAINTS_PER_SECOND;
        the rest are counted and summed up in the next window."""
        now = trio.current_time()
        if now - self._complaint_window >= 1.0:
            if self._suppressed:
                self.log.warning("complaints_suppressed", count=self._suppressed)
            self._complaint_window, self._complaints, self._suppressed = now, 0, 0
        if self._complaints < COMPLAINTS_PER_SECOND:
            self._complaints += 1
            self.log.warning(event, **fields)
        else:
            self._suppressed += 1

    async def send(self, frame: bytes) -> None:
        """Write one whole frame to the UART, or queue what it does not take
        now for the writer (waits while the queue is full)."""
        if not frame:
            return
        if not self._queued and self._uart is not None:
            try:
                written = self._uart.write_nowait(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._device_lost(f"write failed: {exc!r}")
                await trio.lowlevel.checkpoint()  # raises Cancelled: the port is ending
                return
            if written:
                self._wrote(frame[:written])
            if written == len(frame):
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            frame = frame[written:]
        self._queued += 1
        await self._out.put(frame, len(frame))

    async def notify(self, notice: object) -> None:
        """Hand a link's notice to the interpreter, in order with UART bytes."""
        await self._in.put(notice, 0)

    def start_task(self, function: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run a dialect's background task (SNTP) for as long as the port runs."""
        assert self._nursery is not None
        self._nursery.start_soon(function, *args)

    def start_link(self, link: Link, pump: Callable[[Link], Awaitable[None]]) -> None:
        """Run a link's receive loop and its pump until the link is closed."""
        assert self._nursery is not None
        self._nursery.start_soon(self._run_link, link, pump)

    async def _run_link(self, link: Link, pump: Callable[[Link], Awaitable[None]]) -> None:
        log = self.log.bind(con_id=link.con_id)
        try:
            with link.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(link.receive_loop)
                    if link.inbound is not None:
                        nursery.start_soon(pump, link)
        except Exception:
            # a link's failure stays inside that link: the host sees it as lost
            log.exception("link_task_failed")
            if link.inbound is not None:
                link.inbound.end("reset")

    # -- the three port tasks -------------------------------------------------

    async def _read_uart(self, uart: DeviceStream) -> None:
        while True:
            try:
                data = await uart.receive_some(UART_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                return self._device_lost(f"read failed: {exc!r}")
            if not data:
                return self._device_lost("end of file")
            self.counters.uart_in += len(data)
            if self.trace:
                self.log.debug("uart_rx", **traced(data))
            await self._in.put((trio.current_time(), data), len(data))

    async def _write_uart(self, uart: DeviceStream) -> None:
        while True:
            frame = await self._out.get()
            # let the task that queued this frame queue its next ones too: one
            # write for a burst of +IPD frames instead of one write each
            await trio.lowlevel.cancel_shielded_checkpoint()
            parts = [frame]
            size = len(frame)
            while size < UART_CHUNK:  # coalesce what is already queued
                try:
                    frame = self._out.get_nowait()
                except trio.WouldBlock:
                    break
                parts.append(frame)
                size += len(frame)
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            self._wrote(data)
            try:
                await uart.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                return self._device_lost(f"write failed: {exc!r}")
            self._queued -= len(parts)

    def _wrote(self, data: bytes) -> None:
        self.counters.uart_out += len(data)
        if self.trace:
            self.log.debug("uart_tx", **traced(data))

    async def _interpret(self) -> None:
        framer = self.dialect.framer
        notices: deque[object] = deque()
        while True:
            if framer.mode in TIMED_MODES:
                # Feed every chunk already queued before asking for events: their
                # arrival times, not ours, decide whether an escape stood alone
                # (G5). Each event there takes all the data fed, so this is bounded.
                while not notices and self._take_queued(framer, notices):
                    pass
            event = framer.next_event(trio.current_time())
            if event is not NEED_DATA:
                try:
                    await self.dialect.handle(event)
                except Exception:
                    # a bug must not take the port down with it; the host sees no reply
                    self.log.exception("command_failed", command_event=type(event).__name__)
            elif notices:
                await self.dialect.handle_notice(notices.popleft())
            elif self._take_queued(framer, notices):
                pass  # one chunk at a time in command mode: the framer holds one line
            elif (deadline := framer.deadline()) is None:
                self._take(await self._in.get(), framer, notices)
            else:
                with trio.move_on_at(deadline):
                    self._take(await self._in.get(), framer, notices)

    def _take_queued(self, framer: Framer, notices: deque[object]) -> bool:
        try:
            item = self._in.get_nowait()
        except trio.WouldBlock:
            return False
        self._take(item, framer, notices)
        return True

    @staticmethod
    def _take(item: object, framer: Framer, notices: deque[object]) -> None:
        if isinstance(item, tuple):
            arrival, data = item
            framer.receive_data(data, arrival)
        else:
            notices.append(item)
