"""CIP and ESP-AT benchmark: at-bridge passthrough and framed transfers against socat.

Three relays sit between a pseudo-terminal (the "UART" this process opens as
the device) and a TCP peer that this process runs on 127.0.0.1:

    reference:    socat PTY,raw,echo=0,link=<tmp>/ref TCP:127.0.0.1:<port>
    passthrough:  at-bridge run --pty <tmp>/dut-passthrough --dialect D ...
                  ATE0, (ESP-AT: AT+CWJAP), AT+CIPSTART="TCP","127.0.0.1",<port>,
                  AT+CIPMODE=1, AT+CIPSEND (NOTES C10, E23), then raw bytes both ways
    framed:       at-bridge run --pty <tmp>/dut-framed --dialect D ...
                  the same up to AT+CIPSTART; uplink as AT+CIPSEND=<n> blocks
                  (CIP 2048, ESP-AT 8192 bytes), each waiting for the prompt and
                  SEND OK (C9, E21); downlink as +IPD frames (C7, E24) parsed and
                  reassembled here

The dialects differ only in the replies, block and frame sizes of
_dialects.py. Each session measures uplink (the host writes N MiB, until the
peer has them all) then downlink (the peer sends N MiB, until the host has
them all), with wall time and the relay process's CPU seconds, and checks
every byte (SHA-256, no extra bytes either side). Sessions run socat,
passthrough, framed in turn, each with a fresh process; figures are medians
over the runs.

Exit status: 0 (it is a measurement), 1 if any byte differed, was lost or
a relay failed.

Run: python bench/cip.py [--dialect cip|esp-at] [--mib 16] [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    NOT_RUN,
    Peer,
    RelayFailed,
    Result,
    Running,
    check_escape,
    command,
    downlink,
    expect_reply,
    extra_on_socket,
    ratio,
    relay_process,
    report_failures,
    run_sessions,
    script_relay,
    socat,
    uplink,
    verdict,
)
from _dialects import DIALECTS, Dialect

from bridge.testing.host import open_host, read_exact, read_extra, read_ready, write_all
from bridge.testing.procstat import CLOCK_TICKS
from bridge.testing.spawn import bridge_command, wait_announced, write_config

ESCAPE_WAIT = 0.060  # silence around +++ and before passthrough data (guard 20 ms, G5)
PLUS = ord("+")
TARGET_TIME_RATIO = 1.25  # passthrough: at-bridge time / socat time
TARGET_FRACTION = 0.50  # framed throughput / passthrough throughput
MIB = 1 << 20

TESTS = ("socat", "passthrough", "framed", "pipelined", "ceiling")
NO_GAP = "no-gap"  # the framed downlink with the dialect's gap setting 0 (E26)
ONE_WAY = {"pipelined": "uplink", "ceiling": "uplink", NO_GAP: "downlink"}


# -- framed transfers (C7, C9, E21, E24) -------------------------------------------------


def send(fd: int, data: bytes | memoryview, deadline: float) -> None:
    if write_all(fd, data, deadline) < len(data):
        raise RelayFailed("the pty accepted no more bytes before the deadline")


def expect(fd: int, reply: bytes, what: str, deadline: float) -> None:
    got = read_exact(fd, len(reply), deadline)
    if got != reply:
        if len(got) == len(reply):
            got += read_extra(fd, 0.05)  # the rest of a wrong reply
        raise RelayFailed(f"{what}: expected {reply!r}, got {got!r}"
                          f"{'' if len(got) >= len(reply) else ' before the deadline'}")


def cipsend_blocks(fd: int, data: bytearray, deadline: float, dialect: Dialect,
                   pipelined: bool = False) -> int:
    """The host's uplink in command mode: AT+CIPSEND=<n>, wait for the prompt,
    write the n bytes, wait for SEND OK; n is the dialect's largest but for
    the last block. ``pipelined``: the next AT+CIPSEND follows the bytes at
    once (NOTES C9: bytes after the count are the next command), and the
    previous block's SEND OK is read with its prompt: one pty round trip per
    block instead of two."""
    view = memoryview(data)
    pos = previous = 0
    try:
        while pos < len(data):
            n = min(dialect.block, len(data) - pos)
            send(fd, b"AT+CIPSEND=%d\r\n" % n, deadline)
            prompt = (dialect.sent_reply(previous) if previous else b"") + dialect.prompt
            expect(fd, prompt, f"AT+CIPSEND={n} at offset {pos}", deadline)
            send(fd, view[pos:pos + n], deadline)
            pos += n
            if pipelined and pos < len(data):
                previous = n
            else:
                expect(fd, dialect.sent_reply(n), f"the {n} bytes before offset {pos}",
                       deadline)
    finally:
        view.release()
    return pos


class IpdReader:
    """The host's downlink in command mode: read the pty, parse the dialect's
    +IPD frames of link 0 (1 <= len <= its largest frame, no reply or prompt
    between them) and return the reassembled data. Also notes when the
    first frame came, which ESP-AT's urc_gap_ms (E26) can delay."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.frames = 0
        self.largest = 0
        self.since = 0.0  # when the host read the reply the downlink follows
        self.first_frame: float | None = None  # seconds from then to the first frame

    def __call__(self, fd: int, size: int, deadline: float) -> bytes:
        out = bytearray()

        def frame(link_id: int, data: bytes) -> None:
            if link_id != 0 or not 1 <= len(data) <= self.dialect.frame_max:
                raise RelayFailed(f"+IPD frame {self.frames + 1} has link {link_id}, "
                                  f"length {len(data)}")
            if not self.frames:
                self.first_frame = time.perf_counter() - self.since
            out.extend(data)
            self.frames += 1
            self.largest = max(self.largest, len(data))

        def other(line: bytes) -> None:
            raise RelayFailed(f"not an +IPD frame after frame {self.frames} "
                              f"({len(out)} data bytes): {line[:40]!r}")

        wire = self.dialect.wire(other, lambda: other(b"\r\n>"), frame)
        while len(out) < size:
            chunk = read_ready(fd, 1 << 20, deadline)
            if not chunk:
                break
            wire.feed(chunk)
        if wire.buffer:
            raise RelayFailed(f"{len(wire.buffer)} bytes after frame {self.frames} "
                              f"({len(out)} data bytes): {bytes(wire.buffer[:40])!r}")
        return bytes(out)


# -- sessions -----------------------------------------------------------------------------


def bridge_session(mode: str, dialect: Dialect, tmp: str, peer: Peer, sizes: tuple[int, int],
                   timeout: float, bridge_cmd: list[str],
                   reader: IpdReader) -> tuple[Result, Result, list[str], str]:
    """One at-bridge process in passthrough or a framed mode, connected to
    the peer; both directions measured but for the pipelined uplink and the
    no-gap downlink (``reader`` parses a framed downlink). Returns the
    results, what went wrong after them, and a note for the run's line."""
    link = os.path.join(tmp, f"dut-{mode}")
    state = tempfile.mkdtemp(prefix=f"state-{mode}-", dir=tmp)  # ESP-AT stores the join (E30)
    options = ["--pty", link, "--dialect", dialect.name, "--log-level", "warning",
               "--state-dir", state]
    if mode == NO_GAP:
        options = ["--config", str(write_config(
            Path(tmp) / f"{mode}.toml", {"state_dir": state, "log_level": "warning"},
            [{"name": "dut", "device": f"pty:{link}", "dialect": dialect.name,
              dialect.gap_setting: 0}]))]
    argv = [part.replace("{session}", mode) for part in bridge_cmd] + ["run", *options]
    with relay_process(f"at-bridge-{mode}", tmp, argv, link) as relay:
        wait_announced(relay.proc, link, 20)
        fd = relay.fd = open_host(link, flush=False)
        expect_reply(fd, dialect.greeting, "the greeting")
        for line, reply in dialect.setup:
            command(fd, line, reply)
        os.write(fd, b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % peer.port)
        relay.conn = peer.accept(10)
        expect_reply(fd, dialect.connected, "AT+CIPSTART")
        if mode == "passthrough":
            return _passthrough(relay, dialect, sizes, timeout)
        if mode == "pipelined":
            up = uplink(fd, relay.conn, relay.proc.pid, sizes[0], timeout,
                        functools.partial(cipsend_blocks, dialect=dialect, pipelined=True))
            return up, NOT_RUN, _exited(relay), ""
        return _framed(relay, dialect, sizes, timeout, reader)


def _passthrough(relay: Running, dialect: Dialect, sizes: tuple[int, int],
                 timeout: float) -> tuple[Result, Result, list[str], str]:
    fd, conn, proc = relay.fd, relay.conn, relay.proc
    assert fd is not None and conn is not None
    command(fd, b"AT+CIPMODE=1", dialect.ok)
    command(fd, b"AT+CIPSEND", dialect.passthrough_prompt)  # C10, E23
    time.sleep(ESCAPE_WAIT)
    up = uplink(fd, conn, proc.pid, sizes[0], timeout, functools.partial(write_all, avoid=PLUS))
    down = downlink(fd, conn, proc.pid, sizes[1], timeout) if up.ok else NOT_RUN
    problems = _exited(relay)
    if not problems and up.ok and down.ok:
        problems += check_escape(fd, conn, b"+++", dialect.escape_notice, ESCAPE_WAIT)
        problems += _answering(relay, dialect)
    return up, down, problems, ""


def _framed(relay: Running, dialect: Dialect, sizes: tuple[int, int], timeout: float,
            reader: IpdReader) -> tuple[Result, Result, list[str], str]:
    """The framed uplink (when its size is not 0), then the downlink right
    after a command's final reply (AT, read without waiting for more), as a
    reply to a host's request would come: ESP-AT's urc_gap_ms delays its
    first frame (E26)."""
    fd, conn, proc = relay.fd, relay.conn, relay.proc
    assert fd is not None and conn is not None
    up = (uplink(fd, conn, proc.pid, sizes[0], timeout,
                 functools.partial(cipsend_blocks, dialect=dialect))
          if sizes[0] else NOT_RUN)
    down = NOT_RUN

    def reply_first() -> None:
        os.write(fd, b"AT\r\n")
        expect(fd, dialect.ok, "AT before the downlink", time.perf_counter() + 5)
        reader.since = time.perf_counter()

    if up.ok or not sizes[0]:
        down = downlink(fd, conn, proc.pid, sizes[1], timeout, reader, reply_first)
    problems = _exited(relay)
    if not problems and down.ok:
        problems += _answering(relay, dialect)
    note = (f" ({reader.frames} +IPD frames, largest {reader.largest}, first after "
            f"{reader.first_frame * 1000:.1f} ms)" if reader.first_frame is not None else "")
    return up, down, problems, note


def _answering(relay: Running, dialect: Dialect) -> list[str]:
    """After the transfers: still answering commands, nothing left over for the peer."""
    assert relay.fd is not None and relay.conn is not None
    problems = []
    try:
        command(relay.fd, b"AT", dialect.ok)
    except RelayFailed as exc:
        problems.append(str(exc))
    extra = extra_on_socket(relay.conn, 0.05)
    if extra:
        problems.append(f"the peer received {extra[:32]!r} after the transfers")
    return problems


def _exited(relay: Running) -> list[str]:
    if relay.proc.poll() is not None:
        return [f"{relay.kind} exited with status {relay.proc.returncode} during the run"]
    return []


def socat_session(tmp: str, peer: Peer, sizes: tuple[int, int],
                  timeout: float) -> tuple[Result, Result, list[str], str]:
    with socat(tmp, peer) as relay:
        assert relay.fd is not None and relay.conn is not None
        up = uplink(relay.fd, relay.conn, relay.proc.pid, sizes[0], timeout)
        down = (downlink(relay.fd, relay.conn, relay.proc.pid, sizes[1], timeout) if up.ok
                else NOT_RUN)
        return up, down, _exited(relay), ""


def ceiling_session(dialect: Dialect, tmp: str, peer: Peer, sizes: tuple[int, int],
                    timeout: float) -> tuple[Result, Result, list[str], str]:
    """The lock-step uplink against bench/cip_responder.py (uplink only)."""
    with script_relay("cip_responder.py", tmp, peer, ["--dialect", dialect.name]) as relay:
        up = uplink(relay.fd, relay.conn, relay.proc.pid, sizes[0], timeout,
                    functools.partial(cipsend_blocks, dialect=dialect))
        return up, NOT_RUN, _exited(relay), ""


# -- report --------------------------------------------------------------------------


def fraction_verdict(value: float, target: float) -> str:
    """Judged on the percentage as printed (no decimals)."""
    return "PASS" if round(value * 100) >= round(target * 100) else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialect", choices=DIALECTS, default="cip",
                        help="at-bridge's dialect (default cip)")
    parser.add_argument("--mib", type=float, default=16,
                        help="MiB per direction (default 16)")
    parser.add_argument("--framed-up-mib", type=float, metavar="MIB",
                        help="MiB for the framed uplink (AT+CIPSEND blocks); default --mib")
    parser.add_argument("--runs", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds one direction may take before it counts as hung")
    parser.add_argument("--bridge-cmd", metavar="CMD",
                        help="command that stands for `at-bridge` (for profiling); "
                             "{session} in it becomes the session's name, e.g. "
                             "'python -m cProfile -o /tmp/cip-{session}.prof -m bridge'")
    args = parser.parse_args()
    size = int(args.mib * MIB)
    framed_up = int((args.framed_up_mib if args.framed_up_mib is not None else args.mib) * MIB)
    if size < 1 or framed_up < 1:
        parser.error("sizes must be at least one byte")
    if not shutil.which("socat"):
        print("socat is not installed", file=sys.stderr)
        return 1
    bridge_cmd = bridge_command(args.bridge_cmd)
    dialect = DIALECTS[args.dialect]
    sizes = {"socat": (size, size), "passthrough": (size, size), "framed": (framed_up, size),
             "pipelined": (framed_up, 0), "ceiling": (framed_up, 0), NO_GAP: (0, size)}
    tests = TESTS + ((NO_GAP,) if dialect.gap_setting else ())
    readers: dict[str, list[IpdReader]] = {test: [] for test in tests}

    peer = Peer()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cip-bench-") as tmp:

        def one(test: str) -> tuple[Result, Result, list[str], str]:
            if test == "socat":
                return socat_session(tmp, peer, sizes[test], args.timeout)
            if test == "ceiling":
                return ceiling_session(dialect, tmp, peer, sizes[test], args.timeout)
            reader = IpdReader(dialect)
            readers[test].append(reader)
            return bridge_session(test, dialect, tmp, peer, sizes[test], args.timeout,
                                  bridge_cmd, reader)

        results, failures = run_sessions(args.runs, tests, one, one_way=ONE_WAY)
    peer.close()

    print()
    up_note = (f", framed uplink {framed_up / MIB:g} MiB (--framed-up-mib)"
               if framed_up != size else "")
    print(f"{dialect.name} dialect, {args.mib:g} MiB per direction{up_note}, AT+CIPSEND blocks "
          f"of {dialect.block}, +IPD frames of at most {dialect.frame_max}; median of "
          f"{args.runs} runs ({time.perf_counter() - started:.0f} s total; CPU resolution "
          f"{1 / CLOCK_TICKS:g} s)")
    header = (f"{'test':20}  {'MiB':>6}  {'socat MiB/s':>11}  {'bridge MiB/s':>12}  "
              f"{'time x':>6}  {'socat cpu':>9}  {'bridge cpu':>10}  {'cpu x':>6}  "
              f"{'of passthr':>10}  {'target':<20}  {'result':>6}")
    print(header)
    print("-" * len(header))

    def medians(test: str, direction: str) -> tuple[float, float, float] | None:
        """Median seconds per MiB, CPU seconds per MiB and MiB, of the good runs."""
        good = [r for r in results[test][direction] if r.ok]
        if not good:
            return None
        mib = sizes[test][direction == "downlink"] / MIB
        return (statistics.median(r.seconds for r in good) / mib,
                statistics.median(r.cpu for r in good) / mib, mib)

    for direction in ("uplink", "downlink"):
        ref = medians("socat", direction)
        through = medians("passthrough", direction)
        rows = [("passthrough", f"passthrough {direction}"), ("framed", f"framed {direction}")]
        if direction == "uplink":
            rows += [("pipelined", "framed up, pipelined"), ("ceiling", "lock-step ceiling")]
        elif NO_GAP in tests:
            rows += [(NO_GAP, "framed down, gap 0")]
        for test, label in rows:
            dut = medians(test, direction)
            if dut is None:
                print(f"{label:20}  no successful {test} run")
                continue
            ref_rate = f"{1 / ref[0]:11.1f}" if ref else f"{'-':>11}"
            time_x = ratio(dut[0], ref[0]) if ref else float("nan")
            cpu_x = ratio(dut[1], ref[1]) if ref else float("nan")
            ref_cpu = f"{ref[1] * 1000:9.1f}" if ref else f"{'-':>9}"
            if test == "passthrough":
                share = "-"
                target = f"time x <= {TARGET_TIME_RATIO:g}"
                result = verdict(time_x, TARGET_TIME_RATIO) if ref else "-"
            else:
                fraction = ratio(through[0], dut[0]) if through else float("nan")
                share = f"{fraction:.0%}" if through else "-"
                target = f">= {TARGET_FRACTION:.0%} of passthr"
                result = fraction_verdict(fraction, TARGET_FRACTION) if through else "-"
                if test == "ceiling":
                    target, result = "(reference)", "-"
            print(f"{label:20}  {dut[2]:6g}  {ref_rate}  {1 / dut[0]:12.1f}  "
                  f"{time_x:6.2f}  {ref_cpu}  {dut[1] * 1000:10.1f}  {cpu_x:6.2f}  "
                  f"{share:>10}  {target:<20}  {result:>6}")
    framed, ceiling = medians("framed", "uplink"), medians("ceiling", "uplink")
    if framed and ceiling:
        print(f"framed uplink (lock-step) reaches {ratio(ceiling[0], framed[0]):.0%} of the "
              f"lock-step ceiling (bench/cip_responder.py) measured in the same run")
    firsts = [(label, [r.first_frame * 1000 for r in readers[test] if r.first_frame is not None])
              for test, label in (("framed", f"{dialect.gap_setting} default" if dialect.gap_setting
                                   else "framed"),
                                  (NO_GAP, f"{dialect.gap_setting} = 0"))
              if test in tests]
    if all(ms for _, ms in firsts):
        print("first +IPD frame after the reply before the downlink (median): " + ", ".join(
            f"{statistics.median(ms):.1f} ms ({label})" for label, ms in firsts))
    print("(cpu: CPU ms per MiB of the relay process; time x, cpu x: relay / socat per MiB,"
          " against socat's\n transparent relay; of passthr: framed MiB/s / at-bridge"
          " passthrough MiB/s in the same direction;\n pipelined: the next AT+CIPSEND"
          " without waiting for SEND OK (C9); lock-step ceiling: the\n framed uplink's"
          " host against a blocking responder with no event loop"
          + (f"; gap 0: the framed downlink\n with {dialect.gap_setting} = 0 (E26)"
             if NO_GAP in tests else "") + ")")
    return report_failures(failures)


if __name__ == "__main__":
    sys.exit(main())
