"""The narrow interface between a port and its dialect, both ways.

A dialect sees its port only as ``PortServices``; the port sees its dialect
only as ``Dialect``. Neither module imports the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from ..at.commands import Outcome
from ..at.events import Event
from ..at.framer import Framer
from ..config import PortSettings
from ..counters import PortCounters
from ..links.link import Link
from ..output import UartOutput
from ..store import Store
from ..uart.line import LineSettings


class PortServices(Protocol):
    """What a dialect may use of its port."""

    settings: PortSettings
    state_dir: Path
    store: Store
    counters: PortCounters
    trace: bool
    output: UartOutput
    log: Any  # a structlog logger bound to the port

    def complain(self, event: str, **fields: object) -> None:
        """A warning about the host's input, rate-limited."""

    def start_link(self, link: Link, pump: Callable[[Link], Awaitable[None]]) -> None:
        """Run the link's receive loop and its pump until the link is closed."""

    def start_task(self, function: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run a background task for as long as the port runs."""

    async def notify(self, notice: object) -> None:
        """Hand a notice to the interpreter, in order with the UART's bytes."""

    async def switch_uart(self, line: LineSettings) -> bool:
        """Switch the serial line once what was written has left (False: not
        a serial line, nothing changed)."""


class Dialect(Protocol):
    """What a port asks of its dialect."""

    framer: Framer
    #: the links, for metrics and for closing them all when the port ends
    links: Iterable[Link]
    #: ESP-AT E26: no unsolicited frame from a command's first reply byte to
    #: its final line (through a payload after ``>``)
    holds_reply_span: bool
    #: seconds unsolicited frames wait after a command's final reply (E26)
    reply_gap: float

    async def on_open(self) -> None:
        """The device is open (CIP and ESP-AT greet the host)."""

    def echo(self, line: bytes) -> bytes:
        """What the module echoes of a command line before it runs it."""

    def busy_reply(self, line: bytes) -> bytes | None:
        """The answer to a line that arrives while a slow command runs, or
        None to leave it queued until the command is over (NOTES G4)."""

    def is_slow(self, line: bytes) -> bool:
        """Whether the command on ``line`` waits on the network."""

    async def handle(self, event: Event) -> Outcome:
        """Run what the framer framed; the port applies the outcome."""

    async def handle_notice(self, notice: object) -> Outcome:
        """A notice a link task sent through ``PortServices.notify``."""

    def close_all(self) -> None:
        """Close every link (the port is ending)."""


DialectFactory = Callable[[PortServices], Dialect]
