"""One UART and everything behind it: reader, interpreter, links, writer.

A Port is a nursery that supervises:

1. the UART reader, which queues timestamped chunks for the interpreter;
2. the interpreter, which feeds the dialect's framer, runs one command at a
   time (NOTES G4) and applies each outcome: the reply and the framer's next
   mode in one step;
3. one task per open link, started through ``start_link``;
4. the UART writer (bridge/output.py), for what the UART does not take at once.

The port runs over any trio Stream: a pty or serial device in the daemon, a
memory stream in tests. The reader's queue is bounded in bytes
(uart_buffer): a slow link blocks the interpreter, the reader stops, and the
UART is no longer read (flow control takes over).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
import trio

from . import dialects
from .at.commands import EnterTransparent, ExpectPayload, Outcome
from .at.events import NEED_DATA, CommandLine, Event, LineTooLong, Payload
from .at.framer import TIMED_MODES, Framer
from .byte_queue import ByteQueue
from .config import PortSettings
from .counters import PortCounters
from .dialects.api import Dialect
from .links.link import Link
from .log import traced
from .output import UartOutput
from .store import Store
from .uart.line import LineSettings
from .uart.line import apply as apply_line

UART_CHUNK = 65536
COMPLAINTS_PER_SECOND = 5  # line noise must not flood the log
#: events that are (part of) a command, and so open a reply span (E26)
COMMAND_EVENTS = (CommandLine, Payload, LineTooLong)


class DeviceLost(Exception):
    """The UART ended (EOF) or failed; the port must be reopened."""


class Port:
    def __init__(self, settings: PortSettings, *, state_dir: Path, trace: bool = False,
                 counters: PortCounters | None = None) -> None:
        self.settings = settings
        self.counters = counters or PortCounters()
        self.trace = trace
        self.state_dir = state_dir
        self.store = Store(state_dir / f"{settings.name}.json")
        self.log = structlog.get_logger("bridge.port").bind(port=settings.name)
        self.output = UartOutput(settings.uart_buffer, written=self._wrote,
                                 lost=self._device_lost)
        self._in = ByteQueue[object](settings.uart_buffer)  # UART chunks and link notices
        self._nursery: trio.Nursery | None = None
        self._lost: DeviceLost | None = None
        self._complaint_window = -1.0
        self._complaints = self._suppressed = 0
        self._span_open = False  # the interpreter holds the output for a command (E26)
        self._uart: trio.abc.Stream | None = None
        self.dialect: Dialect = dialects.load(settings.dialect)(self)

    async def run(self, uart: trio.abc.Stream) -> None:
        """Serve the UART until cancelled; raises DeviceLost if it fails."""
        self.output.attach(uart)
        self._uart = uart
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._read_uart, uart)
                nursery.start_soon(self.output.run_writer, uart)
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

    # -- services for the dialect (PortServices) -------------------------------

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

    async def switch_uart(self, line: LineSettings) -> bool:
        """Once every frame so far is written, switch a serial device's line
        settings; False for a device that has none (a pty: only recorded)."""
        assert self._uart is not None
        await self.output.flush()
        return await apply_line(self._uart, line)

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

    # -- the UART reader ---------------------------------------------------------

    async def _read_uart(self, uart: trio.abc.ReceiveStream) -> None:
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

    def _wrote(self, data: bytes) -> None:
        self.counters.uart_out += len(data)
        if self.trace:
            self.log.debug("uart_tx", **traced(data))

    # -- the interpreter -----------------------------------------------------------

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
                await self._run(event, notices)
            elif notices:
                await self._apply(await self.dialect.handle_notice(notices.popleft()))
            elif self._take_queued(framer, notices):
                pass  # one chunk at a time in command mode: the framer holds one line
            elif (deadline := framer.deadline()) is None:
                self._take(await self._in.get(), framer, notices)
            else:
                with trio.move_on_at(deadline):
                    self._take(await self._in.get(), framer, notices)

    async def _run(self, event: Event, notices: deque[object]) -> None:
        """One event: a command's echo, its handler, its outcome."""
        dialect = self.dialect
        if dialect.holds_reply_span and isinstance(event, COMMAND_EVENTS) \
                and not self._span_open:
            await self.output.take_lock()
            self._span_open = True
        try:
            if isinstance(event, CommandLine):
                echo = dialect.echo(event.line)
                if echo:
                    await self.output.send(echo)
                if dialect.busy_reply(event.line) is not None and dialect.is_slow(event.line):
                    outcome = await self._while_answering_busy(event, notices)
                else:
                    outcome = await dialect.handle(event)
            else:
                outcome = await dialect.handle(event)
        except Exception:
            # a bug must not take the port down with it; the host sees no reply
            self.log.exception("command_failed", command_event=type(event).__name__)
            outcome = Outcome()
        await self._apply(outcome)

    async def _while_answering_busy(self, event: Event,
                                    notices: deque[object]) -> Outcome:
        """Run a slow command in a task of its own while every line that
        comes meanwhile gets the dialect's busy answer (ESP-AT E5)."""
        framer, dialect = self.dialect.framer, self.dialect
        outcome: list[Outcome] = []

        async def command(cancel: trio.CancelScope) -> None:
            outcome.append(await dialect.handle(event))
            cancel.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(command, nursery.cancel_scope)
            while True:
                late = framer.next_event(trio.current_time())
                if late is NEED_DATA:
                    self._take(await self._in.get(), framer, notices)
                elif isinstance(late, CommandLine | LineTooLong):
                    line = late.line if isinstance(late, CommandLine) else b""
                    await self.output.send(dialect.busy_reply(line) or b"")
        return outcome[0]

    async def _apply(self, outcome: Outcome) -> None:
        """Write the reply and switch the framer in one step; under the
        output lock when the link pumps could see the change (a state
        change, transparent mode, a span); a command's span ends with its
        final reply."""
        output = self.output
        if not self._span_open:
            if outcome.commit is None and outcome.after is None \
                    and not isinstance(outcome.then, EnterTransparent):
                # a reply, a prompt and its payload: written whole and in
                # order like any frame, without the lock and its cost
                if outcome.reply:
                    await output.send(outcome.reply)
                self._switch_framer(outcome)
                return
            await output.take_lock()
        try:
            if outcome.commit is not None:
                outcome.commit()
            await output.send(outcome.reply)
            self._switch_framer(outcome)
            if outcome.after is not None:
                await outcome.after()
        finally:
            if not (self._span_open and isinstance(outcome.then, ExpectPayload)):
                self._span_open = False
                output.lock.release()
                if outcome.reply and outcome.final and self.dialect.reply_gap:
                    output.quiet_after_reply(self.dialect.reply_gap)

    def _switch_framer(self, outcome: Outcome) -> None:
        then = outcome.then
        if isinstance(then, ExpectPayload):
            self.dialect.framer.expect_payload(then.size, then.terminator)
        elif isinstance(then, EnterTransparent):
            self.dialect.framer.enter_transparent(trio.current_time())

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
