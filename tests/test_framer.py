"""The sans-IO framer (bridge/at/framer.py): UART bytes in, events out.

Every test drives the framer the way the port does (h11 style): feed bytes
with ``receive_data(data, arrival)``, then pull events with
``next_event(now)`` until ``NEED_DATA``. Times are explicit floats; where a
guard of silence must pass, the test calls ``next_event`` at a time safely
past ``framer.deadline()``.

NOTES items: G1 (line ends, line limit), G3 (raw payloads), G5 (escapes),
G7 (counted payloads), S5 (SKTSEND framing), C9 (CIPSEND payload).
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bridge.at.events import (
    NEED_DATA,
    CommandHead,
    CommandLine,
    EscapeSeen,
    LineTooLong,
    Payload,
    TransparentData,
)
from bridge.at.framer import SKT_ESCAPE, Escape, Framer, Mode

GUARD = 0.02  # the default guard (NOTES G5)
SEND = b"AT+SKTSEND="
CIP_ESCAPE = Escape(b"+++", max_gap=GUARD)  # ESP-AT's rule (NOTES G5)

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


# -- helpers ------------------------------------------------------------------


def drain(framer: Framer, now: float = 0.0, payloads: dict | None = None) -> list:
    """All events available at ``now``.

    ``payloads`` maps an event (a CommandHead, or a CommandLine for CIPSEND)
    to the count the dialect would pass to ``expect_payload`` right after it
    (as the SKT dialect does on AT+SKTSEND, S5).
    """
    events = []
    while True:
        event = framer.next_event(now)
        if event is NEED_DATA:
            return events
        events.append(event)
        if payloads is not None and event in payloads:
            framer.expect_payload(payloads[event])


def feed(framer: Framer, chunks, now: float = 0.0, payloads=None) -> list:
    """Feed each chunk and drain after it, as the port does."""
    events = []
    for chunk in chunks:
        framer.receive_data(chunk, now)
        events += drain(framer, now, payloads)
    return events


def split_at(data: bytes, cuts) -> list[bytes]:
    """``data`` cut at the given positions (any order, duplicates allowed)."""
    points = sorted({c % (len(data) + 1) for c in cuts}) if data else []
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])
        start = point
    chunks.append(data[start:])
    return chunks


def joined(events) -> bytes:
    assert all(isinstance(e, TransparentData) and e.data for e in events), events
    return b"".join(e.data for e in events)


def settle(framer: Framer) -> list:
    """Let a guard of silence pass after the last byte: drain past the deadline."""
    deadline = framer.deadline()
    assert deadline is not None, "the framer holds nothing that waits for silence"
    return drain(framer, deadline + GUARD / 2)


cuts_strategy = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)


# -- command lines: line ends (NOTES G1) -----------------------------------------


def test_crlf_cr_lf_each_end_a_line_and_crlf_counts_once():
    """NOTES G1: CR LF, lone CR and lone LF end a line; CR LF counts once."""
    framer = Framer()
    events = feed(framer, [b"AT+A\r\nAT+B\rAT+C\nAT+D\r\n"])
    assert events == [CommandLine(b"AT+A"), CommandLine(b"AT+B"),
                      CommandLine(b"AT+C"), CommandLine(b"AT+D")]
    assert framer._buf == b""


def test_empty_lines_are_ignored():
    """NOTES G1: empty lines (any ending, any number) give no event."""
    framer = Framer()
    assert feed(framer, [b"\r\n\r\n\n\r\rAT\r\n\n\r\n"]) == [CommandLine(b"AT")]


def test_unterminated_line_waits_for_its_end():
    """NOTES G1: a line is only a line once its end arrives."""
    framer = Framer()
    assert feed(framer, [b"AT+SKTSTA"]) == []
    assert feed(framer, [b"TE"]) == []
    assert feed(framer, [b"\r"]) == [CommandLine(b"AT+SKTSTATE")]


def test_line_bytes_are_passed_unaltered():
    """NOTES G3 spirit: the line's bytes (NUL, 0xFF, spaces) are not re-encoded."""
    framer = Framer()
    line = b'AT+X=\x00\xff, "a b" '
    assert feed(framer, [line + b"\r\n"]) == [CommandLine(line)]


def test_cr_then_lf_in_next_chunk_counts_once():
    """NOTES G1: CR at the end of one chunk, LF at the start of the next: one line end.

    Made observable with a counted payload (CIPSEND style, C9): the payload
    starts after the LF, so a second LF is payload.
    """
    framer = Framer()
    assert feed(framer, [b"AT+CIPSEND=2\r"]) == [CommandLine(b"AT+CIPSEND=2")]
    framer.expect_payload(2)
    assert feed(framer, [b"\n"]) == []
    assert feed(framer, [b"\nX"]) == [Payload(b"\nX")]


def test_cr_lf_split_then_next_command():
    """NOTES G1: `AT\\r` | `\\nAT2\\r` | `\\n` gives exactly two lines."""
    framer = Framer()
    assert feed(framer, [b"AT\r", b"\nAT2\r", b"\n", b"AT3\n"]) == [
        CommandLine(b"AT"), CommandLine(b"AT2"), CommandLine(b"AT3")]


def test_cr_at_end_then_cr_is_a_new_line_end_not_skipped():
    """NOTES G1: only an LF is absorbed after a CR; a CR that follows is another line end."""
    framer = Framer()
    assert feed(framer, [b"AT+CIPSEND=2\r"]) == [CommandLine(b"AT+CIPSEND=2")]
    framer.expect_payload(2)
    assert feed(framer, [b"\r\n"]) == [Payload(b"\r\n")]


def test_lone_lf_end_then_lf_is_payload():
    """NOTES G1: after a lone LF line end, a following LF is payload, not line end."""
    framer = Framer()
    assert feed(framer, [b"AT+CIPSEND=2\n"]) == [CommandLine(b"AT+CIPSEND=2")]
    framer.expect_payload(2)
    assert feed(framer, [b"\n\nAT\r\n"]) == [Payload(b"\n\n"), CommandLine(b"AT")]


def test_crlf_in_same_chunk_then_payload():
    """NOTES G1: CR LF in one chunk: the payload starts after the LF."""
    framer = Framer()
    framer.receive_data(b"AT+CIPSEND=3\r\nabcAT\r\n", 0.0)
    assert framer.next_event(0.0) == CommandLine(b"AT+CIPSEND=3")
    framer.expect_payload(3)
    # NOTES C9: bytes after the counted ones are the next command, never dropped
    assert drain(framer) == [Payload(b"abc"), CommandLine(b"AT")]


# -- property: chunking does not change what is framed (NOTES G1) -------------

line_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
line_text = st.one_of(
    line_bytes,
    st.sampled_from([b"AT", b"AT+SKTSTATE", b"AT+SKTSEND=5,1", b"AT+X:y", b"AT+SKTSEND=x:",
                     b"AT+SKTSEND=3,1:abc", b""]),
)
ending = st.sampled_from([b"\r", b"\n", b"\r\n"])
LIMIT = 32


def _stream(pairs, tail: bytes) -> bytes:
    return b"".join(line + end for line, end in pairs) + tail


def _expected_lines(pairs) -> list:
    """The oracle for a framer without colon commands (NOTES G1)."""
    return [LineTooLong() if len(line) > LIMIT else CommandLine(line)
            for line, _ in pairs if line]


@FAST
@given(pairs=st.lists(st.tuples(line_text, ending), max_size=12), tail=line_bytes,
       cuts=cuts_strategy)
def test_property_lines_chunking_invariant(pairs, tail, cuts):
    """NOTES G1: any chunking of a stream of lines (CR, LF, CR LF, empty lines,
    lines over the limit) gives exactly the events of the whole stream, which
    are the non-empty lines in order (LineTooLong for those over the limit);
    an unterminated tail gives nothing yet."""
    data = _stream(pairs, tail)
    whole = feed(Framer(line_limit=LIMIT), [data])
    chunked = feed(Framer(line_limit=LIMIT), split_at(data, cuts))
    assert whole == _expected_lines(pairs)
    assert chunked == whole


@FAST
@given(pairs=st.lists(st.tuples(line_text, ending), max_size=12), tail=line_bytes,
       cuts=cuts_strategy)
def test_property_lines_chunking_invariant_with_colon_commands(pairs, tail, cuts):
    """NOTES G1/G7: with AT+SKTSEND= as a colon command and no expect_payload,
    chunking still changes nothing (heads are reported, their rest discarded)."""
    data = _stream(pairs, tail)
    whole = feed(Framer(line_limit=LIMIT, colon_commands=(SEND,)), [data])
    chunked = feed(Framer(line_limit=LIMIT, colon_commands=(SEND,)), split_at(data, cuts))
    assert chunked == whole
    # the oracle: a line starting AT+SKTSEND= with a colon is a head, rest dropped
    expected = []
    for line, _ in pairs:
        if line.startswith(SEND) and b":" in line:
            head = line[: line.index(b":")]
            expected.append(LineTooLong() if len(head) > LIMIT else CommandHead(head))
        elif line:
            expected.append(LineTooLong() if len(line) > LIMIT else CommandLine(line))
    if tail.startswith(SEND) and b":" in tail:  # a head needs no line end
        head = tail[: tail.index(b":")]
        expected.append(LineTooLong() if len(head) > LIMIT else CommandHead(head))
    assert whole == expected


@FAST
@given(first=line_bytes, second=line_bytes)
def test_property_cr_lf_split_counts_once(first, second):
    """NOTES G1: `<line>\\r` | `\\n<line>\\r\\n` frames like the whole stream."""
    assume(first and second)
    framer = Framer(line_limit=4096)
    events = feed(framer, [first + b"\r", b"\n" + second + b"\r\n"])
    assert events == [CommandLine(first), CommandLine(second)]


# -- AT+SKTSEND counted payloads (NOTES S5, G3, G7) ------------------------------


def test_sktsend_spec_example_14_bytes():
    """NOTES S5: the spec's example sends `Hello_World!` and CR LF as 14 bytes."""
    framer = Framer(colon_commands=(SEND,))
    events = feed(framer, [b"AT+SKTSEND=14,1:Hello_World!\r\nAT+SKTSTATE\r\n"],
                  payloads={CommandHead(b"AT+SKTSEND=14,1"): 14})
    assert events == [CommandHead(b"AT+SKTSEND=14,1"), Payload(b"Hello_World!\r\n"),
                      CommandLine(b"AT+SKTSTATE")]


def test_sktsend_crlf_after_payload_is_an_empty_line():
    """NOTES S5: a CR LF after the counted bytes is an empty line and ignored."""
    framer = Framer(colon_commands=(SEND,))
    events = feed(framer, [b"AT+SKTSEND=5,1:hello\r\nAT\r\n"],
                  payloads={CommandHead(b"AT+SKTSEND=5,1"): 5})
    assert events == [CommandHead(b"AT+SKTSEND=5,1"), Payload(b"hello"), CommandLine(b"AT")]


def test_sktsend_head_then_payload_in_later_chunks():
    """NOTES S5/G3: the payload may arrive in pieces after the head."""
    framer = Framer(colon_commands=(SEND,))
    assert feed(framer, [b"AT+SKTSEND=4,1:"]) == [CommandHead(b"AT+SKTSEND=4,1")]
    framer.expect_payload(4)
    assert feed(framer, [b"\r"]) == []
    assert feed(framer, [b"\n\x00"]) == []
    assert feed(framer, [b"\xffAT+SKTSTATE\r\n"]) == [Payload(b"\r\n\x00\xff"),
                                                       CommandLine(b"AT+SKTSTATE")]


def test_without_expect_payload_rest_of_line_is_discarded():
    """NOTES G7: a count that does not parse (no expect_payload): the rest of
    the line is discarded, the next line parses, and nothing is reported."""
    framer = Framer(colon_commands=(SEND,))
    events = feed(framer, [b"AT+SKTSEND=x,1:hel", b"lo:world", b"\r", b"\nAT\r\n"])
    assert events == [CommandHead(b"AT+SKTSEND=x,1"), CommandLine(b"AT")]


def test_colon_in_other_commands_is_part_of_the_line():
    """Only the configured colon commands are framed at the colon (S5)."""
    framer = Framer(colon_commands=(SEND,))
    assert feed(framer, [b"AT+SKTREAD=1:2\r\nATX=AT+SKTSEND=1:2\r\n"]) == [
        CommandLine(b"AT+SKTREAD=1:2"), CommandLine(b"ATX=AT+SKTSEND=1:2")]


def test_sktsend_without_colon_is_a_command_line():
    """NOTES G7: AT+SKTSEND framed as a line (no colon) is a CommandLine."""
    framer = Framer(colon_commands=(SEND,))
    assert feed(framer, [b"AT+SKTSEND=5,1\r\n"]) == [CommandLine(b"AT+SKTSEND=5,1")]


# lines before the payload command that are not themselves AT+SKTSEND heads
# (those are G7's, covered by ..._with_colon_commands above)
plain_lines = line_bytes.filter(lambda line: not (line.startswith(SEND) and b":" in line))


@FAST
@given(payload=st.binary(min_size=1, max_size=300), before=st.lists(plain_lines, max_size=3),
       after=st.sampled_from([b"AT+X\r\n", b"\r\nAT+X\r\n", b"AT+X\n", b"\nAT+X\r"]),
       cuts=cuts_strategy)
def test_property_sktsend_payload_exact_whatever_the_chunking(payload, before, after, cuts):
    """NOTES S5/G3/G7: CommandHead(b"AT+SKTSEND=<n>,1"), then after
    expect_payload(n) exactly the n bytes (any values, CR/LF included),
    whatever the chunking; the bytes after them are the next command."""
    n = len(payload)
    head = b"AT+SKTSEND=%d,1" % n
    prefix = b"".join(line + b"\r\n" for line in before)
    data = prefix + head + b":" + payload + after
    framer = Framer(colon_commands=(SEND,))
    events = feed(framer, split_at(data, cuts), payloads={CommandHead(head): n})
    expected = [CommandLine(line) for line in before if line]
    expected += [CommandHead(head), Payload(payload), CommandLine(b"AT+X")]
    assert events == expected
    assert framer.mode is Mode.COMMAND


@FAST
@given(payload=st.binary(min_size=1, max_size=200), cuts=cuts_strategy)
def test_property_cipsend_style_payload_after_line_end(payload, cuts):
    """NOTES G1/C9: a counted payload after a CR LF-ended command starts after
    the LF, even when CR and LF are in different chunks."""
    n = len(payload)
    line = b"AT+CIPSEND=%d" % n
    data = line + b"\r\n" + payload + b"AT\r\n"
    framer = Framer()
    events = feed(framer, split_at(data, cuts), payloads={CommandLine(line): n})
    assert events == [CommandLine(line), Payload(payload), CommandLine(b"AT")]


# -- line limit (NOTES G1, S13) -----------------------------------------------------


def test_line_of_exactly_the_limit_is_accepted_one_more_is_too_long():
    """NOTES G1: the limit is the longest accepted line; one byte more is discarded."""
    ok = b"A" * 16
    bad = b"B" * 17
    for chunks in ([ok + b"\r\n" + bad + b"\r\nAT\r\n"],
                   [bytes([b]) for b in ok + b"\r\n" + bad + b"\r\nAT\r\n"]):
        framer = Framer(line_limit=16)
        assert feed(framer, chunks) == [CommandLine(ok), LineTooLong(), CommandLine(b"AT")]


def test_long_line_reported_once_when_it_ends():
    """NOTES G1: a line far over the limit is one LineTooLong, at its end."""
    framer = Framer(line_limit=64)
    events = feed(framer, [b"X" * 50] * 20)
    assert events == []
    assert feed(framer, [b"X" * 10 + b"\r", b"\nAT\r\n"]) == [LineTooLong(), CommandLine(b"AT")]


def test_long_sktsend_head_is_too_long():
    """NOTES G1: a colon command whose head is over the limit is discarded to
    its line end (not treated as a payload head)."""
    framer = Framer(line_limit=16, colon_commands=(SEND,))
    events = feed(framer, [b"AT+SKTSEND=" + b"1" * 10 + b":abc\r\nAT\r\n"])
    assert events == [LineTooLong(), CommandLine(b"AT")]


@FAST
@given(chunk_sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=60),
       limit=st.integers(min_value=8, max_value=200), fill=st.binary(min_size=1, max_size=8),
       colon=st.booleans())
def test_property_buffer_bounded_on_long_unterminated_stream(chunk_sizes, limit, fill, colon):
    """NOTES G1: a long unterminated line never grows the buffer beyond
    line_limit + one chunk; its end gives one LineTooLong; the next line parses."""
    fill = fill.replace(b"\r", b"x").replace(b"\n", b"x")
    framer = Framer(line_limit=limit, colon_commands=(SEND,) if colon else ())
    total = 0
    events = []
    for size in chunk_sizes:
        chunk = (fill * (size // len(fill) + 1))[:size]
        total += size
        framer.receive_data(chunk, 0.0)
        assert len(framer._buf) <= limit + size
        events += drain(framer)
        assert len(framer._buf) <= limit
    events += feed(framer, [b"\r\nAT+OK\r\n"])
    # the oracle (no colon commands apply to `fill`-only lines unless they
    # start AT+SKTSEND=..., which `fill` of <= 8 bytes repeated cannot)
    assert events == ([LineTooLong()] if total > limit else [CommandLine(
        b"".join((fill * (s // len(fill) + 1))[:s] for s in chunk_sizes))]) + [
        CommandLine(b"AT+OK")]


# -- transparent mode (NOTES G3, G5, S9) ---------------------------------------------


def transparent(escape: Escape = SKT_ESCAPE, start: float = 100.0, guard: float = GUARD) -> Framer:
    framer = Framer(escape=escape, guard=guard)
    framer.enter_transparent(start)
    return framer


def timed_feed(framer: Framer, timeline) -> list:
    """Feed (arrival, bytes) pairs; drain at each arrival time (no guard passes)."""
    events = []
    for now, chunk in timeline:
        framer.receive_data(chunk, now)
        events += drain(framer, now)
    return events


def _timeline(chunks, start: float, gaps_ms) -> list:
    """Chunks at start + cumulative gaps (milliseconds, integers)."""
    timeline, now = [], start
    for i, chunk in enumerate(chunks):
        now += (gaps_ms[i % len(gaps_ms)] if gaps_ms else 0) / 1000
        timeline.append((now, chunk))
    return timeline


@FAST
@given(data=st.binary(max_size=400), cuts=cuts_strategy,
       gaps_ms=st.lists(st.integers(min_value=0, max_value=15), max_size=12),
       escape=st.sampled_from([SKT_ESCAPE, CIP_ESCAPE]))
def test_property_transparent_data_exact(data, cuts, gaps_ms, escape):
    """NOTES G3/G5: binary data in chunks whose gaps are below the guard comes
    out unaltered and in order, and never leaves the mode. A final byte `X`
    within the guard makes anything held at the start data too."""
    framer = transparent(escape)
    timeline = _timeline(split_at(data, cuts) + [b"X"], 100.0, gaps_ms)
    events = timed_feed(framer, timeline)
    events += drain(framer, timeline[-1][0] + 10.0)  # long silence afterwards
    assert joined(events) == data + b"X"
    assert framer.mode is Mode.TRANSPARENT


@FAST
@given(data=st.binary(min_size=1, max_size=200), cuts=cuts_strategy,
       gaps_ms=st.lists(st.integers(min_value=0, max_value=15), max_size=12),
       escape=st.sampled_from([SKT_ESCAPE, CIP_ESCAPE]))
def test_property_data_then_escape_in_one_burst_does_not_leave(data, cuts, gaps_ms, escape):
    """NOTES G5: `data----` (`data+++`) in one burst is data, even after a
    long silence that follows it."""
    framer = transparent(escape)
    stream = data + escape.sequence
    timeline = _timeline(split_at(stream, cuts), 100.0, gaps_ms)
    events = timed_feed(framer, timeline)
    last = timeline[-1][0]
    events += drain(framer, last + 10.0)
    assert EscapeSeen() not in events
    assert framer.mode is Mode.TRANSPARENT
    assert joined(events) == stream


def test_data_escape_in_one_chunk_is_data():
    """NOTES G5: `data----` in one chunk is data."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"x"), (101.0, b"data----")])
    events += drain(framer, 200.0)
    assert events == [TransparentData(b"x"), TransparentData(b"data----")]
    assert framer.mode is Mode.TRANSPARENT


@FAST
@given(data=st.binary(max_size=200), cuts=cuts_strategy,
       gaps_ms=st.lists(st.integers(min_value=0, max_value=15), max_size=12),
       trailer=st.sampled_from([b"", b"\r", b"\n", b"\r\n"]),
       esc_cuts=st.lists(st.integers(min_value=0, max_value=6), max_size=5),
       esc_gaps_ms=st.lists(st.integers(min_value=0, max_value=20_000), max_size=6),
       silence_ms=st.integers(min_value=25, max_value=60_000))
def test_property_skt_escape_alone_leaves(data, cuts, gaps_ms, trailer, esc_cuts, esc_gaps_ms,
                                         silence_ms):
    """NOTES G5/S9: data in a burst, >= guard of silence, then `----` (gaps
    between the hyphens of any length, optionally CR, LF or CR LF), then
    silence: all data exactly, then EscapeSeen, and back in command mode."""
    # data that is itself only (a prefix of) an escape is held at mode start;
    # see test_lone_hyphen_then_escape_typed_byte_by_byte
    assume(not data or not SKT_ESCAPE.could_be(data))
    framer = transparent()
    timeline = _timeline(split_at(data, cuts), 100.0, gaps_ms) if data else []
    events = timed_feed(framer, timeline)
    last = timeline[-1][0] if timeline else 100.0
    if data:
        # the port would call next_event during the silence: nothing comes
        assert drain(framer, last + 0.015) == []
    escape_chunks = [c for c in split_at(b"----" + trailer, esc_cuts) if c]
    # the first escape chunk comes silence_ms after the last data byte, the
    # others after gaps of any length (up to 20 s)
    now = last + silence_ms / 1000
    esc_timeline = []
    for i, chunk in enumerate(escape_chunks):
        if i:
            now += (esc_gaps_ms[i % len(esc_gaps_ms)] if esc_gaps_ms else 0) / 1000
        esc_timeline.append((now, chunk))
    events += timed_feed(framer, esc_timeline)
    # a trailer that came after the guard confirms the escape while feeding
    # (the escape happened before it); otherwise the silence after decides
    if framer.mode is Mode.TRANSPARENT:
        events += settle(framer)
    assert events[-1] == EscapeSeen()
    assert joined(events[:-1]) == data
    assert framer.mode is Mode.COMMAND
    # after the escape, bytes are commands again (the trailer was eaten)
    assert feed(framer, [b"AT+SKTSTATE\r\n"], now=esc_timeline[-1][0] + 1.0) == [
        CommandLine(b"AT+SKTSTATE")]


def test_skt_escape_alone_after_silence():
    """NOTES G5: `----` after >= guard of silence, then silence: EscapeSeen."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"hello"), (100.5, b"----")])
    assert events == [TransparentData(b"hello")]
    deadline = framer.deadline()
    assert deadline == 100.5 + GUARD
    assert framer.next_event(100.5 + GUARD / 2) is NEED_DATA  # not yet silent long enough
    assert framer.mode is Mode.TRANSPARENT
    assert framer.next_event(deadline + 0.001) == EscapeSeen()
    assert framer.mode is Mode.COMMAND
    assert framer.deadline() is None
    assert feed(framer, [b"AT\r\n"], now=101.0) == [CommandLine(b"AT")]


def test_skt_escape_at_mode_start():
    """NOTES G5: right at the start of the mode counts as silence before."""
    framer = transparent(start=100.0)
    assert timed_feed(framer, [(100.001, b"----")]) == []
    assert settle(framer) == [EscapeSeen()]
    assert framer.mode is Mode.COMMAND


def test_skt_escape_with_crlf_trailer_counts():
    """NOTES G5: `----\\r\\n` is the escape; the CR LF belongs to it."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"abc"), (101.0, b"----\r\n")])
    events += settle(framer)
    assert events == [TransparentData(b"abc"), EscapeSeen()]
    assert feed(framer, [b"\nAT\r\n"], now=102.0) == [CommandLine(b"AT")]


def test_skt_escape_with_cr_lf_trailer_in_pieces():
    """NOTES G5: the trailer may arrive in pieces too."""
    framer = transparent()
    events = timed_feed(framer, [(101.0, b"--"), (105.0, b"--\r"), (105.001, b"\n")])
    events += settle(framer)
    assert events == [EscapeSeen()]


def test_skt_hyphens_with_long_gaps_are_the_escape():
    """NOTES G5: SKT gaps between the hyphens may be any length (typed by a person)."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"data"), (101.0, b"-"), (103.0, b"-"),
                                 (110.0, b"-")])
    assert framer.deadline() is None  # an incomplete SKT escape waits for more bytes
    assert drain(framer, 500.0) == []
    events += timed_feed(framer, [(600.0, b"-")])
    events += settle(framer)
    assert events == [TransparentData(b"data"), EscapeSeen()]


def test_skt_escape_followed_too_soon_is_data():
    """NOTES G5: bytes within the guard after `----` make it data; the held
    hyphens are forwarded unaltered and in order, before the new bytes."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"a"), (101.0, b"--"), (102.0, b"--"),
                                 (102.005, b"b\x00\r\n")])
    events += drain(framer, 200.0)
    assert events == [TransparentData(b"a"), TransparentData(b"----b\x00\r\n")]
    assert framer.mode is Mode.TRANSPARENT


def test_held_hyphens_then_other_bytes_forwarded_in_order():
    """NOTES G5: held hyphens that turn out not to be the escape are forwarded
    unaltered, in order, together with what broke them."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"x"), (101.0, b"-"), (102.0, b"-"),
                                 (103.0, b"-y-")])
    events += drain(framer, 200.0)
    assert events == [TransparentData(b"x"), TransparentData(b"---y-")]
    assert framer.mode is Mode.TRANSPARENT


def test_skt_escape_with_wrong_trailer_is_data():
    """NOTES G5: `----\\n\\r` within the guard: the escape was not followed by silence."""
    framer = transparent()
    events = timed_feed(framer, [(101.0, b"----\n"), (101.001, b"\r")])
    events += drain(framer, 200.0)
    assert events == [TransparentData(b"----\n\r")]
    assert framer.mode is Mode.TRANSPARENT


def test_five_hyphens_in_one_burst_are_data():
    """NOTES G5: `-----` in one burst is not the escape."""
    framer = transparent()
    events = timed_feed(framer, [(101.0, b"-----")])
    events += drain(framer, 200.0)
    assert events == [TransparentData(b"-----")]


def test_silence_before_must_be_at_least_guard():
    """NOTES G5: a gap just under the guard before `----` makes it data; a gap
    of exactly the guard is enough (guard 1 s, exact float times)."""
    framer = transparent(start=0.0, guard=1.0)
    events = timed_feed(framer, [(10.0, b"a"), (10.5, b"----")])
    events += drain(framer, 100.0)
    assert events == [TransparentData(b"a"), TransparentData(b"----")]

    framer = transparent(start=0.0, guard=1.0)
    events = timed_feed(framer, [(10.0, b"a"), (11.0, b"----")])
    assert framer.deadline() == 12.0
    events += drain(framer, 12.5)
    assert events == [TransparentData(b"a"), EscapeSeen()]


def test_silence_after_must_be_at_least_guard():
    """NOTES G5: a byte just inside the guard after `----` makes it data; at
    exactly the guard after, the escape stood alone (guard 1 s, exact times)."""
    framer = transparent(start=0.0, guard=1.0)
    events = timed_feed(framer, [(10.0, b"a"), (20.0, b"----"), (20.75, b"b")])
    assert events == [TransparentData(b"a"), TransparentData(b"----b")]

    framer = transparent(start=0.0, guard=1.0)
    timed_feed(framer, [(10.0, b"a"), (20.0, b"----")])
    assert framer.next_event(20.75) is NEED_DATA
    assert framer.next_event(21.0) == EscapeSeen()


def test_lone_hyphen_after_silence_then_data():
    """NOTES G5: a held `-` followed by a non-escape byte after any gap is data, in order."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"a"), (101.0, b"-"), (150.0, b"b")])
    assert events == [TransparentData(b"a"), TransparentData(b"-b")]


def test_escape_twice_in_separate_sessions():
    """NOTES G5: after leaving and re-entering, the escape works again from mode start."""
    framer = Framer()
    for start in (100.0, 200.0):
        framer.enter_transparent(start)
        events = timed_feed(framer, [(start + 0.001, b"abc"), (start + 1.0, b"----")])
        events += settle(framer)
        assert events == [TransparentData(b"abc"), EscapeSeen()]
        assert framer.mode is Mode.COMMAND


def test_leave_transparent_reports_dropped_bytes():
    """NOTES S9: when the link goes away, undelivered bytes are dropped and counted."""
    framer = transparent()
    framer.receive_data(b"abc", 100.0)  # not yet pulled
    framer.receive_data(b"--", 101.0)   # held
    assert framer.leave_transparent() == 5
    assert framer.mode is Mode.DRAIN
    assert framer.deadline() == 101.0 + GUARD
    assert feed(framer, [b"AT\r\n"], now=102.0) == [CommandLine(b"AT")]
    assert framer.mode is Mode.COMMAND


def test_link_data_after_a_lost_link_never_runs_as_commands():
    """NOTES S9/C8: what the host still streams for a link that went away is
    dropped until a guard of silence; only then are bytes commands again."""
    framer = transparent()
    framer.receive_data(b"stream", 100.0)
    framer.leave_transparent()
    for offset in range(1, 10):  # the host keeps streaming, 10 ms apart
        framer.receive_data(b"AT+SKTDEL=0\r\n", 100.0 + offset * GUARD / 2)
        assert drain(framer, 100.0 + offset * GUARD / 2) == []
    assert framer.drained == 6 + 9 * 13
    assert drain(framer, 100.0 + 10 * GUARD) == []  # the guard passed: command mode
    assert feed(framer, [b"AT\r\n"], now=101.0) == [CommandLine(b"AT")]


# -- CIP-like `+++` (NOTES G5, C10) -------------------------------------------------


def test_cip_escape_alone_leaves():
    """NOTES G5: `+++` with short gaps, silence before and after: EscapeSeen."""
    framer = transparent(CIP_ESCAPE)
    events = timed_feed(framer, [(100.0, b"data"), (100.5, b"+"), (100.505, b"+"),
                                 (100.51, b"+")])
    assert events == [TransparentData(b"data")]
    events += settle(framer)
    assert events == [TransparentData(b"data"), EscapeSeen()]
    assert framer.mode is Mode.COMMAND


def test_cip_escape_at_mode_start_in_one_chunk():
    """NOTES G5: `+++` right at mode start, then silence."""
    framer = transparent(CIP_ESCAPE)
    assert timed_feed(framer, [(100.0, b"+++")]) == []
    assert settle(framer) == [EscapeSeen()]


def test_cip_gap_of_guard_between_pluses_means_data():
    """NOTES G5: a gap >= guard between the pluses: they are data, flushed at
    the deadline as TransparentData."""
    framer = transparent(CIP_ESCAPE)
    events = timed_feed(framer, [(100.0, b"x"), (101.0, b"+")])
    assert events == [TransparentData(b"x")]
    deadline = framer.deadline()
    assert deadline == 101.0 + GUARD
    assert framer.next_event(101.0 + GUARD / 2) is NEED_DATA
    assert framer.next_event(deadline + 0.001) == TransparentData(b"+")
    events = timed_feed(framer, [(101.1, b"+"), (101.101, b"+")])
    assert events == []
    assert settle(framer) == [TransparentData(b"++")]
    assert framer.mode is Mode.TRANSPARENT


def test_cip_gap_between_pluses_without_deadline_call():
    """NOTES G5: same, with the port not calling next_event in the gap."""
    framer = transparent(CIP_ESCAPE)
    events = timed_feed(framer, [(100.0, b"x"), (101.0, b"+"), (101.05, b"+"),
                                 (101.051, b"+")])
    events += settle(framer)
    assert joined(events) == b"x+++"
    assert EscapeSeen() not in events
    assert framer.mode is Mode.TRANSPARENT


def test_cip_escape_followed_too_soon_is_data():
    """NOTES G5: `+++` then a byte within the guard: all data, in order."""
    framer = transparent(CIP_ESCAPE)
    events = timed_feed(framer, [(101.0, b"++"), (101.001, b"+"), (101.002, b"\r\n")])
    events += drain(framer, 200.0)
    assert events == [TransparentData(b"+++\r\n")]
    assert framer.mode is Mode.TRANSPARENT


def test_cip_four_pluses_are_data():
    """NOTES G5: `++++` with short gaps is not the escape."""
    framer = transparent(CIP_ESCAPE)
    events = timed_feed(framer, [(101.0, b"++"), (101.001, b"++")])
    events += drain(framer, 200.0)
    assert events == [TransparentData(b"++++")]


# -- the LF after the CR that ended AT+SKTTT=1 (NOTES G1, S9) -------------------------


def test_lf_after_skttt_cr_in_later_chunk_is_line_end():
    """NOTES G1: `AT+SKTTT=1\\r` | enter_transparent | `\\nhello`: the LF
    belongs to the line end, the data is `hello`."""
    framer = Framer()
    assert feed(framer, [b"AT+SKTTT=1\r"], now=100.0) == [CommandLine(b"AT+SKTTT=1")]
    framer.enter_transparent(100.0)
    assert timed_feed(framer, [(100.001, b"\nhello")]) == [TransparentData(b"hello")]


def test_lf_after_skttt_cr_alone_in_later_chunk():
    """NOTES G1: the LF alone in the next chunk is swallowed; the next LF is data."""
    framer = Framer()
    assert feed(framer, [b"AT+SKTTT=1\r"], now=100.0) == [CommandLine(b"AT+SKTTT=1")]
    framer.enter_transparent(100.0)
    assert timed_feed(framer, [(100.001, b"\n"), (100.002, b"\n")]) == [TransparentData(b"\n")]


def test_lf_after_skttt_crlf_same_chunk_then_data_lf():
    """NOTES G1: with CR LF in one chunk, a later LF is data."""
    framer = Framer()
    assert feed(framer, [b"AT+SKTTT=1\r\n"], now=100.0) == [CommandLine(b"AT+SKTTT=1")]
    framer.enter_transparent(100.0)
    assert timed_feed(framer, [(100.001, b"\nhello")]) == [TransparentData(b"\nhello")]


def test_lf_after_skttt_lone_lf_then_data_lf():
    """NOTES G1: a line ended by a lone LF swallows nothing after it."""
    framer = Framer()
    assert feed(framer, [b"AT+SKTTT=1\n"], now=100.0) == [CommandLine(b"AT+SKTTT=1")]
    framer.enter_transparent(100.0)
    assert timed_feed(framer, [(100.001, b"\nx")]) == [TransparentData(b"\nx")]


def test_lf_after_skttt_cr_then_escape_at_mode_start():
    """NOTES G1/G5: `\\n----` right after entering: the LF is the line end and
    `----` stands at the mode start."""
    framer = Framer()
    feed(framer, [b"AT+SKTTT=1\r"], now=100.0)
    framer.enter_transparent(100.0)
    assert timed_feed(framer, [(100.001, b"\n----")]) == []
    assert settle(framer) == [EscapeSeen()]


# -- suspected bugs: kept as plain tests (see the report) ---------------------------


def test_lone_hyphen_then_escape_typed_byte_by_byte():
    """NOTES G5: a `-` (data) after silence, a pause, then `----` arriving one
    byte at a time and silence: the last four hyphens stood alone, so the
    first is data and the escape is seen."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"a"), (101.0, b"-"), (102.0, b"-"), (102.001, b"-"),
                                 (102.002, b"-"), (102.003, b"-")])
    events += drain(framer, 103.0)
    assert events == [TransparentData(b"a"), TransparentData(b"-"), EscapeSeen()]


def test_escape_silence_seen_through_arrival_time_of_next_bytes():
    """NOTES G5: `----` then, a whole second later (arrival time), `AT\\r\\n`
    fed before next_event was called: the escape had its silence after it, so
    it is the escape and `AT` is a command."""
    framer = transparent()
    events = timed_feed(framer, [(100.0, b"x"), (101.0, b"----")])
    framer.receive_data(b"AT\r\n", 102.0)
    events += drain(framer, 102.0)
    assert events == [TransparentData(b"x"), EscapeSeen(), CommandLine(b"AT")]


def test_next_event_at_exactly_the_deadline_resolves():
    """deadline() is when next_event has something: calling it at exactly
    that time must give the event (else a caller on a mock clock spins)."""
    framer = transparent(start=99.0)
    timed_feed(framer, [(99.5, b"x"), (100.0, b"----")])
    deadline = framer.deadline()
    assert deadline is not None
    assert framer.next_event(deadline) == EscapeSeen()


# -- a payload that ends at a count or at a terminator (ESP-AT E22) ---------------------

TERMINATOR = b"\\0"


def terminated(data: bytes, count: int) -> tuple[bytes, int]:
    """The reference reading of E22: from the UART bytes, the data the
    command sends and how many UART bytes it takes. ``\\0`` ends it (and is
    taken, not sent), ``\\\\0`` is the data ``\\0``; at most ``count`` bytes."""
    out, index = bytearray(), 0
    while index < count:
        if data[index:index + 2] == b"\\0" and index + 2 <= count:
            return bytes(out), index + 2
        if data[index:index + 3] == b"\\\\0" and index + 3 <= count:
            out += b"\\0"
            index += 3
            continue
        out.append(data[index])
        index += 1
    return bytes(out), count


def test_terminated_payload_ends_at_the_terminator():
    """E22: `\\0` ends the data before the count; what follows is commands."""
    framer = Framer()
    line = b"AT+CIPSENDEX=100"
    framer.receive_data(line + b"\r\n", 0)
    assert framer.next_event(0) == CommandLine(line)
    framer.expect_payload(100, TERMINATOR)
    framer.receive_data(b"hel", 0)
    assert framer.next_event(0) is NEED_DATA
    framer.receive_data(b"lo\\", 0)
    assert framer.next_event(0) is NEED_DATA  # the byte after the backslash decides
    framer.receive_data(b"0AT\r\n", 0)
    assert drain(framer) == [Payload(b"hello"), CommandLine(b"AT")]


def test_terminated_payload_escaped_terminator_and_count():
    """E22: `\\\\0` sends `\\0`; without a terminator the count ends the data."""
    framer = Framer()
    framer.expect_payload(9, TERMINATOR)
    framer.receive_data(b"a\\\\0b\\cdefAT\r\n", 0)
    assert drain(framer) == [Payload(b"a\\0b\\cde"), CommandLine(b"fAT")]


@FAST
@given(data=st.lists(st.sampled_from([b"\\", b"0", b"a", b"\r", b"\n"]),
                    max_size=60).map(b"".join),
       count=st.integers(min_value=1, max_value=70), cuts=cuts_strategy)
def test_property_terminated_payload_whatever_the_chunking(data, count, cuts):
    """E22, G3: whatever the chunking, the payload is the reference reading
    of the bytes, and the bytes after it are framed as commands."""
    assume(count <= len(data))
    expected, taken = terminated(data, count)
    rest = data[taken:] + b"\r\nAT\r\n"
    framer = Framer(line_limit=4096)
    framer.expect_payload(count, TERMINATOR)
    events = feed(framer, split_at(data + b"\r\nAT\r\n", cuts))
    assert events[0] == Payload(expected)
    reference = Framer(line_limit=4096)
    assert events[1:] == feed(reference, [rest])
