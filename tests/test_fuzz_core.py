"""Stateful fuzzing of the sans-IO core: framer + argument parsers, per dialect.

One hypothesis state machine per dialect configuration drives the real
``Framer`` (configured as bridge/dialects/skt.py and cip.py configure it) the
way the port does, and reacts to what it frames with the real parsers as the
dialect would (SKTSEND count -> ``expect_payload``, AT+SKTTT=1 ->
``enter_transparent``; AT+CIPSEND=... -> ``expect_payload``, AT+CIPSEND in
passthrough -> ``enter_transparent``). The rules interleave valid, mutated
and garbage command lines, over-long lines, counted payloads whose bytes
include CR, LF, NUL, colons and ``AT+``, transparent bursts (with ``----`` /
``+++`` inside), escapes standing alone, near misses, the link going away,
arbitrary chunking (fed as the port feeds: drained after each chunk, or in
one batch after a busy spell) and clock advances.

The oracle is bridge/testing/fuzz_model.py (shared with bench/fuzz.py). After every
event and every drain it checks: no exception but the parsers' documented
ArgError; each Payload is exactly the bytes declared for it (S5, C9, G3, G7);
command lines out are the lines in, without empty ones, an over-long one
reported once as LineTooLong (G1); transparent data out is the data in, in
order, except exactly the escape, which is recognised iff it stood alone
(G5), and nothing decided is withheld (C10 packing aside); ``deadline()``
announces every time-only event and never lies in the past; the framer's
buffers stay bounded. Rules whose outcome is known without the model also
declare the events they must produce.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from bridge.at.events import NEED_DATA, CommandLine, EscapeSeen, TransparentData
from bridge.at.framer import Framer
from bridge.testing.fuzz_model import TICK, Harness

#: Without a shrink phase: shrinking these machines can take minutes (hypothesis
#: stops at 5), which a failing suite should not. Set AT_BRIDGE_FUZZ_SHRINK=1 to
#: get a minimal failing sequence.
PHASES = list(Phase) if os.environ.get("AT_BRIDGE_FUZZ_SHRINK") else [
    Phase.explicit, Phase.reuse, Phase.generate]
FUZZ = settings(max_examples=100, stateful_step_count=40, deadline=None, phases=PHASES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# -- strategies ------------------------------------------------------------------------

#: gaps before a piece: small tick counts, or symbolic ones resolved against the
#: guard in use (just under it, exactly / just over it, long, very long)
SHORT_GAP = st.one_of(st.integers(0, 3), st.just("below"))
ANY_GAP = st.one_of(st.integers(0, 3), st.sampled_from(["below", "at", "long", "huge"]))
SILENCE = st.sampled_from(["at", "long", "huge"])
CUTS = st.lists(st.integers(0, 300), max_size=5)
BATCH = st.sampled_from([False, False, False, True])
TERMINATOR = st.sampled_from([b"\r\n", b"\r", b"\n"])

SPECIAL = [b"\r", b"\n", b"\r\n", b"\x00", b":", b"AT+", b"----", b"+++", b"-", b"+", b"\xff",
           b",", b'"', b" ", b"AT+SKTSEND=3,1:", b"AT+SKTTT=1", b"AT+CIPSEND"]
DATA = st.lists(st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=6)),
                max_size=12).map(b"".join)
LINE_DATA = DATA.map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))

MUTATION = st.tuples(st.integers(0, 80), st.sampled_from(["insert", "replace", "delete"]),
                     st.sampled_from([b"", b",", b'"', b" ", b"0", b"-1", b"65536", b"99999999999",
                                      b"\x00", b":", b"=", b"?", b"AT+", b"x", b"5,"]))

SKT_TEMPLATES = [
    b"AT+SKTSTATE", b"AT+SKTCLIENT=0,127.0.0.1,5000", b"AT+SKTCLIENT=1,example.com,53,4000",
    b'AT+SKTCLIENT=2, "host.example" , 443', b"AT+SKTSERVER=0,5000", b"AT+SKTSERVER=1,6000",
    b"AT+SKTDEL=1", b"AT+SKTDEL=0", b"AT+SKTREAD=1,1500", b"AT+SKTRECVCFG=1",
    b"AT+SKTRECVCFG=0", b"AT+SKTTT=1", b"AT+SKTSEND=5,1", b"AT+ SKTSEND=5,1", b"AT+SKTTT?",
]
CIP_TEMPLATES = [
    b"AT", b"ATE0", b"AT+GMR", b"AT+RST", b"AT+CIPMUX=0", b"AT+CIPMUX=1", b"AT+CIPMUX?",
    b"AT+CIPMODE=0", b"AT+CIPMODE=1", b"AT+CIPMODE?", b'AT+CIPSTART="TCP","192.168.1.2",8080',
    b'AT+CIPSTART=0,"TCP","example.com",80,60', b'AT+CIPSTART="UDP","10.0.0.1",5000,6000',
    b'AT+CIPSTART=2,"TCP","0.0.0.0",0,0,8081,"0.0.0.0"', b"AT+CIPSEND=5", b"AT+CIPSEND=0,5",
    b"AT+CIPSEND", b"AT+CIPCLOSE", b"AT+CIPCLOSE=0", b"AT+CIPCLOSE=5", b"AT+CIPSTATUS?",
    b'AT+CIPDNS=1,"8.8.8.8","8.8.4.4"', b"AT+CIPDNS=0", b'AT+CIPDOMAIN="example.com"',
    b'AT+PING="1.1.1.1"', b'AT+CIPSNTPCFG=1,8,"pool.ntp.org"', b"AT+CIPSNTPCFG=0,-12",
    b"AT+CIPSNTPTIME?", b"AT+SYSSTORE=0",
]

ESP_TEMPLATES = [
    b"AT", b"ATE0", b"ATE1", b"AT+GMR", b"AT+RST", b"AT+RESTORE", b'AT+CWJAP="ssid","pw"',
    b'AT+CWJAP="a\\,b","p\\"w",,1', b"AT+CWQAP", b"AT+CWMODE=1", b"AT+CWMODE=0",
    b"AT+CIPMUX=0", b"AT+CIPMUX=1", b"AT+CIPMUX?", b"AT+CIPMODE=0", b"AT+CIPMODE=1",
    b'AT+CIPSTART="TCP","192.168.1.2",8080', b'AT+CIPSTART=0,"SSL","example.com",443,60',
    b'AT+CIPSTART="UDP","0.0.0.0",0,5000,2', b'AT+CIPSTARTEX="TCP","10.0.0.1",80',
    b"AT+CIPSEND=5", b"AT+CIPSEND=0,5", b'AT+CIPSEND=0,5,"10.0.0.9",53', b"AT+CIPSEND",
    b"AT+CIPSENDEX=5", b"AT+CIPSENDEX=0,8", b"AT+CIPCLOSE", b"AT+CIPCLOSE=0",
    b"AT+CIPCLOSE=5", b"AT+CIPSTATUS", b"AT+CIPSTATE?", b"AT+CIPRECVMODE=1",
    b"AT+CIPRECVDATA=0,64", b"AT+CIPRECVLEN?", b"AT+CIPSERVER=1,8080", b"AT+CIPSERVER=0,1",
    b'AT+CIPDOMAIN="example.com"', b'AT+PING="1.1.1.1"', b"AT+UART_CUR=115200,8,1,0,0",
    b"AT+SYSSTORE=0", b"AT+CWLAPOPT=1,31", b"?",
    # 1.7's names (E8-E13, E29, E31; ERROR in 2.4)
    b'AT+CWJAP_CUR="ssid","pw"', b'AT+CWJAP_DEF="ssid","pw"', b"AT+CWMODE_CUR=0",
    b"AT+CWMODE_DEF=1", b"AT+CIPSTA_CUR?", b'AT+CIPDNS_CUR=1,"1.1.1.1"', b"AT+UART=9600,8,1,0,0",
]

COUNT_TEXT = st.one_of(st.integers(1, 40).map(lambda n: str(n).encode()),
                       st.sampled_from([b"0", b"-1", b"2048", b"2049", b"x", b"", b" 5", b"+5",
                                        b"05", b"99999999999", b"5 5"]))


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts}) if data else []
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])
        start = point
    chunks.append(data[start:])
    return chunks


class CoreMachine(RuleBasedStateMachine):
    dialect = ""
    esp_at_version = "2.4"  # the ESP-AT profile (E1)
    templates: list[bytes] = []

    def __init__(self) -> None:
        super().__init__()
        self.h: Harness | None = None

    @property
    def harness(self) -> Harness:
        assert self.h is not None
        return self.h

    # -- plumbing ------------------------------------------------------------------------

    def ticks(self, gap: int | str) -> int:
        if isinstance(gap, int):
            return gap
        guard = self.harness.guard_ticks
        return {"below": int(guard - 0.5), "at": -int(-guard // 1), "long": int(guard * 6),
                "huge": int(20 / TICK)}[gap]

    def feed(self, data: bytes, cuts: list[int], gaps: list[int | str], batch: bool,
             lead: int | str = 0) -> None:
        chunks = split_at(data, cuts)
        pieces = [(self.ticks(lead) if i == 0 else self.ticks(gaps[i % len(gaps)] if gaps else 0),
                   chunk) for i, chunk in enumerate(chunks)]
        self.harness.feed(pieces, batch=batch)

    def declare_line(self, line: bytes) -> bool:
        """A line fed from a clean command state frames as itself (G1)."""
        h = self.harness
        if not h.clean_command() or b"\r" in line or b"\n" in line:
            return False
        if h.skt and line.startswith(b"AT+SKTSEND=") and b":" in line:
            return False
        if not line:
            return False
        h.declare([("too_long",) if len(line) > h.line_limit else ("line", line)])
        return True

    @initialize(guard=st.sampled_from([1 / 64, 0.02]), line_limit=st.sampled_from([48, 64]))
    def setup(self, guard: float, line_limit: int) -> None:
        self.h = Harness(self.dialect, line_limit=line_limit, guard=guard,
                         payload_limit=8192 if self.dialect == "esp-at" else 2048,
                         esp_at_version=self.esp_at_version)

    # -- command mode ------------------------------------------------------------------------

    @rule(data=st.data(), terminator=TERMINATOR, cuts=CUTS, gaps=st.lists(ANY_GAP, max_size=4),
          batch=BATCH)
    def valid_command(self, data, terminator, cuts, gaps, batch) -> None:
        line = data.draw(st.sampled_from(self.templates))
        declared = self.declare_line(line)
        self.feed(line + terminator, cuts, gaps, batch)
        if declared:
            self.harness.check_declared()

    @rule(data=st.data(), mutations=st.lists(MUTATION, min_size=1, max_size=3),
          terminator=TERMINATOR, cuts=CUTS, gaps=st.lists(ANY_GAP, max_size=4), batch=BATCH)
    def mutated_command(self, data, mutations, terminator, cuts, gaps, batch) -> None:
        line = bytearray(data.draw(st.sampled_from(self.templates)))
        for where, how, token in mutations:
            at = where % (len(line) + 1)
            if how == "insert":
                line[at:at] = token
            elif how == "replace":
                line[at:at + len(token)] = token
            else:
                del line[at:at + 1 + len(token)]
        self.feed(bytes(line) + terminator, cuts, gaps, batch)

    @rule(line=LINE_DATA, terminator=TERMINATOR, cuts=CUTS,
          gaps=st.lists(ANY_GAP, max_size=4), batch=BATCH)
    def garbage_line(self, line, terminator, cuts, gaps, batch) -> None:
        declared = self.declare_line(line)
        self.feed(line + terminator, cuts, gaps, batch)
        if declared:
            self.harness.check_declared()

    @rule(excess=st.one_of(st.integers(-2, 2), st.integers(3, 400)),
          prefix=st.sampled_from([b"", b"AT+X=", b"AT+SKTSEND=", b"AT+SKTSEND=5,1"]),
          colon=st.sampled_from([None, -1, 0, 1]), terminator=TERMINATOR, cuts=CUTS,
          gaps=st.lists(ANY_GAP, max_size=4), batch=BATCH)
    def long_line(self, excess, prefix, colon, terminator, cuts, gaps, batch) -> None:
        """G1: lines around and far over the limit; SKTSEND heads with the colon
        just inside, at or just past the limit."""
        h = self.harness
        size = max(len(prefix), h.line_limit + excess)
        line = bytearray(prefix + b"y" * (size - len(prefix)))
        if colon is not None:
            at = min(max(h.line_limit + colon, len(prefix)), len(line) - 1)
            line[at] = ord(":")
        declared = self.declare_line(bytes(line))
        self.feed(bytes(line) + terminator, cuts, gaps, batch)
        if declared:
            self.harness.check_declared()

    @rule(count=COUNT_TEXT, args=st.sampled_from([b"1", b"9", b"0", b"x", b"", b"1,10.0.0.1,5000",
                                                   b'1, "1.2.3.4" ,80', b"1,2"]),
          payload=DATA, exact=st.booleans(), after=st.sampled_from([b"", b"\r\n", b"AT\r\n"]),
          cuts=CUTS, gaps=st.lists(ANY_GAP, max_size=4), batch=BATCH)
    def skt_send(self, count, args, payload, exact, after, cuts, gaps, batch) -> None:
        """S5/G7: AT+SKTSEND=<n>,...:<n bytes>, the bytes anything at all."""
        h = self.harness
        if not h.skt:
            return
        head = b"AT+SKTSEND=" + count + (b"," + args if args else b"")
        n = int(count) if count.isdigit() and len(count) <= 10 else None
        valid = n is not None and h.reactions.send_accepted(n)
        if valid and exact:
            assert n is not None
            payload = (payload * (n // max(len(payload), 1) + 1) if payload else b"z" * n)[:n]
        declared = False
        if valid and exact and h.clean_command() and len(head) <= h.line_limit:
            h.declare([("head", head), ("payload", payload)])
            declared = True
        self.feed(head + b":" + payload + after, cuts, gaps, batch)
        if declared:
            h.check_declared()

    @rule(n=st.integers(1, 40), form=st.sampled_from(["n", "0,n", "1,n", "n,host", "0", "", "0,0",
                                                       "2049", "0,n,host", "n,"]),
          setup=st.booleans(), payload=DATA, cuts=CUTS, gaps=st.lists(ANY_GAP, max_size=4),
          batch=BATCH)
    def cip_send(self, n, form, setup, payload, cuts, gaps, batch) -> None:
        """C9, E21: AT+CIPSEND=[<id>,]<len>[,<host>,<port>], then <len> raw bytes."""
        h = self.harness
        if h.skt:
            return
        if setup and h.clean_command():
            self.feed(h.reactions.send_setup(), cuts, gaps, batch)
        args = form.replace("n", str(n)).replace("host", '"10.0.0.2",7000').encode()
        line = b"AT+CIPSEND=" + args
        payload = (payload * (n // max(len(payload), 1) + 1) if payload else b"q" * n)[:n]
        declared = False
        if form in ("n", "0,n") and h.reactions.send_accepted(n, form) and h.clean_command():
            h.declare([("line", line), ("payload", payload)])
            declared = True
        self.feed(line + b"\r\n" + payload, cuts, gaps, batch)
        if declared:
            h.check_declared()

    @rule(n=st.integers(1, 40), form=st.sampled_from(["n", "0,n"]), setup=st.booleans(),
          payload=DATA, end=st.sampled_from(["terminator", "count", "escaped"]),
          after=st.sampled_from([b"", b"\r\n", b"AT\r\n"]), cuts=CUTS,
          gaps=st.lists(ANY_GAP, max_size=4), batch=BATCH)
    def esp_send_ex(self, n, form, setup, payload, end, after, cuts, gaps, batch) -> None:
        """E22: AT+CIPSENDEX=[<id>,]<len>: the data ends at <len> bytes or at
        the terminator, and a backslash before it makes it data."""
        h = self.harness
        if h.dialect != "esp-at":
            return
        if setup and h.clean_command():
            self.feed(h.reactions.send_setup(), cuts, gaps, batch)
        line = b"AT+CIPSENDEX=" + form.replace("n", str(n)).encode()
        body = (payload * (n // max(len(payload), 1) + 1) if payload else b"e" * n)[:n]
        if end == "terminator":
            body = body[:n // 2].replace(b"\\", b"/") + b"\\0"
        elif end == "escaped":
            body = (b"\\\\0" + body)[:n]
        self.feed(line + b"\r\n" + body + after, cuts, gaps, batch)

    @precondition(lambda self: self.h is not None and not self.h.transparent)
    @rule(cuts=CUTS, gaps=st.lists(ANY_GAP, max_size=4), batch=BATCH, data=DATA,
          with_data=st.booleans())
    def enter_transparent(self, cuts, gaps, batch, data, with_data) -> None:
        """AT+SKTTT=1 (S9) / AT+CIPSEND in passthrough (C10), optionally with data
        right behind it (in one batch: the bytes were queued while the port was busy)."""
        h = self.harness
        prefix = b"p" * h.left if h.sub == "payload" else b""
        prefix += b"\r\n"
        self.feed(prefix + h.reactions.enter_sequence() + (data if with_data else b""),
                  cuts, gaps, batch or with_data)

    # -- transparent mode ---------------------------------------------------------------------

    @precondition(lambda self: self.h is not None and self.h.transparent)
    @rule(data=DATA, cuts=CUTS, gaps=st.lists(SHORT_GAP, max_size=4), lead=ANY_GAP, batch=BATCH)
    def burst(self, data, cuts, gaps, lead, batch) -> None:
        """G3/G5: link data in a burst; `----`/`+++` inside it are data."""
        self.feed(data, cuts, gaps, batch, lead=lead)

    @precondition(lambda self: self.h is not None and self.h.transparent)
    @rule(pre=SILENCE, post=SILENCE, trailer=st.sampled_from([b"", b"\r", b"\n", b"\r\n"]),
          cuts=st.lists(st.integers(0, 6), max_size=4), skt_gaps=st.lists(ANY_GAP, max_size=4),
          cip_gaps=st.lists(SHORT_GAP, max_size=3))
    def escape_alone(self, pre, post, trailer, cuts, skt_gaps, cip_gaps) -> None:
        """G5: silence, the escape (SKT: any gaps, optional line end; CIP: gaps under
        the guard), silence: the data before it comes out, then EscapeSeen."""
        h = self.harness
        h.advance(self.ticks(pre))
        escape = b"----" + trailer if h.skt else b"+++"
        declared = False
        if h.clean_transparent():
            h.declare([("data", h.undelivered()), ("escape",)])
            declared = True
        self.feed(escape, cuts, skt_gaps if h.skt else cip_gaps, False)
        h.advance(self.ticks(post))
        if declared:
            h.check_declared()
            assert not h.transparent

    @precondition(lambda self: self.h is not None and self.h.transparent)
    @rule(pre=ANY_GAP, gaps=st.lists(ANY_GAP, min_size=1, max_size=4),
          cuts=st.lists(st.integers(0, 6), max_size=4), after_gap=ANY_GAP, after=DATA)
    def escape_near_miss(self, pre, gaps, cuts, after_gap, after) -> None:
        """G5: an escape whose silence before, between or after may fall short."""
        h = self.harness
        escape = b"----" if h.skt else b"+++"
        self.feed(escape, cuts, gaps, False, lead=pre)
        if after:
            self.feed(after, [], [], False, lead=after_gap)

    @rule(gap=ANY_GAP)
    def advance(self, gap) -> None:
        self.harness.advance(self.ticks(gap))

    @precondition(lambda self: self.h is not None and self.h.transparent)
    @rule(mid_drain=st.booleans(), data=DATA, lead=ANY_GAP, cuts=CUTS,
          gaps=st.lists(SHORT_GAP, max_size=4))
    def link_goes_away(self, mid_drain, data, lead, cuts, gaps) -> None:
        """S9/C8: the link ends during transparent mode: leave_transparent(),
        between drains or when a send fails (after the next TransparentData);
        the host may still be streaming for it."""
        h = self.harness
        h.lose_link(mid_drain=mid_drain)
        self.feed(data, cuts, gaps, False, lead=lead)

    @precondition(lambda self: self.h is not None and not self.h.transparent)
    @rule()
    def link_goes_away_in_command_mode(self) -> None:
        self.harness.lose_link()

    @rule(data=st.one_of(st.binary(max_size=80), DATA), cuts=CUTS,
          gaps=st.lists(ANY_GAP, max_size=4), batch=BATCH)
    def raw_bytes(self, data, cuts, gaps, batch) -> None:
        self.feed(data, cuts, gaps, batch)

    @invariant()
    def invariants_hold(self) -> None:
        if self.h is not None:
            self.h.check()

    def teardown(self) -> None:
        if self.h is not None:
            self.h.finish()


class SktMachine(CoreMachine):
    dialect = "skt"
    templates = SKT_TEMPLATES


class CipMachine(CoreMachine):
    dialect = "cip"
    templates = CIP_TEMPLATES


class EspMachine(CoreMachine):
    dialect = "esp-at"
    templates = ESP_TEMPLATES


class Esp17Machine(EspMachine):
    esp_at_version = "1.7"


TestSktCore = SktMachine.TestCase
TestSktCore.settings = FUZZ
TestCipCore = CipMachine.TestCase
TestCipCore.settings = FUZZ
TestEspCore = EspMachine.TestCase
TestEspCore.settings = FUZZ
TestEsp17Core = Esp17Machine.TestCase
TestEsp17Core.settings = FUZZ


# -- what the machines found, as plain tests ---------------------------------------------


def drain(framer: Framer, now: float) -> list:
    events = []
    while (event := framer.next_event(now)) is not NEED_DATA:
        events.append(event)
    return events


def test_link_lost_before_any_data_still_drains_the_hosts_stream():
    """S9/C8 (leave_transparent's contract): when the link goes away right after
    the mode began, what the host streams for it within a guard is dropped, not
    run as commands. The silence counts from the host's latest byte or the
    mode's start, not from a transparent byte of some earlier session (or 0.0)."""
    framer = Framer()
    framer.receive_data(b"AT+SKTTT=1\r\n", 100.0)
    assert drain(framer, 100.0) == [CommandLine(b"AT+SKTTT=1")]
    framer.enter_transparent(100.0)
    assert framer.leave_transparent() == 0  # the link went away at once
    framer.receive_data(b"AT+SKTDEL=0\r\n", 100.005)  # link data, 5 ms later
    assert drain(framer, 100.005) == []
    assert framer.drained == 13


def test_bytes_queued_behind_the_entering_command_keep_their_arrival_times():
    """G4/G5: bytes that arrived behind AT+SKTTT=1 while the port was busy are
    link data, and their arrival times (not the time the mode began) decide
    whether an escape stood alone: `----` came 30 ms after `hello`, then
    silence, so it is the escape."""
    framer = Framer()
    framer.receive_data(b"AT+SKTTT=1\r\nhello", 100.0)
    framer.receive_data(b"----", 100.030)  # queued: the port was busy
    assert framer.next_event(100.031) == CommandLine(b"AT+SKTTT=1")
    framer.enter_transparent(100.031)
    events = drain(framer, 100.031) + drain(framer, 100.2)
    assert events == [TransparentData(b"hello"), EscapeSeen()]


def test_the_esp_model_follows_its_profile():
    """E1, E9, E21: the model binds with the profile's table (1.7 joins with
    AT+CWJAP_CUR=, 2.4 does not know the name) and takes its send limit."""
    for version, joins in (("1.7", True), ("2.4", False)):
        harness = Harness("esp-at", esp_at_version=version)
        harness.feed([(0, b'AT+CWJAP_CUR="a","b"\r\n')])
        assert harness.reactions.joined is joins
        harness.feed([(0, b'AT+CWJAP="a","b"\r\nAT+CIPSTART="TCP","10.0.0.1",80\r\n')])
        assert harness.reactions.send_accepted(2048)
        assert harness.reactions.send_accepted(2049) is (version == "2.4")
