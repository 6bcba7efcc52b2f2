"""Turns the bytes a host writes to the UART into events (sans-IO).

Like h11's connection object: feed bytes with ``receive_data(data, now)``,
pull events with ``next_event(now)`` until it returns ``NEED_DATA``. The
caller owns the I/O and the clock; ``deadline()`` says when to call
``next_event`` again if no bytes arrive (escape guard times).

Modes and what moves between them:

=========== ============================== ===========
mode        event / call                   next mode
=========== ============================== ===========
COMMAND     line end -> CommandLine        COMMAND
COMMAND     colon command -> CommandHead   DISCARD
COMMAND     line over limit                DISCARD (reported)
DISCARD     line end (reported: LineTooLong) COMMAND
COMMAND,    expect_payload(n)              PAYLOAD
DISCARD
PAYLOAD     n bytes -> Payload             COMMAND
COMMAND     enter_transparent(now)         TRANSPARENT
TRANSPARENT escape alone -> EscapeSeen     COMMAND
TRANSPARENT leave_transparent()            DRAIN
DRAIN       guard of silence               COMMAND
=========== ============================== ===========
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


def cip_escape(guard: float) -> Escape:
    """CIP ``+++``: its bytes no further apart than the guard (ESP-AT's rule, G5)."""
    return Escape(b"+++", max_gap=guard)


@dataclass(frozen=True)
class Packing:
    """Passthrough packing (NOTES C10): transparent data comes out in whole
    packets of ``size`` bytes; a smaller rest once ``quiet`` seconds pass
    with no new byte (or when an escape candidate follows it)."""

    size: int
    quiet: float


class Mode(enum.Enum):
    COMMAND = "command"
    DISCARD = "discard"
    PAYLOAD = "payload"
    TRANSPARENT = "transparent"
    DRAIN = "drain"


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
        self._skip_lf = False
        self._report_discard = False
        self._payload_left = 0
        self._payload = bytearray()
        self._ready: list[bytes] = []  # transparent bytes known to be data
        self._held = b""  # transparent bytes that may be the escape
        self._held_quiet_starts: list[int] = []  # offsets in _held that followed silence
        self._escaped = False  # the held escape was confirmed by later bytes' arrival
        self._last_rx = 0.0
        self._mode_fresh = False
        #: bytes dropped because the link they were meant for went away
        self.drained = 0
        self._mode_start = 0.0
        # (absolute end offset, arrival) of buffered bytes, so that bytes queued
        # behind AT+SKTTT / AT+CIPSEND keep their own arrival times (G5)
        self._arrivals: list[tuple[int, float]] = []
        self._base = 0  # absolute offset of _buf[0]

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
        elif self.mode is Mode.DRAIN and now < self._drain_until():
            self.drained += len(data)  # still the stream meant for the lost link
            self._last_rx = now
        else:
            if self.mode is Mode.DRAIN:
                self.mode = Mode.COMMAND
            self._buffer(data, now)
            self._last_rx = now

    # -- caller-driven switches (the dialect knows what a command means) ----

    def expect_payload(self, size: int) -> None:
        """The next ``size`` bytes are data for the command just framed."""
        if size <= 0 or self.mode not in (Mode.COMMAND, Mode.DISCARD):
            raise RuntimeError(f"cannot expect {size} payload bytes in {self.mode}")
        self.mode = Mode.PAYLOAD
        self._report_discard = False
        self._payload_left = size
        self._payload.clear()

    def enter_transparent(self, now: float) -> None:
        """From now on UART bytes are link data until the escape (G5)."""
        if self.mode is not Mode.COMMAND:
            raise RuntimeError(f"cannot enter transparent mode from {self.mode}")
        self.mode = Mode.TRANSPARENT
        self._mode_fresh = True
        self._mode_start = now
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
        if self._escaped:  # the escape came first: what follows is commands
            self._escaped = False
            self.mode = Mode.COMMAND
        elif self.mode is Mode.TRANSPARENT:
            self.mode = Mode.DRAIN
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
            if self.mode is Mode.DRAIN:
                if now < self._drain_until():
                    return NEED_DATA
                self.mode = Mode.COMMAND
            if self.mode is Mode.TRANSPARENT or self._ready or self._escaped:
                # data and an escape found while feeding come out first, in order
                return self._transparent_event(now)
            if self.mode is Mode.PAYLOAD:
                event = self._payload_event()
            elif self.mode is Mode.DISCARD:
                event = self._discard_event()
            else:
                event = self._line_event()
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
                    self._start_discard(report=True)
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
                    self._start_discard(report=True)
                    return None
                self._start_discard(report=False)
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

    def _start_discard(self, *, report: bool) -> None:
        self.mode = Mode.DISCARD
        self._report_discard = report

    def _discard_event(self) -> Event | NeedData | None:
        match = self._any_line_end.search(self._buf, self._pos)
        if match is None:
            self._base += len(self._buf)
            self._arrivals.clear()
            self._buf.clear()
            self._pos = self._scan = 0
            return NEED_DATA
        self._consume_line_end(match.start())
        self.mode = Mode.COMMAND
        if self._report_discard:
            self._report_discard = False
            return LineTooLong()
        return None

    def _payload_event(self) -> Event | NeedData:
        take = min(self._payload_left, len(self._buf) - self._pos)
        self._payload += self._buf[self._pos : self._pos + take]
        self._pos += take
        self._scan = self._pos
        self._payload_left -= take
        if self._payload_left:
            return NEED_DATA
        self.mode = Mode.COMMAND
        data = bytes(self._payload)
        self._payload.clear()
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
        quiet = self._mode_fresh or now >= self._silent_from()
        self._mode_fresh = False
        if self._held and quiet and self.escape.is_complete(self._held):
            # the escape had its silence after it before these bytes came (G5)
            self._hold(b"", [])
            self._escaped = True
            self.mode = Mode.COMMAND
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
        if self._ready:
            data = self._ready[0] if len(self._ready) == 1 else b"".join(self._ready)
            self._ready.clear()
            packing = self.packing
            if packing is None or self._escaped or self._held \
                    or now >= self._last_rx + packing.quiet:
                return TransparentData(data)
            whole = len(data) - len(data) % packing.size
            if whole < len(data):
                self._ready.append(data[whole:])
            if whole:
                return TransparentData(data[:whole])
            return NEED_DATA
        if self._escaped:
            self._escaped = False
            return EscapeSeen()
        if self._held and now >= self._silent_from():
            if self.escape.is_complete(self._held):
                self._hold(b"", [])
                self.mode = Mode.COMMAND
                return EscapeSeen()
            if self.escape.max_gap is not None:
                data = self._held
                self._hold(b"", [])
                return TransparentData(data)
        return NEED_DATA
