"""The serial host of one port, sans-IO.

What the port writes goes in through ``feed``: a reply line to the command
waiting for it, a data frame to its link's check, a notice (a greeting, a
link the module closed) to whom it concerns. What the host does is a script:
a generator that yields what it needs done and returns its result. A driver
performs each action (Trio: device.py; gevent: bridge/locust/port.py):

- ``Write(data, timeout)``: write every byte, or fail the port with
  ``fail_port`` if that takes longer than ``timeout`` or the UART fails;
- ``Wait(waiter, timeout)``: until ``waiter`` is set or ``timeout`` passes;
- ``Sleep(seconds)``.

Waiters are the driver's own events (anything with ``set`` and ``is_set``),
made by the ``new_waiter`` it passes in; time is its ``clock``. The module
runs one command at a time (NOTES G4): a driver runs one script of a port at
a time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .check import LinkCheck, Waiter
from .dialect import PROMPT, Command, Dialect, Step
from .stats import Stats

ATTACH_DRAIN = 0.3  # seconds of a running port's old output to discard
LINK_DOWN = "link_down"  # a send not even tried: its link had failed or closed

T = TypeVar("T")


@dataclass(frozen=True)
class Write:
    data: bytes
    timeout: float


@dataclass(frozen=True)
class Wait:
    waiter: Waiter
    timeout: float


@dataclass(frozen=True)
class Sleep:
    seconds: float


Action = Write | Wait | Sleep
Script = Generator[Action, None, T]


@dataclass(frozen=True)
class Result:
    """How one AT command went: the last reply's lines, or why it failed."""

    name: str
    lines: list[bytes] | None
    seconds: float
    kind: str = ""  # "<command>_failed", or the port's failure
    detail: str = ""
    reply: bytes = b""  # the line that said it failed

    @property
    def ok(self) -> bool:
        return self.lines is not None


class NewWaiter(Protocol):
    def __call__(self) -> Waiter: ...


class Reply:
    """The reply a step waits for."""

    __slots__ = ("step", "lines", "waiter")

    def __init__(self, step: Step, waiter: Waiter) -> None:
        self.step = step
        self.lines: list[bytes] = []
        self.waiter = waiter

    def end(self) -> None:
        self.waiter.set()


class PortHost:
    def __init__(self, dialect: Dialect, index: int, stats: Stats, *, timeout: float,
                 clock: Callable[[], float], new_waiter: NewWaiter,
                 on_result: Callable[[Result], None]) -> None:
        self.dialect = dialect
        self.index = index
        self.stats = stats  # the port's own errors, and data no link owns
        self.timeout = timeout  # seconds any reply may take
        self.clock = clock
        self.new_waiter = new_waiter
        self.on_result = on_result  # every command's outcome, for the driver to report
        self.wire = dialect.wire(self._line, self._prompt, self._data)
        self.links: dict[int, LinkCheck] = {}  # by link id, while open
        #: every link driven through this port: fail_port fails them
        self.checks: list[LinkCheck] = []
        self.greeted = new_waiter()
        self.dead: str | None = None  # why the port cannot be driven any more
        self.discarding = False  # attached: old output is read and dropped
        self._reply: Reply | None = None

    # -- what the port writes ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.wire.feed(data)

    def fail_port(self, kind: str, detail: str = "") -> None:
        """The port cannot be driven any more (its UART ended, a reply never came)."""
        if self.dead is not None:
            return
        self.dead = kind
        self.stats.error(kind, detail)
        for check in self.checks:
            check.fail()
        if self._reply is not None:
            self._reply.end()
            self._reply = None

    def _line(self, line: bytes) -> None:
        if self.discarding or self._notice(line):
            return
        reply = self._reply
        if reply is None:
            if line:
                self.stats.error("unexpected_output", f"port {self.index}: {line[:60]!r}")
            return
        reply.lines.append(line)
        if line.startswith(reply.step.done):
            self._reply = None
            reply.end()

    def _prompt(self) -> None:
        reply = self._reply
        if reply is not None and reply.step.prompt:
            reply.lines.append(PROMPT)
            self._reply = None
            reply.end()
        elif not self.discarding:
            self.stats.error("unexpected_output", f"port {self.index}: a prompt")

    def _data(self, link_id: int, data: bytes) -> None:
        if self.discarding:
            return
        check = self.links.get(link_id)
        if check is None:
            self.stats.received(len(data))
            self.stats.error("unexpected_data", f"port {self.index} link {link_id}: "
                                                f"{len(data)} bytes")
            return
        check.receive(data, self.clock())

    def _notice(self, line: bytes) -> bool:
        """Handle a line that is no command's reply; True if it was one."""
        if self.dialect.greeting(line):
            self.greeted.set()
            return True
        link_id = self.dialect.gone(line)
        if link_id is None:
            return False
        check = self.links.pop(link_id, None)
        if check is None:
            self.stats.error("unexpected_output", f"port {self.index}: {line!r}")
        else:
            if not check.closing:
                check.fail("link_closed", f"port {self.index}: {line!r}")
            check.open = False
        return True

    # -- scripts ----------------------------------------------------------------------------

    def exchange(self, name: str, step: Step) -> Script[list[bytes] | None]:
        """Write a step and wait for its reply: its lines, or None if the port
        failed (a reply that does not come in time fails it: it is out of step)."""
        if self.dead is not None:
            return None
        reply = self._reply = Reply(step, self.new_waiter())
        yield Write(step.data, self.timeout)
        if self.dead is None and not reply.waiter.is_set():
            yield Wait(reply.waiter, self.timeout)
        if self.dead is not None:
            return None
        if not reply.waiter.is_set():
            self._reply = None
            self.fail_port(f"timeout_{name}", f"port {self.index}: no reply to "
                                              f"{step.data[:48]!r} after {self.timeout} s; "
                                              f"got {reply.lines!r}")
            return None
        return reply.lines

    def run(self, command: Command, check: LinkCheck | None = None,
            report: bool = True) -> Script[Result]:
        """One command; with ``check``, the link whose data it writes (that a
        failure stops). Its outcome goes to ``on_result`` unless ``report`` is
        False (the caller judges the reply further and reports it)."""
        started = self.clock()
        last = len(command.steps) - 1
        lines: list[bytes] | None = None
        for number, step in enumerate(command.steps):
            counted = command.counted if number == last else b""
            if counted and check is not None:
                sent_at = self.clock()
                check.expect(counted, sent_at)
                check.stats.sent(len(counted), sent_at)
            lines = yield from self.exchange(command.name, step)
            if lines is None:  # the port failed (and said why); a counted echo stays owed
                return self._done(Result(command.name, None, self.clock() - started,
                                         self.dead or "port_failed", f"port {self.index}"),
                                  report)
            if not lines[-1].startswith(step.ok):
                kind = f"{command.name.lower()}_failed"
                detail = f"port {self.index}: {lines!r}"
                if check is None:
                    self.stats.error(kind, detail)
                else:
                    if counted:
                        check.withdraw(counted)
                        check.stats.unsent(len(counted))
                    check.fail(kind, detail)
                return self._done(Result(command.name, None, self.clock() - started, kind,
                                         detail, lines[-1]), report)
        return self._done(Result(command.name, lines, self.clock() - started), report)

    def _done(self, result: Result, report: bool = True) -> Result:
        if report:
            self.on_result(result)
        return result

    def setup(self, attached: bool) -> Script[bool]:
        """Set the port up for links; an attached port is reset first (its old
        output dropped, every link closed)."""
        dialect = self.dialect
        if attached:
            self.discarding = True
            yield Sleep(ATTACH_DRAIN)
            self.discarding = False
            self.greeted = self.new_waiter()
            if not (yield from self.run(dialect.reset())).ok:
                return False
        if dialect.greets and not self.greeted.is_set():
            yield Wait(self.greeted, self.timeout)
            if not self.greeted.is_set():
                self.fail_port("no_greeting", f"port {self.index}: no greeting in "
                                              f"{self.timeout} s")
                return False
        for command in dialect.setup():
            if not (yield from self.run(command)).ok:
                self.fail_port("setup_failed", f"port {self.index}: {command.name}")
                return False
        return True

    def open_link(self, check: LinkCheck, slot: int, proto: str,
                  target: tuple[str, int]) -> Script[Result]:
        """Open ``check``'s link (CIP: link id ``slot``); it is then routed its data."""
        command = self.dialect.open_link(slot, proto, *target)
        result = yield from self.run(command, report=False)
        if result.ok:
            assert result.lines is not None
            try:
                check.link_id = self.dialect.opened(slot, result.lines)
            except ValueError as exc:
                kind = f"{command.name.lower()}_failed"
                self.stats.error(kind, f"port {self.index}: {exc}")
                result = Result(command.name, None, result.seconds, kind, str(exc),
                                result.lines[-1])
            else:
                check.open = True
                self.links[check.link_id] = check
        return self._done(result)

    def send(self, check: LinkCheck, message: bytes) -> Script[Result]:
        if check.failed or not check.open:
            return Result("send", None, 0.0, LINK_DOWN,
                          f"port {self.index}: link {check.link_id} is not open")
        return (yield from self.run(self.dialect.send(check.link_id, message), check))

    def close_link(self, check: LinkCheck) -> Script[Result]:
        command = self.dialect.close(check.link_id)
        if not check.open or self.dead is not None:
            return Result(command.name, [], 0.0)  # closed already: nothing to do
        check.closing = True
        result = yield from self.run(command)
        check.open = False
        self.links.pop(check.link_id, None)
        return result
