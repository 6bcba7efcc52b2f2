"""Scale runs through the loadtest machinery: many ports, many links, one daemon.

Two scenarios, each a fresh daemon with pty ports, the built-in echo server
on 127.0.0.1, TCP links, and a fixed duration of traffic:

    cip-384   64 ports x 6 links, CIP (AT+CIPSEND with its prompt, +IPD frames)
    skt-900  100 ports x 9 links, SKT (AT+SKTSEND, auto-receive +SKTREAD frames)

For each it prints aggregate throughput (echoed messages and bytes per
second), p99 echo latency, lost bytes, the daemon's RSS (VmRSS from
/proc/<pid>/status) with its ports open and no links ("idle"), with every link
open and idle, and at its peak; and the RSS per link: (RSS with all links open
and idle - RSS with no links) / links. CPU is the cores used during the
traffic: the daemon, the loadtest process (every virtual device and the echo
server), and the whole machine (other load shows there).

With --profile DIR, py-spy samples the daemon during the traffic (raw
collapsed stacks in DIR/<scenario>.txt, a flame graph in DIR/<scenario>.svg)
and the functions with the most samples are printed.

Exit status: 0 when every scenario got every byte back, 1 otherwise.

Run: python bench/scale.py [--duration 20] [--size 64] [--window 1] [--profile DIR]
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from bridge.loadtest.options import Options
from bridge.loadtest.run import run

SCENARIOS = {
    "cip-384": {"dialect": "cip", "ports": 64, "links": 6},
    "skt-900": {"dialect": "skt", "ports": 100, "links": 9},
}
TOP = 15


class Profiler:
    """py-spy on the daemon while the traffic runs (started by the run's phases)."""

    def __init__(self, directory: Path, name: str, seconds: float) -> None:
        self.directory = directory
        self.name = name
        self.seconds = seconds
        self.processes: list[subprocess.Popen[bytes]] = []

    def on_phase(self, phase: str, pid: int | None) -> None:
        if phase != "traffic" or pid is None:
            return
        py_spy = shutil.which("py-spy")
        if py_spy is None:
            print("scale: py-spy is not installed (pip install py-spy)", file=sys.stderr)
            return
        duration = str(max(1, int(self.seconds) - 1))
        for fmt, suffix in (("raw", "txt"), ("flamegraph", "svg")):
            self.processes.append(subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--duration", duration, "--rate", "200",
                 "--nonblocking", "--format", fmt, "-o",
                 str(self.directory / f"{self.name}.{suffix}")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def finish(self) -> str:
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        raw = self.directory / f"{self.name}.txt"
        return hot_spots(raw) if raw.exists() else f"{self.name}: no profile written"


def hot_spots(raw: Path) -> str:
    """The functions with the most samples: own (leaf) and inclusive."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_function(frame) for frame in stack.split(";")]
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return f"{raw.name}: no samples"
    lines = [f"{raw.stem}: {total} samples of the daemon (py-spy, 200 Hz)",
             f"  {'own %':>6}  function (file)"]
    lines += [f"  {100 * n / total:6.1f}  {frame}" for frame, n in own.most_common(TOP)]
    lines.append(f"  {'incl %':>6}  function")
    lines += [f"  {100 * n / total:6.1f}  {frame}" for frame, n in inclusive.most_common(TOP + 10)
              if not frame.startswith(("<module>", "_run_", "run (trio", "main (bridge/cli"))]
    return "\n".join(lines)


def _function(frame: str) -> str:
    """py-spy's "func (/path/to/trio/_file.py:123)" as "func (trio/_file.py)": one
    entry per function, whatever line it was on."""
    name, _, where = frame.rpartition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for root in ("bridge/", "trio/", "outcome/", "lib/python3"):
        if root in where:
            where = where[where.index(root):]
            break
    return f"{name} ({where})"


def row(name: str, report: dict[str, Any]) -> dict[str, Any]:
    rss = report["daemon"]["rss_kib"]
    links = report["links"]["opened"]
    per_link = None
    if links and "ports_open" in rss and "links_open" in rss:
        per_link = (rss["links_open"] - rss["ports_open"]) / links
    return {
        "scenario": name,
        "links": f"{links}/{report['links']['requested']}",
        "msg/s": report["throughput"]["messages_per_s"],
        "MiB/s": report["throughput"]["echoed_bytes_per_s"] / 1048576,
        "p99 ms": report["latency"]["echo"].get("p99_ms"),
        "lost B": report["bytes"]["lost"],
        "idle MiB": rss.get("ports_open", 0) / 1024,
        "open MiB": rss.get("links_open", 0) / 1024,
        "peak MiB": (report["daemon"]["rss_peak_kib"] or 0) / 1024,
        "KiB/link": per_link,
        "daemon": report["cpu_cores"].get("daemon"),
        "loadtest": report["cpu_cores"].get("loadtest"),
        "machine": report["cpu_cores"].get("machine"),
        "errors": sum(report["errors"].values()),
        "result": "PASS" if report["ok"] else "FAIL",
    }


def table(rows: list[dict[str, Any]]) -> str:
    formats = {"msg/s": "{:.0f}", "MiB/s": "{:.3f}", "p99 ms": "{:.1f}", "idle MiB": "{:.1f}",
               "open MiB": "{:.1f}", "peak MiB": "{:.1f}", "KiB/link": "{:.1f}",
               "daemon": "{:.2f}", "loadtest": "{:.2f}", "machine": "{:.2f}"}
    columns = list(rows[0])
    cells = [[("-" if row[c] is None else formats.get(c, "{}").format(row[c])) for c in columns]
             for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    out = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    out += ["  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    out.append("(RSS: idle = ports open, no links; open = every link open and idle; "
               "KiB/link = (open - idle) / links; CPU in cores during the traffic)")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of traffic each")
    parser.add_argument("--size", type=int, default=64, help="bytes per message")
    parser.add_argument("--window", type=int, default=1, help="messages in flight per link")
    parser.add_argument("--rate", type=float, help="messages/s per link (default: max)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append",
                        help="run only this scenario (repeatable)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the daemon during traffic")
    parser.add_argument("--json", metavar="FILE", help="every scenario's full report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()
    rows, reports, profiles = [], {}, []
    for name in args.only or list(SCENARIOS):
        options = Options(**SCENARIOS[name], proto="tcp", size=args.size, window=args.window,
                          rate=args.rate, duration=args.duration, settle=2.0,
                          quiet=args.quiet, timeout=30.0, drain=30.0, startup_timeout=60.0)
        profiler = None
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            profiler = Profiler(Path(args.profile), name, args.duration)
        print(f"scale: {name}: {options.port_count} ports x {options.links} links, "
              f"{args.duration} s", file=sys.stderr, flush=True)
        report = trio.run(functools.partial(
            run, options.validate(), on_phase=profiler.on_phase if profiler else None))
        reports[name] = report
        rows.append(row(name, report))
        if report["errors"]:
            print(f"scale: {name}: errors {report['errors']}: {report['error_examples']}",
                  file=sys.stderr)
        if profiler is not None:
            profiles.append(profiler.finish())
    print(table(rows))
    for profile in profiles:
        print()
        print(profile)
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
    return 0 if all(report["ok"] for report in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
