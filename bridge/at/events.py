"""What the host meant, as the framer understood it from the UART bytes.

Events are small frozen values, in the style of h11: they say what the host
sent, not how it was found in the byte stream.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandLine:
    """A whole command line, without its line end (NOTES G1)."""

    line: bytes


@dataclass(frozen=True, slots=True)
class CommandHead:
    """The start of a command whose data follows a colon (AT+SKTSEND, NOTES S5).

    The dialect must answer with ``Framer.expect_payload(n)``; if it does not,
    the rest of the line is discarded (NOTES G7).
    """

    line: bytes


@dataclass(frozen=True, slots=True)
class Payload:
    """Exactly the counted bytes a command asked for, unaltered (NOTES G3)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class TransparentData:
    """Bytes for the link while in transparent/passthrough mode, unaltered."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EscapeSeen:
    """The escape sequence stood alone between guard times (NOTES G5).

    The framer is back in command mode when this is returned.
    """


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line over the limit ended; its bytes were discarded (NOTES G1)."""


Event = CommandLine | CommandHead | Payload | TransparentData | EscapeSeen | LineTooLong


class NeedData:
    """Sentinel: nothing more can be framed until more bytes or time arrive."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
