"""Transparent-mode relay benchmark: at-bridge (AT+SKTTT=1) against socat.

Both relays sit between a pseudo-terminal (the "UART" this process opens as
the device) and a TCP peer that this process runs on 127.0.0.1:

    reference:  socat PTY,raw,echo=0,link=<tmp>/ref TCP:127.0.0.1:<port>
    at-bridge:  at-bridge run --pty <tmp>/dut --log-level warning
                then AT+SKTCLIENT=0,127.0.0.1,<port> and AT+SKTTT=1

For each relay session we measure

    uplink:   write N MiB of random bytes to the pty; stop when the TCP peer
              has received all of them;
    downlink: the TCP peer sends N MiB; stop when the pty side has read them all;

with wall time and the relay process's CPU seconds (utime + stime from
/proc/<pid>/stat) for each direction, and verify every byte (SHA-256, and no
extra bytes on either side). Sessions alternate reference / at-bridge, each
figure reported is the median over the repetitions.

Exit status: 0 (it is a measurement), 1 if any byte differed, was lost or
a relay failed before its transfers were done.

Run: python bench/relay.py [--mib 16] [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import os
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty
from typing import IO

CHUNK = 65536
GUARD = 0.020  # the daemon's default escape guard (NOTES G5)
ESCAPE_WAIT = 0.060  # silence after AT+SKTTT=1 before the first data (> 50 ms)
HYPHEN = ord("-")
TARGET_TIME_RATIO = 1.25
TARGET_CPU_RATIO = 2.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class RelayFailed(Exception):
    """The relay under test answered wrongly, hung or lost bytes."""


def cpu_times(pid: int) -> tuple[int, int]:
    """(utime, stime) of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return int(fields[11]), int(fields[12])


class CpuMeter:
    """CPU seconds a process spends between start() and stop()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.user = self.system = 0.0

    def start(self) -> None:
        self._before = cpu_times(self.pid)

    def stop(self) -> None:
        after = cpu_times(self.pid)
        self.user = (after[0] - self._before[0]) / CLK_TCK
        self.system = (after[1] - self._before[1]) / CLK_TCK


@dataclasses.dataclass
class Result:
    seconds: float
    user: float  # relay CPU seconds in user mode
    system: float  # and in the kernel
    ok: bool
    detail: str = ""

    @property
    def cpu(self) -> float:
        return round(self.user + self.system, 6)

    def summary(self) -> str:
        return (f"{self.seconds:7.3f} s cpu {self.cpu:5.2f} s (usr {self.user:4.2f} "
                f"sys {self.system:4.2f}){'' if self.ok else ' FAILED'}")


# -- the TCP peer -----------------------------------------------------------------


class Peer:
    """A listening socket on 127.0.0.1; one accepted connection per session."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]

    def accept(self, timeout: float) -> socket.socket:
        self.listener.settimeout(timeout)
        try:
            conn, _ = self.listener.accept()
        except TimeoutError:
            raise RelayFailed(f"no TCP connection to the peer within {timeout:.0f} s") from None
        conn.settimeout(None)
        return conn

    def close(self) -> None:
        self.listener.close()


def sink(conn: socket.socket, size: int, out: dict) -> None:
    """Receive exactly ``size`` bytes (never more); record hash and end time."""
    digest = hashlib.sha256()
    got = 0
    try:
        while got < size:
            data = conn.recv(min(size - got, 1 << 20))
            if not data:
                out["error"] = "peer saw end of stream"
                break
            digest.update(data)
            got += len(data)
    except OSError as exc:
        out["error"] = f"peer recv failed: {exc!r}"
    out["end"] = time.perf_counter()
    out["got"] = got
    out["sha"] = digest.hexdigest()


def source(conn: socket.socket, data: bytes, out: dict) -> None:
    try:
        conn.sendall(data)
    except OSError as exc:
        out["error"] = f"peer send failed: {exc!r}"
    out["sent_end"] = time.perf_counter()


def extra_on_socket(conn: socket.socket, wait: float) -> bytes:
    ready, _, _ = select.select([conn], [], [], wait)
    if not ready:
        return b""
    try:
        conn.setblocking(False)
        return conn.recv(1 << 16)
    except (BlockingIOError, OSError):
        return b""
    finally:
        conn.setblocking(True)


# -- the device side ----------------------------------------------------------------


def open_device(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    os.set_blocking(fd, False)
    return fd


def read_exact_pty(fd: int, size: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, size - len(buf))
            except BlockingIOError:
                continue
            if not chunk:
                break
            buf += chunk
    return bytes(buf)


def extra_on_pty(fd: int, wait: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return b""
    try:
        return os.read(fd, 1 << 16)
    except (BlockingIOError, OSError):
        return b""


def write_pty(fd: int, data: bytearray, deadline: float) -> int:
    """Write all of ``data``; returns how many bytes were written.

    Escape guard (NOTES G5): after a pause of more than 3/4 of GUARD (a margin
    under the daemon's 20 ms), a write never starts with '-'. The byte is
    changed in ``data`` before it is sent, so the caller's hash of ``data``
    afterwards is what went out."""
    view = memoryview(data)
    pos = 0
    last = 0.0  # the start of the transfer counts as a pause
    while pos < len(data):
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        _, ready, _ = select.select([], [fd], [], left)
        if not ready:
            continue
        if data[pos] == HYPHEN and time.perf_counter() - last > GUARD * 0.75:
            data[pos] = HYPHEN ^ 0x80
        try:
            n = os.write(fd, view[pos : pos + CHUNK])
        except BlockingIOError:
            continue
        pos += n
        last = time.perf_counter()
    view.release()
    return pos


# -- one measurement of each direction -------------------------------------------------


def uplink(fd: int, conn: socket.socket, pid: int, size: int, timeout: float) -> Result:
    data = bytearray(os.urandom(size))
    out: dict = {}
    thread = threading.Thread(target=sink, args=(conn, size, out), daemon=True)
    thread.start()
    cpu = CpuMeter(pid)
    cpu.start()
    t0 = time.perf_counter()
    deadline = t0 + timeout
    written = write_pty(fd, data, deadline)
    thread.join(max(0.0, deadline - time.perf_counter()))
    cpu.stop()
    if thread.is_alive():
        # sink is still blocked in recv: unblock it so the thread ends
        conn.shutdown(socket.SHUT_RDWR)
        thread.join(5)
        return Result(timeout, cpu.user, cpu.system, False,
                      f"uplink timed out after {timeout:.0f} s: wrote {written} of {size} "
                      f"bytes to the pty, peer received {out.get('got', '?')}")
    seconds = out["end"] - t0
    problems = []
    if written != size:
        problems.append(f"wrote only {written} of {size} bytes to the pty")
    if "error" in out:
        problems.append(out["error"])
    if out["got"] != size:
        problems.append(f"peer received {out['got']} of {size} bytes")
    elif out["sha"] != hashlib.sha256(data).hexdigest():
        problems.append("peer received different bytes (SHA-256 mismatch)")
    if not problems:
        extra = extra_on_socket(conn, 0.05)
        if extra:
            problems.append(f"peer received {len(extra)}+ extra bytes: {extra[:32]!r}")
    return Result(seconds, cpu.user, cpu.system, not problems, "; ".join(problems))


def downlink(fd: int, conn: socket.socket, pid: int, size: int, timeout: float) -> Result:
    data = os.urandom(size)
    out: dict = {}
    thread = threading.Thread(target=source, args=(conn, data, out), daemon=True)
    cpu = CpuMeter(pid)
    cpu.start()
    t0 = time.perf_counter()
    thread.start()
    got = read_exact_pty(fd, size, t0 + timeout)
    t1 = time.perf_counter()
    cpu.stop()
    problems = []
    if len(got) != size:
        problems.append(f"downlink: pty read {len(got)} of {size} bytes within {timeout:.0f} s")
        conn.shutdown(socket.SHUT_RDWR)  # unblock sendall
    elif hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        first = next(i for i, (a, b) in enumerate(zip(got, data, strict=True)) if a != b)
        problems.append(f"pty read different bytes (first difference at offset {first})")
    thread.join(5)
    if "error" in out:
        problems.append(out["error"])
    if not problems:
        extra = extra_on_pty(fd, 0.05)
        if extra:
            problems.append(f"pty read {len(extra)}+ extra bytes: {extra[:32]!r}")
    return Result(t1 - t0, cpu.user, cpu.system, not problems, "; ".join(problems))


# -- the two relays -----------------------------------------------------------------


def expect_reply(fd: int, expected: bytes, what: str, timeout: float = 5.0) -> None:
    got = read_exact_pty(fd, len(expected), time.perf_counter() + timeout)
    got += extra_on_pty(fd, 0.05)  # anything after it is wrong too
    if got != expected:
        raise RelayFailed(f"{what}: expected {expected!r}, got {got!r}")


def wait_for_link(path: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RelayFailed(f"{proc.args[0]} exited with {proc.returncode} "
                              f"before {path} appeared")
        if time.perf_counter() > deadline:
            raise RelayFailed(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.01)


def announce(proc: subprocess.Popen, link: str, timeout: float) -> None:
    """Wait for at-bridge to print the link path (its "ready"); other lines,
    from a profiler wrapping it say, are skipped."""
    assert proc.stdout is not None
    deadline = time.perf_counter() + timeout
    seen = []
    while True:
        ready, _, _ = select.select([proc.stdout], [], [],
                                    max(0.0, deadline - time.perf_counter()))
        line = proc.stdout.readline() if ready else b""
        if line.decode(errors="replace").strip() == link:
            return
        if line:
            seen.append(line)
            continue
        status = proc.poll()
        why = f"exited with status {status}" if status is not None else f"within {timeout:.0f} s"
        raise RelayFailed(f"at-bridge did not announce {link} on stdout ({why}; "
                          f"stdout {b''.join(seen)!r})")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def session(kind: str, tmp: str, peer: Peer, size: int, timeout: float,
            bridge_cmd: list[str]) -> tuple[Result, Result, list[str]]:
    """Start one relay, connect it to the peer, measure both directions.

    Returns both results and what went wrong after them (at-bridge's escape
    check); raises RelayFailed when there is nothing to measure."""
    stderr_path = os.path.join(tmp, f"{kind}.stderr")
    try:
        with open(stderr_path, "wb") as stderr:
            return _session(kind, tmp, peer, size, timeout, bridge_cmd, stderr)
    finally:
        with open(stderr_path, "rb") as f:
            text = f.read().decode(errors="replace").strip()
        if text:
            print(f"[{kind} stderr]\n{text}", file=sys.stderr)


def _session(kind: str, tmp: str, peer: Peer, size: int, timeout: float,
             bridge_cmd: list[str], stderr: IO[bytes]) -> tuple[Result, Result, list[str]]:
    fd = conn = None
    if kind == "socat":
        link = os.path.join(tmp, "ref")
        proc = subprocess.Popen(["socat", f"PTY,raw,echo=0,link={link}",
                                 f"TCP:127.0.0.1:{peer.port}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr)
    else:
        link = os.path.join(tmp, "dut")
        proc = subprocess.Popen(bridge_cmd + ["run", "--pty", link, "--log-level", "warning"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
    try:
        if kind == "socat":
            conn = peer.accept(10)
            wait_for_link(link, proc, 10)
            fd = open_device(link)
        else:
            announce(proc, link, 20)
            fd = open_device(link)
            os.write(fd, b"AT+SKTCLIENT=0,127.0.0.1,%d\r\n" % peer.port)
            conn = peer.accept(10)
            expect_reply(fd, b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n", "AT+SKTCLIENT")
            os.write(fd, b"AT+SKTTT=1\r\n")
            expect_reply(fd, b"\r\n+SKTTT:OK\r\n", "AT+SKTTT=1")
            time.sleep(ESCAPE_WAIT)  # NOTES G5: the escape guard before the first data
        up = uplink(fd, conn, proc.pid, size, timeout)
        down = (downlink(fd, conn, proc.pid, size, timeout) if up.ok
                else Result(math.nan, math.nan, math.nan, False, "not run: uplink failed"))
        problems = []
        if proc.poll() is not None:
            problems.append(f"{kind} exited with status {proc.returncode} during the run")
        elif kind == "at-bridge" and up.ok and down.ok:
            # the mode must still be intact: nothing held back, and a standalone
            # "----" (NOTES G5) leaves it with \r\n#\r\n (S9)
            time.sleep(ESCAPE_WAIT)
            os.write(fd, b"----")
            time.sleep(ESCAPE_WAIT)
            try:
                expect_reply(fd, b"\r\n#\r\n", "escape ---- after the transfers")
            except RelayFailed as exc:
                problems.append(str(exc))
            extra = extra_on_socket(conn, 0.05)
            if extra:
                problems.append(f"the peer received {extra!r} after the transfers")
        return up, down, problems
    finally:
        if fd is not None:
            os.close(fd)
        if conn is not None:
            conn.close()
        stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


# -- report --------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def verdict(value: float, target: float) -> str:
    """Judged on the value as printed (two decimals), not on float noise."""
    return "PASS" if round(value, 2) <= target else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=float, default=16, help="MiB per direction (default 16)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions per relay (default 5)")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds one direction may take before it counts as hung")
    parser.add_argument("--bridge-cmd", metavar="CMD",
                        help="command that stands for `at-bridge` (for profiling), e.g. "
                             "'python -m cProfile -o /tmp/bridge.prof -m bridge'")
    args = parser.parse_args()
    size = int(args.mib * (1 << 20))
    if not shutil.which("socat"):
        print("socat is not installed", file=sys.stderr)
        return 1
    bridge = shutil.which("at-bridge")
    if args.bridge_cmd:
        bridge_cmd = shlex.split(args.bridge_cmd)
    else:
        bridge_cmd = [bridge] if bridge else [sys.executable, "-m", "bridge"]

    peer = Peer()
    results: dict[str, dict[str, list[Result]]] = {
        kind: {"uplink": [], "downlink": []} for kind in ("socat", "at-bridge")}
    failures: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        for run in range(1, args.runs + 1):
            for kind in ("socat", "at-bridge"):
                try:
                    up, down, problems = session(kind, tmp, peer, size, args.timeout,
                                                 bridge_cmd)
                except RelayFailed as exc:
                    failures.append(f"run {run} {kind}: {exc}")
                    print(f"run {run} {kind:9}: FAILED: {exc}", flush=True)
                    continue
                failures += [f"run {run} {kind}: {problem}" for problem in problems]
                for direction, r in (("uplink", up), ("downlink", down)):
                    results[kind][direction].append(r)
                    if not r.ok:
                        failures.append(f"run {run} {kind} {direction}: {r.detail}")
                print(f"run {run} {kind:9}: uplink {up.summary()} | downlink {down.summary()}",
                      flush=True)
    peer.close()

    print()
    print(f"transparent relay, {args.mib:g} MiB per direction, median of {args.runs} runs "
          f"({time.perf_counter() - started:.0f} s total; CPU resolution {1 / CLK_TCK:g} s)")
    header = (f"{'direction':9}  {'socat s':>8}  {'bridge s':>8}  {'time x':>6}  "
              f"{'socat cpu':>9}  {'bridge cpu':>10}  {'cpu x':>6}  "
              f"{'time<=' + format(TARGET_TIME_RATIO, 'g'):>10}  "
              f"{'cpu<=' + format(TARGET_CPU_RATIO, '.1f'):>8}")
    print(header)
    print("-" * len(header))
    rates = []
    for direction in ("uplink", "downlink"):
        ref = [r for r in results["socat"][direction] if r.ok]
        dut = [r for r in results["at-bridge"][direction] if r.ok]
        if not ref or not dut:
            print(f"{direction:9}  no successful {'socat' if not ref else 'at-bridge'} run")
            continue
        ref_s = statistics.median(r.seconds for r in ref)
        dut_s = statistics.median(r.seconds for r in dut)
        ref_c = statistics.median(r.cpu for r in ref)
        dut_c = statistics.median(r.cpu for r in dut)
        t_ratio, c_ratio = ratio(dut_s, ref_s), ratio(dut_c, ref_c)
        print(f"{direction:9}  {ref_s:8.3f}  {dut_s:8.3f}  {t_ratio:6.2f}  "
              f"{ref_c:9.2f}  {dut_c:10.2f}  {c_ratio:6.2f}  "
              f"{verdict(t_ratio, TARGET_TIME_RATIO):>10}  {verdict(c_ratio, TARGET_CPU_RATIO):>8}")
        mib = size / (1 << 20)
        rates.append(f"{direction} socat {mib / ref_s:.1f} / at-bridge {mib / dut_s:.1f} MiB/s")
    if rates:
        print(f"(throughput at the medians: {'; '.join(rates)})")
    if failures:
        print("\nFAILURES:")
        for line in failures:
            print("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
