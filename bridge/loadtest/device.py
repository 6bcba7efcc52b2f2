"""One virtual device: the serial host of one port, in one dialect.

The device opens the port's pty, reads it with a single parser (``wire``)
that hands replies to the command in progress and data frames to their
link's check, and runs one command at a time (the module does, NOTES G4):
every exchange holds ``lock`` from its command to its final reply.
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass

import trio

from ..testing.host import open_host
from ..testing.wire import CipWire, EspWire, SktWire
from .check import LinkCheck
from .options import Options
from .stats import Stats

UART_CHUNK = 65536
ATTACH_DRAIN = 0.3  # seconds of a running port's old output to discard


class Reply:
    """The reply a command waits for: lines until one starts with ``done``."""

    __slots__ = ("done", "prompt", "lines", "event")

    def __init__(self, done: tuple[bytes, ...], prompt: bool) -> None:
        self.done = done
        self.prompt = prompt  # CIP: the "\r\n>" prompt also ends it
        self.lines: list[bytes] = []
        self.event = trio.Event()


@dataclass
class Plan:
    """What each link sends during the traffic phase."""

    size: int
    end: float  # trio time when sending stops
    messages: int | None
    rate: float | None
    window: int
    payloads: Payloads


class Payloads:
    """Messages that differ per link and sequence number: an 8-byte header
    (link, sequence), then random bytes from a window that moves."""

    HEAD = struct.Struct(">II")
    POOL = 1 << 16

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool = os.urandom(self.POOL + size)

    def message(self, link: int, sequence: int) -> bytes:
        head = self.HEAD.pack(link, sequence)
        if self.size <= len(head):
            return head[:self.size]
        start = (sequence * 8191 + link * 127) % self.POOL
        return head + self.pool[start:start + self.size - len(head)]


class Device:
    dialect: str
    wire: CipWire | EspWire | SktWire

    def __init__(self, index: int, path: str, options: Options, stats: Stats,
                 target: tuple[str, int], checks: list[LinkCheck]) -> None:
        self.index = index
        self.path = path
        self.options = options
        self.stats = stats
        self.target = target
        self.checks = checks
        self.by_id: list[LinkCheck | None] = [None] * 16
        self.lock = trio.Lock()
        self.dead: str | None = None
        self.discarding = False  # attach: old output is read and dropped
        self.stream: trio.lowlevel.FdStream | None = None
        self._reply: Reply | None = None

    # -- the pty -----------------------------------------------------------------

    def open(self) -> None:
        self.stream = trio.lowlevel.FdStream(open_host(self.path, flush=False))

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()

    async def read_loop(self) -> None:
        assert self.stream is not None
        receive = self.stream.receive_some
        feed = self.wire.feed
        try:
            while True:
                data = await receive(UART_CHUNK)
                if not data:
                    return self.fail_port("uart_closed", f"port {self.index}: end of file")
                feed(data)
        except trio.ClosedResourceError:
            return  # we closed it
        except (OSError, trio.BrokenResourceError) as exc:
            self.fail_port("uart_failed", f"port {self.index}: {exc!r}")

    def fail_port(self, kind: str, detail: str = "") -> None:
        """The port cannot be driven any more (its UART ended, a reply never came)."""
        if self.dead is not None:
            return
        self.dead = kind
        self.stats.error(kind, detail)
        for check in self.checks:
            check.fail()
        if self._reply is not None:
            self._reply.event.set()
            self._reply = None

    # -- what the parser hands over ------------------------------------------------

    def _line(self, line: bytes) -> None:
        if self.discarding or self._unsolicited(line):
            return
        reply = self._reply
        if reply is None:
            if line:
                self.stats.error("unexpected_output", f"port {self.index}: {line[:60]!r}")
            return
        reply.lines.append(line)
        if line.startswith(reply.done):
            self._reply = None
            reply.event.set()

    def _data(self, link_id: int, data: bytes) -> None:
        if self.discarding:
            return
        check = self.by_id[link_id] if 0 <= link_id < len(self.by_id) else None
        if check is None:
            self.stats.received(len(data))
            self.stats.error("unexpected_data", f"port {self.index} link {link_id}: "
                                                f"{len(data)} bytes")
            return
        check.receive(data, trio.current_time())

    def _unsolicited(self, line: bytes) -> bool:
        """Handle a notice that is no command's reply; True if it was one."""
        raise NotImplementedError

    def _link_gone(self, link_id: int, line: bytes) -> None:
        check = self.by_id[link_id] if 0 <= link_id < len(self.by_id) else None
        if check is None:
            self.stats.error("unexpected_output", f"port {self.index}: {line!r}")
            return
        if not check.closing:
            check.fail("link_closed", f"port {self.index}: {line!r}")
        check.open = False

    # -- commands --------------------------------------------------------------------

    async def exchange(self, name: str, data: bytes, done: tuple[bytes, ...],
                       prompt: bool = False) -> list[bytes] | None:
        """Write ``data``, wait for the reply's lines (the caller holds ``lock``).
        None if the port failed or the reply did not come in time (the port is
        then out of step, so it fails)."""
        if self.dead is not None:
            return None
        assert self.stream is not None
        reply = self._reply = Reply(done, prompt)
        try:
            with trio.move_on_after(self.options.timeout):
                await self.stream.send_all(data)
                await reply.event.wait()
        except (OSError, trio.BrokenResourceError) as exc:
            self.fail_port("uart_failed", f"port {self.index}: write: {exc!r}")
            return None
        if self.dead is not None:
            return None
        if not reply.event.is_set():
            self._reply = None
            self.fail_port(f"timeout_{name}", f"port {self.index}: no reply to {data[:48]!r}"
                           f" after {self.options.timeout} s; got {reply.lines!r}")
            return None
        return reply.lines

    async def send_counted(self, check: LinkCheck, message: bytes, data: bytes,
                           started: float, name: str, ok: bytes, label: str) -> bool:
        """Write a send's counted bytes (the lock held) and settle it by its
        reply: the echo is owed from now, unless the send is refused."""
        sent_at = trio.current_time()
        check.expect(message, sent_at)
        self.stats.sent(len(message), sent_at)
        lines = await self.exchange(name, data, self.SEND_END)
        if lines is None:
            return False  # it may have gone: still owed
        if lines[-1] != ok:
            check.withdraw(message)
            self.stats.unsent(len(message))
            check.fail(f"{name.lower()}_failed",
                       f"port {self.index} {label} {check.link_id}: {lines!r}")
            return False
        self.stats.command(name, trio.current_time() - started)
        return True

    async def command(self, name: str, line: bytes, done: tuple[bytes, ...],
                      ok: bytes) -> list[bytes] | None:
        """One command line under the lock; its lines if the last is ``ok``."""
        async with self.lock:
            started = trio.current_time()
            lines = await self.exchange(name, line + b"\r\n", done)
            if lines is None:
                return None
            if not lines[-1].startswith(ok):
                self.stats.error(f"{name.lower()}_failed", f"port {self.index}: {lines!r}")
                return None
            self.stats.command(name, trio.current_time() - started)
            return lines

    async def discard_old_output(self) -> None:
        """Attached to a running port: drop what it printed before we came."""
        self.discarding = True
        await trio.sleep(ATTACH_DRAIN)
        self.discarding = False

    # -- what a dialect defines ---------------------------------------------------------

    async def setup(self, attached: bool) -> bool:
        raise NotImplementedError

    async def open_link(self, check: LinkCheck, slot: int) -> bool:
        raise NotImplementedError

    async def send(self, check: LinkCheck, message: bytes) -> bool:
        raise NotImplementedError

    async def close_link(self, check: LinkCheck) -> None:
        raise NotImplementedError

    # -- the traffic phase ------------------------------------------------------------

    async def open_links(self) -> None:
        for slot, check in enumerate(self.checks):
            if self.dead is not None:
                self.stats.links_failed += 1
                continue
            if await self.open_link(check, slot):
                check.open = True
                self.by_id[check.link_id] = check
                self.stats.links_opened += 1
            else:
                check.fail()
                self.stats.links_failed += 1

    async def drive(self, check: LinkCheck, plan: Plan) -> None:
        """Send one link's messages until the plan ends or the link fails."""
        if not check.open:
            return
        gap = 1 / plan.rate if plan.rate else None
        next_at = trio.current_time() + (random.random() * gap if gap else 0.0)
        sequence = 0
        while not check.failed:
            if plan.messages is not None and sequence >= plan.messages:
                break
            if gap is not None:
                if next_at >= plan.end:
                    break
                await trio.sleep_until(next_at)
                next_at += gap
            if check.in_flight >= plan.window:
                stall = trio.current_time() + self.options.timeout
                with trio.move_on_at(min(plan.end, stall)):
                    await check.wait_room(plan.window)
                if check.in_flight >= plan.window and trio.current_time() >= stall:
                    check.fail("echo_timeout", f"port {self.index} link {check.link_id}: "
                                               f"{check.in_flight} messages unanswered for "
                                               f"{self.options.timeout} s")
            if trio.current_time() >= plan.end or check.in_flight >= plan.window:
                break
            if not await self.send(check, plan.payloads.message(check.number, sequence)):
                break
            sequence += 1
        check.messages = sequence

    async def close_links(self) -> None:
        for check in self.checks:
            if check.open and self.dead is None:
                check.closing = True
                await self.close_link(check)


class CipDevice(Device):
    """ESP-AT style: AT+CIPMUX=1, AT+CIPSTART, AT+CIPSEND with a prompt, +IPD."""

    dialect = "cip"
    TYPES = {"tcp": b"TCP", "udp": b"UDP", "tls": b"SSL"}
    END = (b"OK", b"ERROR")
    PROMPT_END = (b"ERROR", b"CMDRSP:ERROR", b"busy")
    SEND_END = (b"SEND OK", b"SEND FAIL", b"CMDRSP:ERROR", b"ERROR")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wire = CipWire(self._line, self._prompt, self._data)
        self.greeted = trio.Event()

    def _prompt(self) -> None:
        reply = self._reply
        if reply is not None and reply.prompt:
            reply.lines.append(b">")
            self._reply = None
            reply.event.set()
        elif not self.discarding:
            self.stats.error("unexpected_output", f"port {self.index}: a prompt")

    def _unsolicited(self, line: bytes) -> bool:
        if line == b"ready":  # NOTES C1: the greeting, at start and after AT+RST
            self.greeted.set()
            return True
        if line.endswith(b",CLOSED"):  # C8
            try:
                link_id = int(line[:-7])
            except ValueError:
                return False
            self._link_gone(link_id, line)
            return True
        return False

    SETUP = (("ATE0", b"ATE0"), ("CIPMUX", b"AT+CIPMUX=1"))

    async def setup(self, attached: bool) -> bool:
        if attached:  # AT+RST closes every link and greets again (C1, E7)
            await self.discard_old_output()
            self.greeted = trio.Event()
            if await self.command("RST", b"AT+RST", self.END, b"OK") is None:
                return False
        with trio.move_on_after(self.options.timeout):
            await self.greeted.wait()
        if not self.greeted.is_set():
            self.fail_port("no_greeting", f"port {self.index}: no ready in "
                                          f"{self.options.timeout} s")
            return False
        for name, line in self.SETUP:
            if await self.command(name, line, self.END, b"OK") is None:
                self.fail_port("setup_failed", f"port {self.index}: {name}")
                return False
        return True

    async def open_link(self, check: LinkCheck, slot: int) -> bool:
        host, port = self.target
        line = b'AT+CIPSTART=%d,"%s","%s",%d' % (slot, self.TYPES[self.options.proto],
                                                   host.encode(), port)
        lines = await self.command("CIPSTART", line, self.END, b"OK")
        if lines is None:
            return False
        if b"%d,CONNECT" % slot not in lines:
            self.stats.error("cipstart_failed", f"port {self.index}: no CONNECT in {lines!r}")
            return False
        check.link_id = slot
        return True

    async def send(self, check: LinkCheck, message: bytes) -> bool:
        async with self.lock:
            if check.failed:
                return False
            started = trio.current_time()
            lines = await self.exchange("CIPSEND", b"AT+CIPSEND=%d,%d\r\n" % (
                check.link_id, len(message)), self.PROMPT_END, prompt=True)
            if lines is None:
                return False
            if lines[-1] != b">":
                check.fail("cipsend_refused", f"port {self.index} link {check.link_id}: "
                                              f"{lines!r}")
                return False
            return await self.send_counted(check, message, message, started,
                                           "CIPSEND", b"SEND OK", "link")

    async def close_link(self, check: LinkCheck) -> None:
        await self.command("CIPCLOSE", b"AT+CIPCLOSE=%d" % check.link_id, self.END, b"OK")
        check.open = False


class EspDevice(CipDevice):
    """ESP-AT, either profile (MUX 1, active receive): joined first (E9),
    ``+IPD,<id>,`` frames, the prompt after the OK line (EspWire knows both
    forms), ``Recv <n> bytes`` before SEND OK; 1.7's `\\r\\r\\n` echo of ATE0
    is one more line of its reply."""

    dialect = "esp-at"
    SETUP = (("ATE0", b"ATE0"), ("CWJAP", b'AT+CWJAP="at-bridge","loadtest"'),
             ("CIPMUX", b"AT+CIPMUX=1"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wire = EspWire(self._line, self._prompt, self._data)


class SktDevice(Device):
    """Ameba style: AT+SKTCLIENT, auto-receive (AT+SKTRECVCFG=1), AT+SKTSEND."""

    dialect = "skt"
    MODES = {"tcp": 0, "udp": 1, "tls": 2}
    LOST = b"+SKTREAD:ERROR:"  # S7: +SKTREAD:ERROR:<n>,<con_id>
    CON_ID = b"+SKTCLIENT:con_id="
    SEND_END = (b"+SKTSEND:OK", b"+SKTSEND:ERROR")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wire = SktWire(self._line, self._data)

    def _unsolicited(self, line: bytes) -> bool:
        if line.startswith(self.LOST):
            try:
                link_id = int(line[len(self.LOST):].partition(b",")[2])
            except ValueError:
                return False
            self._link_gone(link_id, line)
            return True
        return False

    @staticmethod
    def _end(name: str) -> tuple[bytes, ...]:
        return (b"+%s:OK" % name.encode(), b"+%s:ERROR" % name.encode())

    async def setup(self, attached: bool) -> bool:
        if attached:  # AT+SKTDEL=0 closes every link (S10)
            await self.discard_old_output()
            if await self.command("SKTDEL", b"AT+SKTDEL=0", self._end("SKTDEL"),
                                  b"+SKTDEL:OK") is None:
                return False
        if await self.command("SKTRECVCFG", b"AT+SKTRECVCFG=1", self._end("SKTRECVCFG"),
                              b"+SKTRECVCFG:OK") is None:
            self.fail_port("setup_failed", f"port {self.index}: SKTRECVCFG")
            return False
        return True

    async def open_link(self, check: LinkCheck, slot: int) -> bool:
        host, port = self.target
        line = b"AT+SKTCLIENT=%d,%s,%d" % (self.MODES[self.options.proto], host.encode(), port)
        lines = await self.command("SKTCLIENT", line, (self.CON_ID, b"+SKTCLIENT:ERROR"),
                                   self.CON_ID)
        if lines is None:
            return False
        try:
            check.link_id = int(lines[-1][len(self.CON_ID):])
        except ValueError:
            self.stats.error("sktclient_failed", f"port {self.index}: {lines!r}")
            return False
        return True

    async def send(self, check: LinkCheck, message: bytes) -> bool:
        data = b"AT+SKTSEND=%d,%d:" % (len(message), check.link_id) + message
        async with self.lock:
            if check.failed:
                return False
            started = trio.current_time()
            return await self.send_counted(check, message, data, started,
                                           "SKTSEND", b"+SKTSEND:OK", "con_id")

    async def close_link(self, check: LinkCheck) -> None:
        await self.command("SKTDEL", b"AT+SKTDEL=%d" % check.link_id, self._end("SKTDEL"),
                           b"+SKTDEL:OK")
        check.open = False


DEVICES: dict[str, type[Device]] = {"cip": CipDevice, "skt": SktDevice, "esp-at": EspDevice}
