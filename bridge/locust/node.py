"""This process's share of a Locust run (a worker, or a plain local run):
its at-bridge daemon (or the devices it attaches to), its echo server, its
ports, the link ids its users hold, and the totals it reports.

A worker counts as ready for Locust as soon as it connects, before the
daemon is up: users wait on ``ready``. Ports are set up when the first test
starts (a worker's statistics are cleared then: AT requests fired before
would be lost).
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gevent
from gevent.event import AsyncResult, Event

from ..loadtest.check import LinkCheck
from ..loadtest.daemon_config import write_daemon_config
from ..loadtest.dialect import DIALECTS
from ..loadtest.options import Options, OptionsError
from ..loadtest.payloads import Payloads
from ..loadtest.port_host import Result, Script
from ..loadtest.stats import Stats
from ..testing.procstat import cpu_times, memory_kib, sample
from ..testing.spawn import DaemonFailed
from .port import Port
from .processes import Daemon, EchoServer
from .settings import Target, run_options

logger = logging.getLogger("at-bridge")

T = TypeVar("T")

#: what a failure of each kind is called in Locust's failure table (one row per
#: kind and request; the details go to the summary's examples)
REASONS = {
    "corrupt_data": "bytes differ: an echoed byte is not the one sent",
    "extra_bytes": "bytes differ: more bytes came back than were sent",
    "unexpected_datagram": "bytes differ: a datagram that was not sent came back",
    "datagram_lost": "lost: a datagram did not come back",
    "link_closed": "link closed by the peer",
    "no_free_link": "no free link id",
}


def reason(kind: str, timeout: float, reply: bytes = b"") -> str:
    if kind in REASONS:
        return REASONS[kind]
    if kind == "echo_timeout":
        return f"timeout: no echo in {timeout} s"
    if kind.startswith("timeout_"):
        return f"timeout: no reply in {timeout} s"
    if kind.endswith("_failed") and reply:
        return f"error reply: {reply.decode(errors='replace')}"
    return f"port failed: {kind}"


class LinkLedger:
    """What a link's check reports (it stands for the check's Stats): counted
    in the node's totals; the last echo's latency and the first failure are
    kept for the user to report."""

    def __init__(self, totals: Stats) -> None:
        self.totals = totals
        self.latency: float | None = None
        self.failure: str | None = None  # a kind

    def sent(self, size: int, now: float) -> None:
        self.totals.sent(size, now)

    def unsent(self, size: int) -> None:
        self.totals.unsent(size)

    def received(self, size: int) -> None:
        self.totals.received(size)

    def echoed(self, size: int, now: float) -> None:
        self.totals.echoed(size, now)

    def echo_done(self, latency: float, now: float) -> None:
        self.totals.messages_echoed += 1  # not Stats.echo_done: no sample kept per message
        self.latency = latency

    def error(self, kind: str, detail: str = "") -> None:
        self.totals.error(kind, detail)
        if self.failure is None:
            self.failure = kind


@dataclass
class Link:
    """A link id of one port, held by one user."""

    port: Port
    slot: int  # CIP: the link id; SKT: a place among the port's 9
    number: int  # in this process, for the payloads
    check: LinkCheck | None = None
    ledger: LinkLedger | None = None
    pending: AsyncResult | None = None  # the last command submitted for it


@dataclass
class Mark:
    """CPU seconds so far, when a test started."""

    at: float
    daemon: float | None
    worker: float
    echo: float | None


class Node:
    def __init__(self, options: Options, name: str, fire: Any) -> None:
        self.options = options  # this worker's, as its command line had them
        self.run = options  # with the run's settings once a test starts
        self.name = name
        self.fire = fire  # Locust's events.request.fire
        self.totals = Stats()
        self.work_dir = Path(tempfile.mkdtemp(prefix="at-bridge-locust-"))
        self.ready = Event()  # the ports are open, or ``problem`` says why not
        self.started = Event()  # a test has started: ports may be set up
        self.problem: str | None = None  # why no user can run
        self.run_problem: str | None = None  # why none can run in this test
        self.daemon: Daemon | None = None
        self.echo: EchoServer | None = None
        self.pid = options.daemon_pid
        self.ports: list[Port] = []
        self.free: list[list[int]] = []  # per port, the slots no user holds
        self.numbered = 0
        self.payloads = Payloads(options.size)
        self.mark: Mark | None = None
        self.ended: float | None = None

    # -- starting and stopping --------------------------------------------------------

    def start(self) -> None:
        """Start the echo server and the daemon (unless attached), open the ports."""
        options = self.options
        try:
            ca_file = options.tls_ca
            if options.echo:
                self.echo = EchoServer(options.proto, self.work_dir, options.startup_timeout)
                ca_file = self.echo.ca_file
            paths = list(options.attach) or self._start_daemon(ca_file)
            dialect = DIALECTS[options.dialect]
            for index, path in enumerate(paths):
                port = Port(index, path, dialect, self.totals, timeout=options.timeout,
                            on_result=self._report_command)
                self.ports.append(port)
                self.free.append(list(range(dialect.max_links)))
                port.start(port.host.setup(attached=bool(options.attach)), self.started)
        except (DaemonFailed, OSError) as exc:
            self.problem = f"at-bridge did not start: {exc}"
            logger.error(self.problem)
        self.ready.set()
        self._mark()

    def _start_daemon(self, ca_file: str | None) -> list[str]:
        options = self.options
        config, paths = write_daemon_config(self.work_dir, options, ca_file)
        log = Path(options.daemon_log) if options.daemon_log else self.work_dir / "daemon.log"
        self.daemon = Daemon(config, log)
        self.pid = self.daemon.pid
        self.daemon.wait_ready(paths, options.startup_timeout)
        gevent.spawn(self.daemon.watch, lambda kind, detail: self.totals.error(kind, detail))
        return paths

    def stop(self) -> None:
        """Close the ports, stop the daemon and the echo server (the run is over)."""
        for port in self.ports:
            port.close()
        for process in (self.daemon, self.echo):
            if process is not None:
                process.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- a test -----------------------------------------------------------------------

    def begin_test(self, parsed: Any, host: str | None) -> None:
        """A test starts: the run's settings (on a worker, the master's), fresh totals."""
        self.totals = Stats()
        try:
            self.run = run_options(self.options, parsed, host)
            self.run_problem = None
        except OptionsError as exc:
            self.run_problem = str(exc)
            logger.error(f"at-bridge: {exc}")
        for port in self.ports:
            port.host.stats = self.totals
            port.host.timeout = self.run.timeout
        if self.payloads.size != self.run.size:
            self.payloads = Payloads(self.run.size)
        self.mark = None
        self.ended = None
        self.started.set()
        self._mark()

    def _mark(self) -> None:
        """The test's figures start once it has started and the daemon is up."""
        if self.mark is None and self.ready.is_set() and self.started.is_set():
            self.mark = Mark(time.perf_counter(), self._daemon_cpu(), _own_cpu(),
                             self._echo_cpu())

    @property
    def target(self) -> Target | None:
        """Where links go in this test: the echo server this node started, or -H."""
        if self.echo is not None:
            return Target(self.options.proto, *self.echo.address)
        if self.run_problem is not None or not self.started.is_set():
            return None
        assert self.run.target is not None
        return Target(self.run.proto, *self.run.target)

    def end_test(self) -> None:
        if self.ended is None:
            self.ended = time.perf_counter()

    def wait_ready(self) -> str | None:
        """None once users can run, else why they cannot."""
        if not self.ready.wait(self.options.startup_timeout * 2):
            return f"at-bridge did not start in {self.options.startup_timeout * 2} s"
        return self.problem or self.run_problem

    @property
    def guard(self) -> float:
        """Seconds a command may wait for its turn and its replies (the port's
        own timeouts end every command sooner)."""
        return 10 * self.run.timeout

    def call(self, link: Link, script: Script[T]) -> T | Result:
        """Run ``script`` on the link's port and wait for it. A user stopped
        meanwhile leaves it to finish (``settle``)."""
        link.pending = link.port.submit(script)
        return link.port.wait(link.pending, self.guard)

    def settle(self, link: Link) -> None:
        """Until the last command submitted for the link has run."""
        if link.pending is not None:
            link.port.wait(link.pending, self.guard)

    # -- link ids ---------------------------------------------------------------------------

    def allocate(self) -> Link | None:
        """A free link id on the port with the most of them, None if none is left."""
        free = max(range(len(self.ports)), key=lambda index: (len(self.free[index]), -index),
                   default=None)
        if free is None or not self.free[free]:
            return None
        slots = self.free[free]
        slot = min(slots)
        slots.remove(slot)
        self.numbered += 1
        return Link(self.ports[free], slot, self.numbered)

    def release(self, link: Link) -> None:
        self.free[link.port.index].append(link.slot)

    def capacity(self) -> str:
        return f"{len(self.ports)} ports x {DIALECTS[self.options.dialect].max_links} link ids"

    # -- reporting ---------------------------------------------------------------------------

    def _report_command(self, result: Result) -> None:
        self.fire(request_type="AT", name=result.name, response_time=result.seconds * 1000,
                  response_length=0, context={},
                  exception=None if result.ok else reason(result.kind, self.run.timeout,
                                                          result.reply))

    def echo_name(self) -> str:
        proto = self.target.proto if self.target is not None else self.run.proto
        return f"{self.options.dialect}/{proto}/{self.run.size}"

    def _daemon_cpu(self) -> float | None:
        return _cpu(self.pid)

    def _echo_cpu(self) -> float | None:
        return None if self.echo is None else _cpu(self.echo.process.pid)

    def report(self, final: bool) -> dict[str, Any]:
        """This node's figures for the summary (msgpack-able)."""
        totals = self.totals
        mark = self.mark
        seconds = worker_cpu = None
        daemon_cpu = echo_cpu = None
        if mark is not None:
            seconds = (self.ended or time.perf_counter()) - mark.at
            daemon_cpu = _spent(mark.daemon, self._daemon_cpu())
            echo_cpu = _spent(mark.echo, self._echo_cpu())
            worker_cpu = round(_own_cpu() - mark.worker, 2)
        return {
            "worker": self.name, "final": final, "pid": os.getpid(),
            "dialect": self.options.dialect, "echo_name": self.echo_name(),
            "target": str(self.target) if self.target else None,
            "ports": len(self.ports), "problem": self.problem or self.run_problem,
            "links": {"opened": totals.links_opened, "failed": totals.links_failed},
            "messages": {"sent": totals.messages_sent, "echoed": totals.messages_echoed},
            "bytes": {"sent": totals.bytes_sent, "echoed": totals.bytes_echoed,
                      "received": totals.bytes_received, "lost": totals.bytes_lost},
            "errors": dict(totals.errors), "error_examples": dict(totals.error_examples),
            "seconds": None if seconds is None else round(seconds, 3),
            #: CPU seconds of the daemon, this process and its echo server during the test
            "cpu_s": {"daemon": daemon_cpu, "worker": worker_cpu, "echo": echo_cpu},
            "daemon": {"pid": self.pid,
                       "rss_kib": None if self.pid is None else sample(memory_kib, self.pid),
                       "rss_peak_kib": None if self.pid is None
                       else sample(memory_kib, self.pid, "VmHWM")},
        }


def _cpu(pid: int | None) -> float | None:
    times = None if pid is None else sample(cpu_times, pid)
    return None if times is None else times.total


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_nodes: dict[int, Node] = {}  # by id(environment): Locust hands users only their environment


def attach(environment: object, node: Node) -> None:
    _nodes[id(environment)] = node


def node_of(environment: object) -> Node:
    return _nodes[id(environment)]
