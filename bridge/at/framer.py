"""Turns the bytes a host writes to the UART into events (sans-IO).

Like h11's connection object: feed bytes with ``receive_data(data, now)``,
pull events with ``next_event(now)`` until it returns ``NEED_DATA``. The
caller owns the I/O and the clock; ``deadline()`` says when to call
``next_event`` again if no bytes arrive (escape guard times).

The framer is always in one ``Mode``; ``TRANSITIONS`` below is the whole
table of moves, and ``_move`` is the one place that changes the mode (it
refuses a move the table does not have). One condition crosses every mode
and is kept apart: an LF right after the CR that ended a line belongs to
that line end (G1), whatever mode the line's command switched to.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .events import (
    NEED_DATA,
    CommandHead,
    CommandLine,
    EscapeSeen,
    Event,
    LineTooLong,
    NeedData,
    Payload,
    TransparentData,
)

CR = 0x0D
LF = 0x0A
COLON = 0x3A
BACKSLASH = 0x5C


@dataclass(frozen=True)
class Escape:
    """An escape sequence that leaves transparent mode (NOTES G5).

    ``max_gap`` bounds the silence between its bytes (CIP ``+++``); ``None``
    allows any gap (SKT ``----``, typed by a person). ``trailers`` are the line
    ends that may follow it and belong to it.
    """

    sequence: bytes
    max_gap: float | None = None
    trailers: tuple[bytes, ...] = ()

    def complete_forms(self) -> tuple[bytes, ...]:
        return (self.sequence,) + tuple(self.sequence + t for t in self.trailers)

    def could_be(self, candidate: bytes | bytearray) -> bool:
        return any(form.startswith(candidate) for form in self.complete_forms())

    def is_complete(self, candidate: bytes | bytearray) -> bool:
        return bytes(candidate) in self.complete_forms()


SKT_ESCAPE = Escape(b"----", max_gap=None, trailers=(b"\r", b"\n", b"\r\n"))


def plus_escape(guard: float) -> Escape:
    """``+++``: its bytes no further apart than the guard (ESP-AT's rule, G5)."""
    return Escape(b"+++", max_gap=guard)


@dataclass(frozen=True)
class Packing:
    """Passthrough packing (NOTES C10): transparent data comes out in whole
    packets of ``size`` bytes; a smaller rest once ``quiet`` seconds pass
    with no new byte (or when an escape candidate follows it)."""

    size: int
    quiet: float


class Mode(enum.Enum):
    # members are singletons: identity hashing is exact and, unlike Enum's
    # own __hash__, costs no Python call on the framer's hot path
    __hash__ = object.__hash__

    COMMAND = "command"  # lines
    SKIP_LINE = "skip line"  # the rest of a colon command's line, silently (G7)
    TOO_LONG = "too long"  # the rest of an over-long line, reported at its end (G1)
    PAYLOAD = "payload"  # a command's counted bytes (G3, G7)
    TRANSPARENT = "transparent"  # link data until the escape (G5)
    ESCAPED = "escaped"  # the escape was seen: the data before it, then EscapeSeen
    DRAIN = "drain"  # a lost link's stream, dropped until a guard of silence


class Move(enum.Enum):
    """What makes the framer change mode."""

    __hash__ = object.__hash__  # as Mode's

    HEAD = "a colon command's head was framed"
    OVERFLOW = "a line passed the limit"
    LINE_END = "the discarded line ended"
    EXPECT_PAYLOAD = "the dialect expects a payload"
    PAYLOAD_DONE = "the payload is complete"
    ENTER = "the dialect entered transparent mode"
    ESCAPE_SEEN = "the escape stood alone (decided by silence)"
    ESCAPE_FOLLOWED = "bytes after a guard of silence confirmed the escape"
    ESCAPE_REPORTED = "the data before the escape is out, then EscapeSeen"
    LEAVE = "the dialect left transparent mode (the link went away)"
    SILENCE = "a guard of silence ended the drain"


TRANSITIONS: dict[tuple[Mode, Move], Mode] = {
    (Mode.COMMAND, Move.HEAD): Mode.SKIP_LINE,
    (Mode.COMMAND, Move.OVERFLOW): Mode.TOO_LONG,
    (Mode.SKIP_LINE, Move.LINE_END): Mode.COMMAND,
    (Mode.TOO_LONG, Move.LINE_END): Mode.COMMAND,
    (Mode.COMMAND, Move.EXPECT_PAYLOAD): Mode.PAYLOAD,
    (Mode.SKIP_LINE, Move.EXPECT_PAYLOAD): Mode.PAYLOAD,
    (Mode.PAYLOAD, Move.PAYLOAD_DONE): Mode.COMMAND,
    (Mode.COMMAND, Move.ENTER): Mode.TRANSPARENT,
    (Mode.TRANSPARENT, Move.ESCAPE_SEEN): Mode.COMMAND,
    (Mode.TRANSPARENT, Move.ESCAPE_FOLLOWED): Mode.ESCAPED,
    (Mode.ESCAPED, Move.ESCAPE_REPORTED): Mode.COMMAND,
    (Mode.TRANSPARENT, Move.LEAVE): Mode.DRAIN,
    (Mode.ESCAPED, Move.LEAVE): Mode.COMMAND,  # the escape came first: commands follow
    (Mode.DRAIN, Move.SILENCE): Mode.COMMAND,
}

#: modes where the arrival times of queued bytes decide (G5): feed them all at once
TIMED_MODES = (Mode.TRANSPARENT, Mode.DRAIN)


class Framer:
    def __init__(
        self,
        *,
        line_limit: int = 4096,
        guard: float = 0.02,
        escape: Escape = SKT_ESCAPE,
        colon_commands: tuple[bytes, ...] = (),
        packing: Packing | None = None,
    ) -> None:
        self.line_limit = line_limit
        self.guard = guard
        self.escape = escape
        self.packing = packing
        self._colon_commands = colon_commands
        self._line_end = re.compile(rb"[\r\n:]" if colon_commands else rb"[\r\n]")
        self._any_line_end = re.compile(rb"[\r\n]")
        self.mode = Mode.COMMAND
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed bytes in _buf
        self._scan = 0  # where the line-end search resumes: no rescans (h11)
        self._skip_lf = False  # a CR ended the last line; an LF next belongs to it
        self._payload_left = 0  # UART bytes the payload may still take
        self._payload = bytearray()
        self._terminator: bytes | None = None
        self._terminator_scan = 0  # where the search for the terminator resumes
        self._ready: list[bytes] = []  # transparent bytes known to be data
        self._held = b""  # transparent bytes that may be the escape
        self._held_quiet_starts: list[int] = []  # offsets in _held that followed silence
        # the latest byte's arrival; -inf at a mode's start, which counts as silence (G5)
        self._last_rx = float("-inf")
        #: bytes dropped because the link they were meant for went away
        self.drained = 0
        self._mode_start = 0.0
        # (absolute end offset, arrival) of buffered bytes, so that bytes queued
        # behind AT+SKTTT / AT+CIPSEND keep their own arrival times (G5)
        self._arrivals: list[tuple[int, float]] = []
        self._base = 0  # absolute offset of _buf[0]

    def _move(self, move: Move) -> None:
        try:
            self.mode = TRANSITIONS[(self.mode, move)]
        except KeyError:
            raise RuntimeError(f"the framer cannot move from {self.mode} on {move}") from None

    # -- input -------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Add bytes that arrived at ``now`` (their arrival, not processing, time)."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == LF:
                data = data[1:]
        if not data:
            return
        if self.mode is Mode.TRANSPARENT:
            self._transparent_bytes(data, now)
            return
        if self.mode is Mode.DRAIN:
            if now < self._drain_until():
                self.drained += len(data)  # still the stream meant for the lost link
                self._last_rx = now
                return
            self._move(Move.SILENCE)
        self._buffer(data, now)
        self._last_rx = now

    # -- caller-driven switches (the dialect knows what a command means) ----

    def expect_payload(self, size: int, terminator: bytes | None = None) -> None:
        """The next ``size`` bytes are data for the command just framed; with
        a ``terminator`` (``\\0``, ESP-AT's CIPSENDEX) the data ends there if it
        comes first, and a backslash before it makes it data."""
        if size <= 0:
            raise RuntimeError(f"cannot expect {size} payload bytes")
        self._move(Move.EXPECT_PAYLOAD)
        self._payload_left = size
        self._payload.clear()
        self._terminator = terminator
        self._terminator_scan = 0

    def enter_transparent(self, now: float) -> None:
        """From now on UART bytes are link data until the escape (G5)."""
        self._move(Move.ENTER)
        self._mode_start = now
        self._last_rx = float("-inf")
        # bytes already buffered are link data, each piece with its own arrival
        start = self._base + self._pos
        leftover = bytes(self._buf[self._pos :])
        pieces, previous = [], start
        for end, arrival in self._arrivals:
            if end > previous:
                pieces.append((leftover[previous - start : end - start], arrival))
                previous = end
        self._base += len(self._buf)
        self._buf.clear()
        self._arrivals.clear()
        self._pos = self._scan = 0
        for data, arrival in pieces:
            if self.mode is Mode.TRANSPARENT:
                self._transparent_bytes(data, arrival)
            else:  # an escape among the queued bytes: what follows is commands
                self._buffer(data, arrival)

    def leave_transparent(self) -> int:
        """Back to command mode without an escape (the link went away).

        What the host was still sending for the link is dropped until the
        guard of silence (it cannot have seen the notice yet, and link data
        must never run as commands); ``drained`` counts it. Returns how many
        not yet delivered bytes were dropped at once.
        """
        dropped = sum(map(len, self._ready)) + len(self._held)
        self._ready.clear()
        self._hold(b"", [])
        if self.mode in (Mode.TRANSPARENT, Mode.ESCAPED):
            self._move(Move.LEAVE)
        self.drained += dropped
        return dropped

    def deadline(self) -> float | None:
        """When ``next_event`` may have something even if no bytes arrive."""
        if self.mode is Mode.DRAIN:
            return self._drain_until()
        if self.mode is not Mode.TRANSPARENT:
            return None
        if self._ready and self.packing is not None and not self._held:
            return self._last_rx + self.packing.quiet  # the rest of a packet
        if self._held and (self.escape.max_gap is not None
                           or self.escape.is_complete(self._held)):
            return self._silent_from()
        return None

    # -- output --------------------------------------------------------------

    def next_event(self, now: float) -> Event | NeedData:
        while True:
            mode = self.mode
            if mode is Mode.DRAIN:
                if now < self._drain_until():
                    return NEED_DATA
                self._move(Move.SILENCE)
                continue
            if mode is Mode.TRANSPARENT or mode is Mode.ESCAPED:
                # data and an escape found while feeding come out first, in order
                return self._transparent_event(now)
            if mode is Mode.PAYLOAD:
                event = self._payload_event()
            elif mode is Mode.COMMAND:
                event = self._line_event()
            else:
                event = self._discard_event()
            if event is NEED_DATA:
                self._compact()
            if event is not None:
                return event

    # -- command mode -------------------------------------------------------

    def _line_event(self) -> Event | NeedData | None:
        buf = self._buf
        while True:
            match = self._line_end.search(buf, self._scan)
            if match is None:
                if len(buf) - self._pos > self.line_limit:
                    self._pos = self._scan = len(buf)
                    self._move(Move.OVERFLOW)
                    return None
                self._scan = len(buf)
                return NEED_DATA
            end = match.start()
            if buf[end] == COLON:
                if not any(buf.startswith(c, self._pos) for c in self._colon_commands):
                    self._scan = end + 1
                    continue
                line = bytes(buf[self._pos : end])
                self._pos = self._scan = end + 1
                if len(line) > self.line_limit:
                    self._move(Move.OVERFLOW)
                    return None
                self._move(Move.HEAD)
                return CommandHead(line)
            line = bytes(buf[self._pos : end])
            self._consume_line_end(end)
            if len(line) > self.line_limit:
                return LineTooLong()
            if line:
                return CommandLine(line)

    def _consume_line_end(self, end: int) -> None:
        """Move past the line end at ``end``; CR LF counts once (G1)."""
        after = end + 1
        if self._buf[end] == CR:
            if after < len(self._buf):
                if self._buf[after] == LF:
                    after += 1
            else:
                self._skip_lf = True
        self._pos = self._scan = after

    def _discard_event(self) -> Event | NeedData | None:
        match = self._any_line_end.search(self._buf, self._pos)
        if match is None:
            self._base += len(self._buf)
            self._arrivals.clear()
            self._buf.clear()
            self._pos = self._scan = 0
            return NEED_DATA
        self._consume_line_end(match.start())
        reported = self.mode is Mode.TOO_LONG
        self._move(Move.LINE_END)
        return LineTooLong() if reported else None

    def _payload_event(self) -> Event | NeedData:
        take = min(self._payload_left, len(self._buf) - self._pos)
        self._payload += self._buf[self._pos : self._pos + take]
        self._pos += take
        self._scan = self._pos
        self._payload_left -= take
        if self._terminator is not None and self._found_terminator():
            return self._payload_done()
        if self._payload_left:
            return NEED_DATA
        return self._payload_done()

    def _found_terminator(self) -> bool:
        """Whether the payload ends at ``\\0`` (ESP-AT CIPSENDEX, E22); if so,
        the bytes after it go back to the buffer as commands.

        ``_payload`` holds the UART bytes as they came; ``\\\\0`` there is data
        (``\\0``, unescaped in ``_payload_done``). A backslash whose next bytes
        have not come yet waits for them, unless the count is reached."""
        raw = self._payload
        index = self._terminator_scan
        while (index := raw.find(BACKSLASH, index)) >= 0:
            following = raw[index + 1 : index + 3]
            if following[:1] == b"0":
                rest = len(raw) - index - 2  # all of it came in this call: still buffered
                del raw[index:]
                self._pos -= rest
                self._scan = self._pos
                self._payload_left = 0
                return True
            if following == b"\\0":
                index += 3
            elif self._payload_left and (not following or following == b"\\"):
                break  # `\\` or `\\\\` at the end: the next byte decides
            else:
                index += 1
        self._terminator_scan = len(raw) if index < 0 else index
        return False

    def _payload_done(self) -> Payload:
        self._move(Move.PAYLOAD_DONE)
        data = bytes(self._payload)
        self._payload.clear()
        if self._terminator is not None:
            data = data.replace(b"\\\\0", b"\\0")
            self._terminator = None
        return Payload(data)

    def _buffer(self, data: bytes, arrival: float) -> None:
        self._buf += data
        self._arrivals.append((self._base + len(self._buf), arrival))

    def _compact(self) -> None:
        if self._pos:
            self._base += self._pos
            self._arrivals = [(end, t) for end, t in self._arrivals if end > self._base]
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0

    # -- transparent mode ---------------------------------------------------

    def _drain_until(self) -> float:
        """A lost link's stream ends with a guard of silence after the host's
        latest byte, or after the mode began if nothing came since."""
        return max(self._last_rx, self._mode_start) + self.guard

    def _silent_from(self) -> float:
        """When the silence after the last transparent bytes reaches the guard."""
        return self._last_rx + self.guard

    def _hold(self, candidate: bytes, quiet_starts: list[int]) -> None:
        self._held = candidate
        self._held_quiet_starts = quiet_starts

    def _transparent_bytes(self, data: bytes, now: float) -> None:
        quiet = now >= self._silent_from()
        if self._held and quiet and self.escape.is_complete(self._held):
            # the escape had its silence after it before these bytes came (G5)
            self._hold(b"", [])
            self._move(Move.ESCAPE_FOLLOWED)
            self._last_rx = now
            self._buffer(data, now)
            return
        max_gap = self.escape.max_gap
        if self._held and (max_gap is None or now - self._last_rx < max_gap):
            candidate = self._held + data
            quiet_starts = self._held_quiet_starts + ([len(self._held)] if quiet else [])
        else:
            if self._held:
                self._ready.append(self._held)
            candidate = data
            quiet_starts = [0] if quiet else []
        self._last_rx = now
        # the escape may start at any point that followed silence (G5): take the
        # earliest such point from which the rest can still be the escape
        for start in quiet_starts:
            if self.escape.could_be(candidate[start:]):
                if start:
                    self._ready.append(candidate[:start])
                self._hold(candidate[start:], [q - start for q in quiet_starts if q >= start])
                return
        self._ready.append(candidate)
        self._hold(b"", [])

    def _transparent_event(self, now: float) -> Event | NeedData:
        escaped = self.mode is Mode.ESCAPED
        if self._ready:
            data = self._ready[0] if len(self._ready) == 1 else b"".join(self._ready)
            self._ready.clear()
            packing = self.packing
            if packing is None or escaped or self._held \
                    or now >= self._last_rx + packing.quiet:
                return TransparentData(data)
            whole = len(data) - len(data) % packing.size
            if whole < len(data):
                self._ready.append(data[whole:])
            if whole:
                return TransparentData(data[:whole])
            return NEED_DATA
        if escaped:
            self._move(Move.ESCAPE_REPORTED)
            return EscapeSeen()
        if self._held and now >= self._silent_from():
            if self.escape.is_complete(self._held):
                self._hold(b"", [])
                self._move(Move.ESCAPE_SEEN)
                return EscapeSeen()
            if self.escape.max_gap is not None:
                data = self._held
                self._hold(b"", [])
                return TransparentData(data)
        return NEED_DATA
