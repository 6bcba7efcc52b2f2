"""The same links and messages through both load generators, in one run.

1. ``at-bridge loadtest``: one Trio process plays every device;
2. ``at-bridge locust``, a plain local run: one Locust (gevent) process,
   one user per link;
3. ``at-bridge locust`` distributed: a master and two workers on this
   machine, each worker with its own daemon and half the ports, against one
   echo server.

Each: a fresh daemon (two in 3.) with PORTS pty ports in DIALECT, PORTS x
LINKS TCP links to the built-in echo server on 127.0.0.1, SIZE-byte
messages, one in flight per link, DURATION seconds. Printed per run:
echoed messages/s, p99 echo latency, the CPU cores used by the daemon(s)
and by the load generator(s) with the echo server over the run (loadtest's
echo server runs inside it; Locust's is a process of its own, added in),
lost bytes and the verdict. The master's own CPU (it only aggregates) is
not counted.

Exit status: 0 when every run got every byte back, 1 otherwise.

Run: python bench/load_engines.py [--dialect cip] [--ports 4] [--links 6] [--size 64]
                                  [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bridge.testing.procstat import cpu_times

WITHIN = 120.0  # seconds any one run may take beyond its duration


def at_bridge(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge", *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loadtest(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    path = work / "loadtest.json"
    subprocess.run(at_bridge("loadtest", "--echo", "--dialect", args.dialect, "--ports",
                             str(args.ports), "--links", str(args.links), "--size",
                             str(args.size), "--duration", str(args.duration), "--quiet",
                             "--json", str(path)),
                   stdout=subprocess.DEVNULL, timeout=args.duration + WITHIN, check=False)
    report = json.loads(path.read_text())
    cores = report["cpu_cores"]
    return {"run": "loadtest (1 process)", "msg_s": report["throughput"]["messages_per_s"],
            "p99_ms": report["latency"]["echo"].get("p99_ms"), "daemon": cores.get("daemon"),
            "generator": cores.get("loadtest"), "lost": report["bytes"]["lost"],
            "ok": report["ok"]}


def _locust_row(run: str, path: Path, echo_cpu: float = 0.0) -> dict[str, Any]:
    summary = json.loads(path.read_text())
    seconds = summary["seconds"] or 1.0
    echo = next((row for row in summary["requests"] if row["type"] == "ECHO"), {})

    def cores(*keys: str) -> float:
        return round(sum(report["cpu_s"][key] or 0.0 for report in summary["workers"]
                         for key in keys) / seconds, 2)

    return {"run": run, "msg_s": summary["messages_per_s"], "p99_ms": echo.get("p99_ms"),
            "daemon": cores("daemon"),
            "generator": round(cores("worker", "echo") + echo_cpu / seconds, 2),
            "lost": summary["bytes"]["lost"], "ok": summary["ok"]}


def locust_local(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    path = work / "local.json"
    users = str(args.ports * args.links)
    subprocess.run(at_bridge("locust", "--headless", "-u", users, "-r", users, "-t",
                             f"{args.duration}s", "--atb-echo", "--atb-dialect", args.dialect,
                             "--atb-ports", str(args.ports), "--atb-size", str(args.size),
                             "--atb-json", str(path), "--only-summary"),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
                   timeout=args.duration + WITHIN, check=False)
    return _locust_row("locust (local, 1 process)", path)


def locust_distributed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    path = work / "distributed.json"
    users = str(args.ports * args.links)
    master_port = str(free_port())
    echo = subprocess.Popen([sys.executable, "-m", "bridge.loadtest.echo", "tcp", str(work)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert echo.stdout is not None and echo.stdin is not None
    target = json.loads(echo.stdout.readline())
    worker = at_bridge("locust", "--worker", "--master-port", master_port, "--atb-dialect",
                       args.dialect, "--atb-ports", str(max(1, args.ports // 2)))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": work}
    workers = [subprocess.Popen(worker, **quiet) for _ in range(2)]  # type: ignore[call-overload]
    echo_before = cpu_times(echo.pid).total
    try:
        subprocess.run(at_bridge("locust", "--master", "--headless", "--expect-workers", "2",
                                 "--master-bind-port", master_port, "-u", users, "-r", users,
                                 "-t", f"{args.duration}s", "-H",
                                 f"tcp://{target['host']}:{target['port']}", "--atb-size",
                                 str(args.size), "--atb-json", str(path), "--only-summary"),
                       timeout=args.duration + WITHIN, check=False, **quiet)
        # the echo server's CPU from the workers' start: a little more than the test's
        echo_cpu = cpu_times(echo.pid).total - echo_before
    finally:
        for process in workers:
            process.wait(timeout=30)
        echo.stdin.close()
        echo.wait(timeout=10)
    return _locust_row("locust (master + 2 workers)", path, echo_cpu)


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialect", choices=["cip", "skt", "esp-at"], default="cip")
    parser.add_argument("--ports", type=int, default=4)
    parser.add_argument("--links", type=int, default=6, help="links per port")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    print(f"{args.dialect}, {args.ports} ports x {args.links} links = "
          f"{args.ports * args.links} TCP links, {args.size} B messages, one in flight per "
          f"link, {args.duration} s, built-in echo on 127.0.0.1")
    print(f"{'run':30} {'msg/s':>9} {'p99 ms':>8} {'daemon cores':>12} "
          f"{'generator+echo':>14} {'lost':>5}  verdict")
    ok = True
    with tempfile.TemporaryDirectory(prefix="at-bridge-engines-") as tmp:
        for run in (loadtest, locust_local, locust_distributed):
            row = run(args, Path(tmp))
            ok = ok and row["ok"]
            print(f"{row['run']:30} {row['msg_s']:>9} {_cell(row['p99_ms']):>8} "
                  f"{_cell(row['daemon']):>12} {_cell(row['generator']):>14} "
                  f"{row['lost']:>5}  {'PASS' if row['ok'] else 'FAIL'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
