"""A reference model of the sans-IO AT core, for fuzzing it.

Used by tests/test_fuzz_core.py (hypothesis state machines) and
bench/fuzz.py (a long random run). Neither imports the other: both drive a
``Harness``, which holds

- the real ``Framer``, configured as the dialect configures it
  (bridge/dialects/skt, cip), driven the way the port drives it
  (bridge/port.py): bytes arrive with their arrival time, events are pulled
  with ``next_event(now)`` until NEED_DATA, ``next_event`` is called again at
  ``deadline()`` when no bytes come;
- the dialect's reactions to what it frames, with the dialects' own command
  tables deciding what binds (bridge.dialects.skt.COMMANDS, cip.COMMANDS): on a
  CommandHead / CommandLine the harness calls ``expect_payload`` or
  ``enter_transparent`` exactly when the dialect would;
- a reference model: a plain, whole-buffer re-statement of NOTES G1, G3, G5,
  G7, S5, C9, C10 (and of ``leave_transparent``'s drain, S9/C8) that knows,
  from the same inputs, which events are due.

Two readings the model takes where the notes leave room (each in one place):

- G5 is judged on arrival times throughout: bytes that arrived behind the
  command that enters transparent mode (queued while the port was busy, G4)
  keep their own arrival times when they become link data
  (``Harness._enter_transparent``);
- after the link goes away, the host's stream is dropped until a guard of
  silence after its latest byte or the mode's start, whichever is later
  (``Harness._leave``).

Every event the framer returns is checked against the model as it comes, and
after every drain the model checks liveness (nothing due is withheld), the
deadline (a time-only event is announced by ``deadline()``, and
``deadline()`` never lies in the past, where the port would spin) and that
the framer's buffers are bounded. A broken rule raises ``Violation``; any
other exception out of the framer, or out of a parser other than the
documented ArgError (and the ValueError the SKTSEND argument checks catch),
is a crash.

Times: arrivals are on a grid of 1/1024 s ("ticks"), so that with a guard of
1/64 s (16 ticks) gaps of exactly the guard are exact in binary floating
point, and with the default guard of 20 ms no gap is within rounding of it.

Actions (what a generator produces, and a reproducer replays) are plain
tuples of literals:

``("feed", [(gap_ticks, bytes), ...], batch)``
    each piece arrives ``gap_ticks`` after the previous one; unless ``batch``
    the port drains after each piece (and at every deadline before it), with
    ``batch`` only once after the last (the port was busy meanwhile);
``("advance", ticks)``
    silence: the port drains at every deadline that falls due, then once
    at the end (where the framer must have nothing new unless a deadline said so);
``("lose", mid_drain)``
    the link in transparent mode goes away (``leave_transparent()``): between
    drains, or (``mid_drain``) when the port handles the next TransparentData
    (its send failed), failing that at the end of the next feed;
``("declare", [expected, ...])`` / ``("declared",)``
    an independent expectation: the next events must be exactly these (each
    ``("line", b)``, ``("head", b)``, ``("payload", b)``, ``("data", b)``
    (TransparentData, concatenated), ``("escape",)`` or ``("too_long",)``),
    all seen by the ``("declared",)`` that follows.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, deque
from typing import Any

from bridge.at.args import ArgError, integer, split_args
from bridge.at.commands import Call, CommandTable
from bridge.at.events import (
    NEED_DATA,
    CommandHead,
    CommandLine,
    EscapeSeen,
    LineTooLong,
    Payload,
    TransparentData,
)
from bridge.at.framer import Framer, Mode
from bridge.dialects import cip, esp, skt
from bridge.dialects.cip.args import ALL_LINKS, UDP, Start, bad
from bridge.dialects.esp.server import EspServer

TICK = 1 / 1024
CR, LF = 0x0D, 0x0A
LINE_END = re.compile(rb"[\r\n]")
MAX_EVENTS_PER_DRAIN = 1_000_000
MAX_DEADLINES_PER_ADVANCE = 10_000

LINE, DISCARD, PAYLOAD = "line", "discard", "payload"


class Violation(AssertionError):
    """An invariant did not hold (a crash is any other exception)."""


def fail(why: str) -> None:
    raise Violation(why)


# -- the dialects' reactions, with the real parsers ------------------------------------


def resolve(table: CommandTable, line: bytes, state: object) -> Call | None:
    """The dialect's own table decides whether a line is a command whose
    arguments bind (None: unknown or refused, answered at once)."""
    resolved = table.resolve(line, state)
    return resolved if isinstance(resolved, Call) else None


class SktReactions:
    """What bridge/dialects/skt does with what the framer frames (S5, S9, G7):
    its command table (imported), its SKTSEND count and argument checks, and
    AT+SKTTT=1 entering transparent mode when a client link is open."""

    name = "skt"

    def __init__(self, payload_limit: int) -> None:
        self.payload_limit = payload_limit
        self.link_up = False  # one client link open: AT+SKTTT=1 may enter

    def framer(self, line_limit: int, guard: float) -> Framer:
        return skt.make_framer(line_limit, guard)

    def on_head(self, line: bytes) -> int | None:
        """SktDialect.on_command_head: the count to expect, or None (discard)."""
        tokens = split_args(line[len(skt.SEND_PREFIX):].decode("latin-1"))
        try:
            size = integer(tokens[0]) if tokens else integer("")
        except ValueError:
            return None
        if not 1 <= size <= self.payload_limit:
            return None
        try:  # checked after the payload: a ValueError is answered, anything else a crash
            skt.send_destination(tokens[1:])
        except ValueError:
            pass
        return size

    def on_line(self, line: bytes) -> tuple[str, int] | None:
        call = resolve(skt.COMMANDS, line, self)
        if call is None:
            return None
        if call.row.name == "SKTCLIENT":
            self.link_up = True
        elif call.row.name == "SKTDEL":
            self.link_up = False
        elif call.row.name == "SKTTT" and self.link_up:
            return ("transparent", 0)
        return None

    def link_lost(self) -> None:
        self.link_up = False

    def enter_sequence(self) -> bytes:
        """Command lines that end in transparent mode from a clean command state."""
        opening = b"" if self.link_up else b"AT+SKTCLIENT=0,127.0.0.1,5000\r\n"
        return opening + b"AT+SKTTT=1\r\n"

    def send_setup(self) -> bytes:
        return b""

    def send_accepted(self, count: int, form: str = "n") -> bool:
        return 1 <= count <= self.payload_limit


class CipReactions:
    """What bridge/dialects/cip does with the lines it gets (C2-C4, C9, C10):
    its command table (imported) binds the arguments; the model keeps the
    CIPMUX/CIPMODE state, links opened by AT+CIPSTART (assumed to connect),
    AT+CIPSEND=... expecting its length, AT+CIPSEND entering passthrough."""

    name = "cip"

    def __init__(self) -> None:
        self.multiple = False  # read by the table's binders, as the dialect's attribute
        self.passthrough = False
        self.links: dict[int, Start] = {}

    def framer(self, line_limit: int, guard: float) -> Framer:
        return cip.make_framer(line_limit, guard)

    def on_head(self, line: bytes) -> int | None:
        fail(f"CIP framed a CommandHead {line!r}: it has no colon commands")
        return None

    def on_line(self, line: bytes) -> tuple[str, int] | None:
        call = resolve(cip.COMMANDS, line, self)
        if call is None:
            return None
        try:
            return self._handle(call.action.handler, call.values)
        except ArgError:  # a handler's state check: the dialect answers ERROR / CMDRSP:ERROR
            return None

    def _handle(self, handler: object, values: Any) -> tuple[str, int] | None:
        dialect = cip.CipDialect
        if handler is dialect.set_mux:
            (value,) = values
            if self.links or (value and self.passthrough):
                raise bad("refused")
            self.multiple = bool(value)
        elif handler is dialect.set_mode:
            (value,) = values
            if value and self.multiple:
                raise bad("refused")
            self.passthrough = bool(value)
        elif handler is dialect.start:
            (start,) = values
            if start.link_id in self.links:
                raise bad("busy")
            self.links[start.link_id] = start
        elif handler is dialect.send:
            (request,) = values
            link = self.links.get(request.link_id)
            if link is None or link.listen:  # a server link has no peer here
                raise bad("not open")
            if request.dest is not None and link.kind != UDP:
                raise bad("a destination is for UDP links")
            return ("payload", request.length)
        elif handler is dialect.passthrough:
            link = self.links.get(0)
            if not self.passthrough or self.multiple or link is None or link.listen:
                raise bad("no passthrough")
            return ("transparent", 0)
        elif handler is dialect.close:
            (number,) = values
            if number in self.links:
                del self.links[number]
            elif number == ALL_LINKS:
                self.links.clear()
            else:
                raise bad("not open")
        elif handler is dialect.reset:
            self.links.clear()
            self.multiple = self.passthrough = False
        return None

    def link_lost(self) -> None:
        self.links.pop(0, None)  # C8: the passthrough link is freed

    def enter_sequence(self) -> bytes:
        lines = []
        if self.multiple:
            lines += [b"AT+CIPCLOSE=5", b"AT+CIPMODE=0", b"AT+CIPMUX=0"]
        link = self.links.get(0)
        if link is not None and link.listen:
            lines.append(b"AT+CIPCLOSE=0")
            link = None
        if not self.passthrough:
            lines.append(b"AT+CIPMODE=1")
        if link is None:
            lines.append(b'AT+CIPSTART="TCP","10.0.0.1",8080')
        lines.append(b"AT+CIPSEND")
        return b"".join(line + b"\r\n" for line in lines)

    def send_setup(self) -> bytes:
        """Command lines after which AT+CIPSEND on link 0 is accepted."""
        link = self.links.get(0)
        lines = [b"AT+CIPCLOSE=0"] if link is not None and link.listen else []
        if link is None or link.listen:
            lines.append(b'AT+CIPSTART=0,"TCP","10.0.0.1",8080' if self.multiple
                         else b'AT+CIPSTART="TCP","10.0.0.1",8080')
        return b"".join(line + b"\r\n" for line in lines)

    def send_accepted(self, count: int, form: str = "n") -> bool:
        """Whether AT+CIPSEND=<form> (``n`` or ``0,n``) on link 0 will expect ``count``."""
        link = self.links.get(0)
        return (1 <= count <= 2048 and link is not None and not link.listen
                and (form == "0,n" or not self.multiple))


TERMINATOR = b"\\0"  # E22


def terminated(raw: bytes, count: int) -> tuple[bytes, int] | None:
    """E22, restated on the whole payload so far: the data and the UART bytes
    it takes, or None while undecided. ``\\0`` ends the data (taken, not
    sent); ``\\\\0`` is the data ``\\0``; at most ``count`` bytes; a backslash
    whose next bytes are not there yet waits, unless the count is reached."""
    out, index = bytearray(), 0
    while index < count:
        if index >= len(raw):
            return None
        if raw[index] == 0x5C:
            if index + 1 >= count:
                out.append(raw[index])
                index += 1
                continue
            if index + 1 >= len(raw):
                return None
            if raw[index + 1] == 0x30:
                return bytes(out), index + 2
            if raw[index + 1] == 0x5C and index + 2 < count:
                if index + 2 >= len(raw):
                    return None
                if raw[index + 2] == 0x30:
                    out += b"\\0"
                    index += 3
                    continue
        out.append(raw[index])
        index += 1
    return bytes(out), count


class EspReactions(CipReactions):
    """What bridge/dialects/esp does with the lines it gets (E15, E16, E21-E23):
    the profile's command table (imported) binds the arguments; the model
    keeps the station, CIPMUX/CIPMODE and the server, links opened by
    AT+CIPSTART once joined, AT+CIPSEND=... / AT+CIPSENDEX=... expecting their
    payloads (up to the profile's limit), and AT+CIPSEND entering passthrough."""

    name = "esp-at"

    def __init__(self, version: str = "2.4") -> None:
        super().__init__()
        self.profile = esp.dialect.PROFILES[version]  # read by the table's binders
        self.commands = esp.TABLES[version]
        self.joined = False
        self.server = False

    def framer(self, line_limit: int, guard: float) -> Framer:
        return esp.make_framer(min(line_limit, esp.dialect.LINE_LIMIT), guard)

    def on_line(self, line: bytes) -> tuple[str, int] | None:
        call = resolve(self.commands, line, self)
        if call is None:
            return None
        # 1.7's `_CUR` / `_DEF` rows wrap the plain row's handler (functools.partial)
        handler = getattr(call.action.handler, "func", call.action.handler)
        try:
            return self._handle_esp(handler, call.values)
        except ArgError:
            return None

    def _handle_esp(self, handler: object, values: Any) -> tuple[str, int] | None:
        dialect = esp.EspDialect
        if handler is dialect.join:
            self.joined = True
            self.links.clear()
        elif handler is dialect.quit or (handler is dialect.set_mode and values[0] in (0, 2)):
            self.joined = False
            self.links.clear()
        elif handler is dialect.set_mux:
            (value,) = values
            if value != self.multiple and (self.links or self.server):
                raise bad("refused")
            if value and self.passthrough:
                raise bad("refused")
            self.multiple = bool(value)
        elif handler is dialect.set_transfer_mode:
            (value,) = values
            if value and self.multiple:
                raise bad("refused")
            self.passthrough = bool(value)
        elif handler is dialect.start:
            (start,) = values
            if self.joined and start.link_id not in self.links:
                self.links[start.link_id] = start
        elif handler in (dialect.send, dialect.send_ex):
            (request,) = values
            link = self.links.get(request.link_id)
            if link is None or (request.dest is not None and link.kind != "UDP"):
                return None
            return ("payload" if handler is dialect.send else "payload_ex", request.length)
        elif handler is dialect.passthrough:
            if self.passthrough and not self.multiple and 0 in self.links:
                return ("transparent", 0)
        elif handler is dialect.close:
            (number,) = values
            if number == esp.dialect.ALL_LINKS:
                self.links.clear()
            else:
                self.links.pop(number, None)
        elif handler is EspServer.set:
            (request,) = values
            if request.enable and self.multiple:
                self.server = True
            elif not request.enable:
                self.server = False
        elif handler in (dialect.reset, dialect.restore, dialect.deep_sleep):
            self.links.clear()
            self.multiple = self.passthrough = self.joined = self.server = False
        return None

    def enter_sequence(self) -> bytes:
        lines = []
        link_open = 0 in self.links and not self.multiple
        if self.multiple:  # back to one link: no server, no links, CIPMUX=0
            lines += [b"AT+CIPSERVER=0,1", b"AT+CIPCLOSE=5", b"AT+CIPMUX=0"]
        if not self.joined:
            lines.append(b'AT+CWJAP="fuzz","pw"')
        if not self.passthrough:
            lines.append(b"AT+CIPMODE=1")
        if not link_open:
            lines.append(b'AT+CIPSTART="TCP","10.0.0.1",8080')
        lines.append(b"AT+CIPSEND")
        return b"".join(line + b"\r\n" for line in lines)

    def send_setup(self) -> bytes:
        """Command lines after which AT+CIPSEND on link 0 is accepted."""
        lines = [] if self.joined else [b'AT+CWJAP="fuzz","pw"']
        if not self.joined or 0 not in self.links:
            lines.append(b'AT+CIPSTART=0,"TCP","10.0.0.1",8080' if self.multiple
                         else b'AT+CIPSTART="TCP","10.0.0.1",8080')
        return b"".join(line + b"\r\n" for line in lines)

    def send_accepted(self, count: int, form: str = "n") -> bool:
        """E21: the plain form with CIPMUX=0, the id form with CIPMUX=1."""
        return (1 <= count <= self.profile.max_send and 0 in self.links
                and form == ("0,n" if self.multiple else "n"))


# -- the harness ---------------------------------------------------------------------


def _event_spec(event: object) -> tuple:
    match event:
        case CommandLine(line):
            return ("line", line)
        case CommandHead(line):
            return ("head", line)
        case Payload(data):
            return ("payload", data)
        case TransparentData(data):
            return ("data", data)
        case EscapeSeen():
            return ("escape",)
        case LineTooLong():
            return ("too_long",)
    return ("?", repr(event))


class Harness:
    def __init__(self, dialect: str, *, line_limit: int = 64, guard: float = 1 / 64,
                 payload_limit: int = 2048, esp_at_version: str = "2.4") -> None:
        self.dialect = dialect
        self.reactions: SktReactions | CipReactions | EspReactions = (
            SktReactions(payload_limit) if dialect == "skt"
            else EspReactions(esp_at_version) if dialect == "esp-at" else CipReactions())
        self.framer = self.reactions.framer(line_limit, guard)
        self.line_limit = self.framer.line_limit  # the dialect may cap it (ESP-AT: 256)
        self.payload_limit = payload_limit
        self.guard = guard
        self.guard_ticks = guard / TICK
        self.escape = self.framer.escape
        self.forms = sorted(self.escape.complete_forms(), key=len)
        self.longest_form = len(self.forms[-1])
        self.packing = self.framer.packing
        self.skt = dialect == "skt"
        self.ticks = 0  # the arrival clock
        self.now = 0.0  # the time of the latest drain (>= every arrival so far)
        # command-mode model: unconsumed bytes and their arrival times
        self.buf = bytearray()
        self.segs: deque[list] = deque()  # [arrival, length] in order
        self.sub = LINE
        self.report = False
        self.left = 0
        self.terminator: bytes | None = None  # E22: the payload may end at \\0
        self.collected = bytearray()
        self.skip_lf = False
        self.last_arrival = 0.0  # when the host's latest byte arrived, in any mode
        # after the link went away: link data dropped until a guard of silence
        self.draining = False
        self.drain_from = 0.0
        self.mode_start = 0.0
        self.drained = 0
        # transparent-mode model (the dialect's view: until EscapeSeen or leaving)
        self.transparent = False
        self.declared: deque[tuple] = deque()
        self.lose_on_data = False
        self.stats: Counter[str] = Counter()
        self._reset_stream()

    # -- actions ------------------------------------------------------------------------

    def run(self, action: tuple) -> None:
        kind = action[0]
        if kind == "feed":
            self.feed(action[1], batch=action[2])
        elif kind == "advance":
            self.advance(action[1])
        elif kind == "lose":
            self.lose_link(mid_drain=action[1])
        elif kind == "declare":
            self.declare(action[1])
        elif kind == "declared":
            self.check_declared()
        else:
            raise ValueError(f"unknown action {action!r}")

    def feed(self, pieces: list[tuple[int, bytes]], *, batch: bool = False) -> None:
        for gap, data in pieces:
            target = self.ticks + gap
            if not batch:
                self._advance_to(target)
            self.ticks = target
            arrival = target * TICK
            self.now = max(self.now, arrival)
            self._receive(data, arrival)
            if not batch:
                self._drain()
        if batch:
            self._drain()
        self._lose_now()

    def advance(self, ticks: int) -> None:
        self._advance_to(self.ticks + ticks)
        self.ticks += ticks

    def lose_link(self, *, mid_drain: bool = False) -> None:
        """The link went away (SKT S9, CIP C8): leave_transparent() if in the mode."""
        self.stats["lose"] += 1
        if not self.transparent:
            self.reactions.link_lost()
        elif mid_drain:
            self.lose_on_data = True
        else:
            self._leave()
            self._drain()

    def declare(self, expected: list[tuple]) -> None:
        if self.declared:
            fail(f"declared events never came: {list(self.declared)!r}")
        self.declared.extend(tuple(item) for item in expected)

    def check_declared(self) -> None:
        if self.declared:
            fail(f"declared events never came: {list(self.declared)!r}")

    def finish(self) -> None:
        """A long silence at the end: everything time can resolve is out."""
        self.advance(int(10 / TICK))
        self._lose_now()
        self.check_declared()
        if self.transparent:
            verdict = self._evaluate()
            if verdict is not None:
                p = verdict[1]
                if not (self.skt and verdict[0] == "maybe"
                        and not self.escape.is_complete(self.stream[p:])):
                    fail(f"after 10 s of silence still undecided: {verdict!r}")

    def check(self) -> None:
        """The invariants that hold between drains (also checked after each drain)."""
        self._after_drain()

    # -- what a generator may ask ---------------------------------------------------------

    def clean_command(self) -> bool:
        """In command mode at the start of a line: a line's events are predictable."""
        return (not self.transparent and not self.draining and self.sub == LINE
                and not self.buf and not self.skip_lf)

    def clean_transparent(self) -> bool:
        """In transparent mode with nothing that may be an escape pending."""
        return self.transparent and self._evaluate() is None

    def undelivered(self) -> bytes:
        return bytes(self.stream[self.delivered:])

    # -- feeding ---------------------------------------------------------------------------

    def _receive(self, data: bytes, arrival: float) -> None:
        self.framer.receive_data(data, arrival)
        if self.skip_lf and data:
            self.skip_lf = False
            if data[0] == LF:
                data = data[1:]
        if not data:
            return
        self.stats["bytes"] += len(data)
        if self.transparent:
            self._append_chunk(data, arrival)
        elif self.draining and arrival < self.drain_from + self.guard:
            self.drained += len(data)  # still the stream meant for the lost link
            self.drain_from = arrival
        else:
            self.draining = False
            self.buf += data
            self.segs.append([arrival, len(data)])
        self.last_arrival = arrival

    def _advance_to(self, target: int) -> None:
        limit = target * TICK
        for _ in range(MAX_DEADLINES_PER_ADVANCE):
            deadline = self.framer.deadline()
            if deadline is None or deadline > limit:
                break
            self.now = max(self.now, deadline)
            self.stats["deadlines"] += 1
            self._drain()
        else:
            fail("deadline() keeps falling due: the port would spin")
        self.now = max(self.now, limit)
        self._drain(quiet=True)

    def _drain(self, *, quiet: bool = False) -> None:
        framer = self.framer
        for _ in range(MAX_EVENTS_PER_DRAIN):
            event = framer.next_event(self.now)
            if event is NEED_DATA:
                break
            if quiet:
                fail(f"next_event({self.now!r}) gave {event!r} though deadline() said "
                     f"nothing was due: the port would never have asked")
            self.stats[type(event).__name__] += 1
            if self.transparent:
                self._transparent_event(event)
            else:
                self._command_event(event)
            self._check_declared_event(event)
            if self.lose_on_data and self.transparent and isinstance(event, TransparentData):
                self.lose_on_data = False  # the send failed: the port leaves at once
                self.stats["lose_mid_drain"] += 1
                self._leave()
        else:
            fail("next_event never returned NEED_DATA")
        self._after_drain()

    def _lose_now(self) -> None:
        """A mid-drain loss whose TransparentData never came: leave between drains."""
        if self.lose_on_data:
            self.lose_on_data = False
            if self.transparent:
                self._leave()
                self._drain()

    # -- declared expectations ----------------------------------------------------------------

    def _check_declared_event(self, event: object) -> None:
        if not self.declared:
            return
        want = self.declared[0]
        got = _event_spec(event)
        if want[0] == "data" and got[0] == "data":
            if not want[1].startswith(got[1]):
                fail(f"declared transparent data {want[1]!r}, got {got[1]!r}")
            rest = want[1][len(got[1]):]
            if rest:
                self.declared[0] = ("data", rest)
            else:
                self.declared.popleft()
            return
        if want[0] == "data" and not want[1]:
            self.declared.popleft()
            self._check_declared_event(event)
            return
        if got != want:
            fail(f"declared {want!r}, got {got!r}")
        self.declared.popleft()

    # -- command mode (G1, G3, G7, S5, C9) -----------------------------------------------------

    def _consume(self, count: int) -> None:
        del self.buf[:count]
        segs = self.segs
        while count and segs:
            first = segs[0]
            if first[1] <= count:
                count -= first[1]
                segs.popleft()
            else:
                first[1] -= count
                count = 0

    def _line_end(self, end: int) -> None:
        """G1: CR, LF or CR LF (once); an LF still to come after a final CR is skipped."""
        after = end + 1
        if self.buf[end] == CR:
            if after < len(self.buf):
                if self.buf[after] == LF:
                    after += 1
            else:
                self.skip_lf = True
        self._consume(after)

    def _next_command(self) -> object | None:
        """The event the buffered command-mode bytes make, if any (reference framing)."""
        buf = self.buf
        while True:
            if self.sub == PAYLOAD and self.terminator is not None:
                ended = terminated(bytes(self.collected) + bytes(buf[:self.left]),
                                   len(self.collected) + self.left)
                if ended is None:
                    take = min(self.left, len(buf))
                    self.collected += buf[:take]
                    self._consume(take)
                    self.left -= take
                    return None
                data, taken = ended
                self._consume(taken - len(self.collected))
                self.sub = LINE
                self.collected.clear()
                return Payload(data)
            if self.sub == PAYLOAD:
                take = min(self.left, len(buf))
                if take:
                    self.collected += buf[:take]
                    self._consume(take)
                    self.left -= take
                if self.left:
                    return None
                self.sub = LINE
                data = bytes(self.collected)
                self.collected.clear()
                return Payload(data)
            match = LINE_END.search(buf)
            end = match.start() if match else None
            if self.sub == DISCARD:
                if end is None:
                    self._consume(len(buf))
                    return None
                self._line_end(end)
                self.sub = LINE
                if self.report:
                    self.report = False
                    return LineTooLong()
                continue
            line_end = len(buf) if end is None else end
            if self.skt and buf.startswith(skt.SEND_PREFIX):
                colon = buf.find(b":", 0, line_end)
                if colon >= 0:  # S5: the head ends at the colon, data follows
                    head = bytes(buf[:colon])
                    self._consume(colon + 1)
                    self.sub = DISCARD
                    self.report = len(head) > self.line_limit
                    if self.report:
                        continue
                    return CommandHead(head)
            if end is None:
                if len(buf) > self.line_limit:  # G1: discarded up to its end
                    self._consume(len(buf))
                    self.sub = DISCARD
                    self.report = True
                    continue
                return None
            line = bytes(buf[:end])
            self._line_end(end)
            if len(line) > self.line_limit:
                return LineTooLong()
            if line:
                return CommandLine(line)

    def _drain_over(self) -> None:
        if self.draining and self.now >= self.drain_from + self.guard:
            self.draining = False

    def _command_event(self, event: object) -> None:
        self._drain_over()
        if self.draining:
            fail(f"{event!r} within a guard of the link data of a lost link")
        expected = self._next_command()
        if event != expected:
            fail(f"framer gave {event!r}, the model expected {expected!r}")
        if isinstance(event, CommandHead):
            count = self.reactions.on_head(event.line)
            if count is not None:
                self._expect_payload(count)
        elif isinstance(event, CommandLine):
            reaction = self.reactions.on_line(event.line)
            if reaction is not None:
                if reaction[0] == "payload":
                    self._expect_payload(reaction[1])
                elif reaction[0] == "payload_ex":
                    self._expect_payload(reaction[1], TERMINATOR)
                else:
                    self._enter_transparent()

    def _expect_payload(self, count: int, terminator: bytes | None = None) -> None:
        self.framer.expect_payload(count, terminator)
        self.sub = PAYLOAD
        self.left = count
        self.terminator = terminator
        self.report = False
        self.collected.clear()

    # -- transparent mode (G3, G5, S9, C10) ------------------------------------------------------

    def _reset_stream(self) -> None:
        self.stream = bytearray()
        self.starts: list[int] = []  # chunk start offsets
        self.times: list[float] = []  # chunk arrival times
        self.quiet: list[int] = []  # chunk starts that followed silence (or the mode start)
        self.cand = 0  # quiet points before this one can never start the escape
        self.delivered = 0
        self.fresh = True

    def _enter_transparent(self) -> None:
        self.framer.enter_transparent(self.now)
        self.stats["enter"] += 1
        self.transparent = True
        self.mode_start = self.now
        self._reset_stream()
        # G5: bytes already buffered are link data; what decides whether an escape
        # stood alone is when they arrived on the wire
        offset = 0
        for arrival, length in self.segs:
            self._append_chunk(bytes(self.buf[offset:offset + length]), arrival)
            offset += length
        self.buf.clear()
        self.segs.clear()

    def _append_chunk(self, data: bytes, arrival: float) -> None:
        quiet = self.fresh or arrival >= self.times[-1] + self.guard
        self.fresh = False
        if quiet:
            self.quiet.append(len(self.stream))
        self.starts.append(len(self.stream))
        self.times.append(arrival)
        self.stream += data

    def _time_at(self, offset: int) -> float:
        return self.times[bisect.bisect_right(self.starts, offset) - 1]

    def _tight(self, start: int, end: int) -> bool:
        """CIP G5: no gap of a guard or more between the bytes in [start, end)."""
        index = bisect.bisect_right(self.starts, start)
        while index < len(self.starts) and self.starts[index] < end:
            if not self.times[index] - self.times[index - 1] < self.guard:
                return False
            index += 1
        return True

    def _judge(self, p: int) -> tuple | None:
        """Whether an escape starting at quiet point ``p`` stood alone (G5):
        ("escape", p, end, by_arrival), ("maybe", p) while undecided, None if
        it never can."""
        stream = self.stream
        n = len(stream)
        cip = self.escape.max_gap is not None
        for form in self.forms:
            end = p + len(form)
            if end > n or stream[p:end] != form or (cip and not self._tight(p, end)):
                continue
            last = self._time_at(end - 1)
            if end < n:
                if self._time_at(end) >= last + self.guard:
                    return ("escape", p, end, True)  # silence after, seen by what came next
                continue
            if self.now >= last + self.guard:
                return ("escape", p, end, False)  # silence after, seen by the clock
            return ("maybe", p)
        rest = stream[p:p + self.longest_form + 1]
        if len(rest) <= self.longest_form and self.escape.could_be(rest):
            if not cip:
                return ("maybe", p)  # SKT: the rest may come after any gap
            if self._tight(p, n) and self.now < self._time_at(n - 1) + self.guard:
                return ("maybe", p)
        return None

    def _evaluate(self) -> tuple | None:
        """The first escape that stood alone, or the first still undecided one."""
        index = self.cand
        while index < len(self.quiet):
            verdict = self._judge(self.quiet[index])
            if verdict is not None:
                return verdict
            index += 1
            self.cand = index  # never again: judging only ever gets stricter
        return None

    def _transparent_event(self, event: object) -> None:
        verdict = self._evaluate()
        limit = len(self.stream) if verdict is None else verdict[1]
        if isinstance(event, TransparentData):
            data = event.data
            end = self.delivered + len(data)
            if not data:
                fail("empty TransparentData")
            if end > limit or self.stream[self.delivered:end] != data:
                fail(f"TransparentData {data[:40]!r}... ({len(data)} bytes) is not the next "
                     f"data: delivered {self.delivered}, decided up to {limit}, "
                     f"next {bytes(self.stream[self.delivered:self.delivered + 40])!r}, "
                     f"verdict {verdict!r}")
            if self.packing is not None and len(data) % self.packing.size:
                last = self.times[-1]
                if not (verdict is not None or self.now >= last + self.packing.quiet
                        or self.now >= last + self.guard):
                    fail(f"a part packet of {len(data)} bytes at {self.now!r}, "
                         f"{self.now - last:.4f} s after the last byte (C10)")
            self.delivered = end
        elif isinstance(event, EscapeSeen):
            if verdict is None or verdict[0] != "escape":
                fail(f"EscapeSeen, but no escape stood alone (G5): verdict {verdict!r}, "
                     f"undelivered {bytes(self.stream[self.delivered:])[:40]!r}")
            if self.delivered != verdict[1]:
                fail(f"EscapeSeen with data before it undelivered: {self.delivered} "
                     f"of {verdict[1]}")
            self.stats["escape_bytes"] += verdict[2] - verdict[1]
            self._to_command(verdict[2])
        else:
            fail(f"{event!r} in transparent mode")

    def _to_command(self, offset: int) -> None:
        """Back to command mode; the bytes from ``offset`` on are command bytes."""
        self.transparent = False
        self.sub = LINE
        self.buf = bytearray(self.stream[offset:])
        self.segs = deque()
        for index, start in enumerate(self.starts):
            end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.stream)
            if end > offset:
                self.segs.append([self.times[index], end - max(start, offset)])
        self._reset_stream()

    def _leave(self) -> None:
        """leave_transparent(): undelivered data is dropped, and counted. If the
        framer already confirmed an escape (by later bytes' arrival), what
        follows it is commands; otherwise what the host still streams for the
        link is dropped until a guard of silence after its latest byte."""
        verdict = self._evaluate()
        escaped = verdict is not None and verdict[0] == "escape" and verdict[3]
        if escaped:
            limit, rest = verdict[1], verdict[2]
        else:
            limit = rest = len(self.stream)
        dropped = self.framer.leave_transparent()
        if dropped != limit - self.delivered:
            fail(f"leave_transparent() dropped {dropped} bytes, "
                 f"{limit - self.delivered} were undelivered")
        self.stats["dropped"] += dropped
        self.drained += dropped
        self.reactions.link_lost()
        self._to_command(rest)
        if not escaped:
            # silence counts from the host's latest byte, or the mode's start (G5)
            self.draining = True
            self.drain_from = max(self.last_arrival, self.mode_start)

    # -- after every drain ----------------------------------------------------------------------

    def _after_drain(self) -> None:
        framer = self.framer
        deadline = framer.deadline()
        if deadline is not None and deadline <= self.now:
            fail(f"deadline() {deadline!r} is not after now {self.now!r} with nothing due: "
                 f"the port would spin")
        if framer.drained != self.drained:
            fail(f"framer.drained is {framer.drained}, the model dropped {self.drained}")
        self._drain_over()
        if self.transparent:
            if framer.mode is not Mode.TRANSPARENT:
                fail(f"framer in {framer.mode} while the model is transparent")
            self._transparent_liveness(deadline)
        elif self.draining:
            if framer.mode is not Mode.DRAIN:
                fail(f"framer in {framer.mode}, the model drains a lost link's data")
            if deadline != self.drain_from + self.guard:
                fail(f"deadline() {deadline!r} while draining until "
                     f"{self.drain_from + self.guard!r}")
        else:
            expected = self._next_command()
            if expected is not None:
                fail(f"framer returned NEED_DATA but {expected!r} was due")
            want = {LINE: Mode.COMMAND, PAYLOAD: Mode.PAYLOAD,
                    DISCARD: Mode.TOO_LONG if self.report else Mode.SKIP_LINE}[self.sub]
            if framer.mode is not want:
                fail(f"framer in {framer.mode}, the model in {self.sub}")
            if deadline is not None:
                fail(f"deadline() {deadline!r} in command mode")
            if len(framer._buf) - framer._pos != len(self.buf):
                fail(f"framer holds {len(framer._buf) - framer._pos} unconsumed bytes, "
                     f"the model {len(self.buf)}")
        # bounded memory (G1): an incomplete line at most, a held escape, a part packet
        if len(framer._buf) > self.line_limit:
            fail(f"framer buffer holds {len(framer._buf)} bytes, line limit "
                 f"{self.line_limit}")
        if len(framer._payload) > self.payload_limit or len(framer._held) > self.longest_form:
            fail("framer payload or held bytes over their bound")
        ready = sum(map(len, framer._ready))
        if ready >= (self.packing.size if self.packing else 1):
            fail(f"framer keeps {ready} ready bytes after NEED_DATA")

    def _transparent_liveness(self, deadline: float | None) -> None:
        verdict = self._evaluate()
        if verdict is not None and verdict[0] == "escape":
            fail(f"an escape stood alone but no EscapeSeen came (G5): {verdict!r}")
        limit = len(self.stream) if verdict is None else verdict[1]
        undelivered = limit - self.delivered
        timed = False
        if verdict is not None:
            timed = (self.escape.max_gap is not None
                     or self.escape.is_complete(self.stream[verdict[1]:]))
        if self.packing is None or verdict is not None:
            if undelivered:
                fail(f"{undelivered} bytes of decided data withheld")
        elif undelivered:
            if self.now >= self.times[-1] + self.packing.quiet:
                fail(f"{undelivered} bytes withheld {self.now - self.times[-1]:.4f} s "
                     f"after the last byte (C10)")
            if undelivered >= self.packing.size:
                fail(f"{undelivered} bytes withheld: a whole packet is waiting (C10)")
            timed = True
        if timed and deadline is None:
            fail("something waits for time but deadline() is None: the port would "
                 "never ask again")


def replay(dialect: str, config: dict[str, Any], actions: list[tuple]) -> Harness:
    harness = Harness(dialect, **config)
    for action in actions:
        harness.run(action)
    harness.finish()
    return harness
