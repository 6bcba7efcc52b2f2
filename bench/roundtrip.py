"""AT round trip: AT -> OK through at-bridge (CIP or ESP-AT, echo off) against
the same bytes echoed by `socat PTY,raw,echo=0,link=... EXEC:cat` in the same run.

    python bench/roundtrip.py [--dialect cip|esp-at] [--count 2000] [--bridge-cmd CMD]

Prints p50/p99/max in microseconds for both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import command, expect_reply
from _dialects import DIALECTS

from bridge.testing.host import open_host
from bridge.testing.spawn import bridge_command, stop, wait_announced, wait_for_path

WARM_UP = 100  # round trips of each, not counted


def timed(fd: int, request: bytes, reply: bytes) -> float:
    """Microseconds from writing ``request`` to reading all of ``reply``."""
    started = time.perf_counter()
    os.write(fd, request)
    got = b""
    while len(got) < len(reply):
        got += os.read(fd, len(reply) - len(got))
    elapsed = (time.perf_counter() - started) * 1e6
    if got != reply:
        raise SystemExit(f"expected {reply!r}, got {got!r}")
    return elapsed


def describe(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1], ordered[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=DIALECTS, default="cip",
                        help="at-bridge's dialect (default cip)")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--bridge-cmd", metavar="CMD",
                        help="command that stands for `at-bridge` (another build, a profiler)")
    args = parser.parse_args()
    dialect = DIALECTS[args.dialect]
    with tempfile.TemporaryDirectory(prefix="roundtrip-") as tmp:
        ref_link, dut_link = os.path.join(tmp, "ref"), os.path.join(tmp, "dut")
        echo = subprocess.Popen(["socat", f"PTY,raw,echo=0,link={ref_link}", "EXEC:cat"])
        bridge = subprocess.Popen(bridge_command(args.bridge_cmd) + [
            "run", "--pty", dut_link, "--dialect", dialect.name, "--log-level", "error",
            "--state-dir", os.path.join(tmp, "state")], stdout=subprocess.PIPE)
        try:
            wait_for_path(ref_link, echo, 10)
            wait_announced(bridge, dut_link, 20)
            ref, dut = open_host(ref_link, flush=True), open_host(dut_link, flush=False)
            os.set_blocking(ref, True)
            os.set_blocking(dut, True)
            expect_reply(dut, dialect.greeting, "the greeting")
            for line, reply in dialect.setup:
                command(dut, line, reply)
            echoed, answered = [], []
            for _ in range(WARM_UP + args.count):  # alternating, so load hits both alike
                echoed.append(timed(ref, b"AT\r\n", b"AT\r\n"))
                answered.append(timed(dut, b"AT\r\n", dialect.ok))
            reference, bridge_times = describe(echoed[WARM_UP:]), describe(answered[WARM_UP:])
        finally:
            stop(echo)
            stop(bridge)
    print(f"AT round trip, {dialect.name}, {args.count} each (microseconds)")
    print(f"{'':20} {'p50':>8} {'p99':>8} {'max':>8}")
    print(f"{'socat pty echo':20} " + " ".join(f"{v:8.0f}" for v in reference))
    print(f"{'at-bridge AT -> OK':20} " + " ".join(f"{v:8.0f}" for v in bridge_times))
    print(f"{'ratio':20} " + " ".join(f"{b / r:8.2f}" for b, r in zip(bridge_times, reference,
                                                                       strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
