"""What the benchmarks share: the TCP peer, one timed and checked transfer in
each direction, the relay processes, and the report's ratios and verdicts.

The host's end of the pty, /proc and starting processes are bridge.testing's
(host, procstat, spawn). The benchmarks run as scripts (``python
bench/<name>.py``), so this module is imported as ``_common`` from the
script's own directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from bridge.testing.host import open_host, read_exact, read_extra, write_all
from bridge.testing.procstat import cpu_times
from bridge.testing.spawn import DaemonFailed, stop, wait_announced, wait_for_path


class RelayFailed(Exception):
    """The relay under test answered wrongly, hung or lost bytes."""


class CpuMeter:
    """CPU seconds a process spends between start() and stop()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.user = self.system = 0.0

    def start(self) -> None:
        self._before = cpu_times(self.pid)

    def stop(self) -> None:
        spent = cpu_times(self.pid) - self._before
        self.user, self.system = spent.user, spent.system


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


NOT_RUN = Result(float("nan"), float("nan"), float("nan"), False, "not run: uplink failed")


# -- the TCP peer -----------------------------------------------------------------


class Peer:
    """A listening socket on 127.0.0.1; one accepted connection per session,
    TLS when given a server context."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
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
        if self.tls is not None:
            conn.settimeout(timeout)
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                raise RelayFailed(f"TLS handshake with the peer failed: {exc!r}") from None
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


# -- one measurement of each direction -------------------------------------------------

# write(fd, data, deadline) -> bytes of data written; may raise RelayFailed
Writer = Callable[[int, bytearray, float], int]
# read(fd, size, deadline) -> the payload bytes the host got; may raise RelayFailed
Reader = Callable[[int, int, float], bytes]


def uplink(fd: int, conn: socket.socket, pid: int, size: int, timeout: float,
           write: Writer = write_all) -> Result:
    data = bytearray(os.urandom(size))
    out: dict = {}
    thread = threading.Thread(target=sink, args=(conn, size, out), daemon=True)
    thread.start()
    cpu = CpuMeter(pid)
    cpu.start()
    t0 = time.perf_counter()
    deadline = t0 + timeout
    try:
        written = write(fd, data, deadline)
    except RelayFailed as exc:
        cpu.stop()
        conn.shutdown(socket.SHUT_RDWR)  # unblock the sink
        thread.join(5)
        return Result(time.perf_counter() - t0, cpu.user, cpu.system, False,
                      f"uplink: {exc} (peer had received {out.get('got', '?')} of {size} bytes)")
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


def downlink(fd: int, conn: socket.socket, pid: int, size: int, timeout: float,
             read: Reader = read_exact, ahead: Callable[[], None] | None = None) -> Result:
    """``ahead`` runs once the data is made, just before the peer sends it."""
    data = os.urandom(size)
    out: dict = {}
    thread = threading.Thread(target=source, args=(conn, data, out), daemon=True)
    if ahead is not None:
        ahead()
    cpu = CpuMeter(pid)
    cpu.start()
    t0 = time.perf_counter()
    thread.start()
    problems = []
    try:
        got = read(fd, size, t0 + timeout)
    except RelayFailed as exc:
        problems.append(f"downlink: {exc}")
        got = None
    t1 = time.perf_counter()
    cpu.stop()
    if got is None:
        conn.shutdown(socket.SHUT_RDWR)  # unblock sendall
    elif len(got) != size:
        problems.append(f"downlink: the host got {len(got)} of {size} bytes "
                        f"within {timeout:.0f} s")
        conn.shutdown(socket.SHUT_RDWR)
    elif hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        first = next(i for i, (a, b) in enumerate(zip(got, data, strict=True)) if a != b)
        problems.append(f"the host got different bytes (first difference at offset {first})")
    thread.join(5)
    if "error" in out:
        problems.append(out["error"])
    if not problems:
        extra = read_extra(fd, 0.05)
        if extra:
            problems.append(f"pty read {len(extra)}+ extra bytes: {extra[:32]!r}")
    return Result(t1 - t0, cpu.user, cpu.system, not problems, "; ".join(problems))


# -- the relays -----------------------------------------------------------------------


def check_escape(fd: int, conn: socket.socket, escape: bytes, notice: bytes,
                 wait: float) -> list[str]:
    """After the transfers the mode must be intact: nothing held back, and the
    escape standing alone (NOTES G5) leaves it with ``notice`` and sends the
    peer nothing. Returns what went wrong."""
    problems = []
    time.sleep(wait)
    os.write(fd, escape)
    time.sleep(wait)
    try:
        expect_reply(fd, notice, f"{escape!r} after the transfers")
    except RelayFailed as exc:
        problems.append(str(exc))
    extra = extra_on_socket(conn, 0.05)
    if extra:
        problems.append(f"the peer received {extra[:32]!r} after the transfers")
    return problems


def expect_reply(fd: int, expected: bytes, what: str, timeout: float = 5.0) -> None:
    got = read_exact(fd, len(expected), time.perf_counter() + timeout)
    got += read_extra(fd, 0.05)  # anything after it is wrong too
    if got != expected:
        raise RelayFailed(f"{what}: expected {expected!r}, got {got!r}")


def command(fd: int, line: bytes, reply: bytes) -> None:
    """Send a command line; its reply must be exactly ``reply``."""
    os.write(fd, line + b"\r\n")
    expect_reply(fd, reply, line.decode())


@dataclasses.dataclass
class Running:
    """One relay process and, once connected, the host's pty and the peer's socket."""

    kind: str
    proc: subprocess.Popen
    link: str
    fd: int | None = None
    conn: socket.socket | None = None


@contextlib.contextmanager
def relay_process(kind: str, tmp: str, argv: list[str], link: str) -> Iterator[Running]:
    """Run ``argv`` (socat, or at-bridge announcing ``link`` on stdout); at the
    end close the pty and the peer's socket, stop the process and print what
    it wrote to stderr, if anything."""
    stderr_path = os.path.join(tmp, f"{kind}.stderr")
    try:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=stderr,
                                    stdout=subprocess.DEVNULL if kind == "socat"
                                    else subprocess.PIPE)
            running = Running(kind, proc, link)
            try:
                yield running
            finally:
                if running.fd is not None:
                    os.close(running.fd)
                if running.conn is not None:
                    running.conn.close()
                stop(proc)
                if proc.stdout is not None:
                    proc.stdout.close()
    finally:
        with open(stderr_path, "rb") as f:
            text = f.read().decode(errors="replace").strip()
        if text:
            print(f"[{kind} stderr]\n{text}", file=sys.stderr)


@contextlib.contextmanager
def socat(tmp: str, peer: Peer, ca_file: str | None = None) -> Iterator[Running]:
    """The reference: ``socat PTY,raw,echo=0,link=<tmp>/ref TCP:127.0.0.1:<port>``,
    connected to the peer, its pty open."""
    link = os.path.join(tmp, "ref")
    target = (f"OPENSSL:localhost:{peer.port},cafile={ca_file}" if ca_file
              else f"TCP:127.0.0.1:{peer.port}")
    argv = ["socat", f"PTY,raw,echo=0,link={link}", target]
    with relay_process("socat", tmp, argv, link) as running:
        running.conn = peer.accept(10)
        wait_for_path(link, running.proc, 10)
        running.fd = open_host(link, flush=True)
        yield running


@contextlib.contextmanager
def script_relay(script: str, tmp: str, peer: Peer,
                 options: Sequence[str] = ()) -> Iterator[Running]:
    """A same-run floor from this folder (trio_relay.py, cip_responder.py):
    started with ``--link <tmp>/<name> --port <peer's>`` and ``options``,
    connected to the peer, announced, its pty open."""
    name = os.path.splitext(script)[0]
    link = os.path.join(tmp, name)
    argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), script),
            "--link", link, "--port", str(peer.port), *options]
    with relay_process(name, tmp, argv, link) as running:
        running.conn = peer.accept(10)
        wait_announced(running.proc, link, 10)
        running.fd = open_host(link, flush=True)
        yield running


# -- runs ----------------------------------------------------------------------------

#: one session: name -> (uplink, downlink, problems after them, a note for its line)
Session = Callable[[str], tuple[Result, Result, list[str], str]]


def run_sessions(runs: int, names: Sequence[str], session: Session,
                 one_way: Mapping[str, str] | None = None
                 ) -> tuple[dict[str, dict[str, list[Result]]], list[str]]:
    """Every run, each named session in turn, one line printed each: the
    results by name and direction, and every failure. ``one_way`` maps the
    sessions that measure one direction only to that direction."""
    one_way = one_way or {}
    results: dict[str, dict[str, list[Result]]] = {
        name: {"uplink": [], "downlink": []} for name in names}
    failures: list[str] = []
    width = max(map(len, names))
    for run in range(1, runs + 1):
        for name in names:
            try:
                up, down, problems, note = session(name)
            except (RelayFailed, DaemonFailed) as exc:
                failures.append(f"run {run} {name}: {exc}")
                print(f"run {run} {name:{width}}: FAILED: {exc}", flush=True)
                continue
            failures += [f"run {run} {name}: {problem}" for problem in problems]
            measured = [(direction, result) for direction, result
                        in (("uplink", up), ("downlink", down))
                        if one_way.get(name, direction) == direction]
            for direction, result in measured:
                results[name][direction].append(result)
                if not result.ok:
                    failures.append(f"run {run} {name} {direction}: {result.detail}")
            line = " | ".join(f"{direction} {result.summary()}" for direction, result in measured)
            print(f"run {run} {name:{width}}: {line}{note}", flush=True)
    return results, failures


# -- report --------------------------------------------------------------------------


def report_failures(failures: list[str]) -> int:
    """The exit status: 1, after listing them, if anything failed."""
    if not failures:
        return 0
    print("\nFAILURES:")
    for line in failures:
        print("  " + line)
    return 1


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def verdict(value: float, target: float) -> str:
    """Judged on the value as printed (two decimals), not on float noise."""
    return "PASS" if round(value, 2) <= target else "MISS"
