"""One load-test run, phase by phase:

1. the echo server (unless --target) and the daemon (unless --attach);
2. every device opens its pty and sets its port up (ATE0/CIPMUX, or auto-receive);
3. every device opens its links, one command at a time per port;
4. traffic for --duration seconds or --messages per link, then a drain
   while the last echoes come back;
5. links closed, devices closed, the daemon stopped; the report.

The daemon's RSS is sampled with no links (``ports_open``), with every link
open and idle (``links_open``), during the traffic (the peak) and after.
"""

from __future__ import annotations

import math
import resource
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from ..testing.procstat import cpu_times, machine_busy_seconds, memory_kib, sample
from ..testing.spawn import DaemonFailed
from ..testing.trio_daemon import Daemon
from . import report as report_module
from . import spawn
from .check import LinkCheck, new_check
from .daemon_config import write_daemon_config
from .device import Device, Plan
from .echo import EchoServer
from .options import Options
from .payloads import Payloads
from .progress import Progress
from .stats import Stats

SAMPLE_EVERY = 0.5  # seconds between RSS samples and progress updates

#: called at each phase ("ports_open", "links_open", "traffic", "drained", "closed")
#: with the daemon's pid (None if unknown)
OnPhase = Callable[[str, "int | None"], None]


class LoadtestError(Exception):
    """The run could not start (no daemon, no echo server); one message."""


def raise_file_limit() -> None:
    """Many ptys and sockets: the soft limit on open files up to the hard one
    (the daemon inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(options: Options, *, on_phase: OnPhase | None = None) -> dict[str, Any]:
    """Run the load test; the report (see report.build)."""
    raise_file_limit()
    with tempfile.TemporaryDirectory(prefix="at-bridge-loadtest-") as tmp:
        return await Run(options, Path(tmp), on_phase).run()


class Run:
    def __init__(self, options: Options, work_dir: Path, on_phase: OnPhase | None) -> None:
        self.options = options
        self.work_dir = work_dir
        self.on_phase = on_phase or (lambda phase, pid: None)
        self.stats = Stats()
        self.daemon: Daemon | None = None
        self.pid = options.daemon_pid
        self.devices: list[Device] = []
        self.checks: list[LinkCheck] = []
        self.progress: Progress | None = None

    async def run(self) -> dict[str, Any]:
        options, stats = self.options, self.stats
        daemon_exit = None
        async with trio.open_nursery() as nursery:
            try:
                target, ca_file = await self._target(nursery)
                paths = await self._daemon(nursery, ca_file)
                nursery.start_soon(self._monitor)
                await self._drive(paths, target, nursery)
            finally:
                if self.progress is not None:
                    self.progress.close()
                with trio.CancelScope(shield=True):
                    for device in self.devices:
                        await device.aclose()
                    if self.daemon is not None:
                        # ptys that closed by themselves: the daemon may be on its way out
                        lost = any(device.dead in ("uart_closed", "uart_failed")
                                   for device in self.devices)
                        grace = 2.0 if lost else 0.0
                        daemon_exit = await spawn.stop(self.daemon, stats, grace)
                nursery.cancel_scope.cancel()
        stats.bytes_lost = sum(check.owed() for check in self.checks)
        return report_module.build(stats, options, daemon_pid=self.pid, daemon_exit=daemon_exit,
                                   target=target)

    # -- phase 1 ----------------------------------------------------------------------------

    async def _target(self, nursery: trio.Nursery) -> tuple[tuple[str, int], str | None]:
        options = self.options
        if options.target is not None:
            return options.target, options.tls_ca
        echo = EchoServer(options.proto, self.work_dir)
        target = await nursery.start(echo.serve)
        return target, echo.ca_file

    async def _daemon(self, nursery: trio.Nursery, ca_file: str | None) -> list[str]:
        options = self.options
        if options.attach:
            return list(options.attach)
        config, paths = write_daemon_config(self.work_dir, options, ca_file)
        log_path = Path(options.daemon_log) if options.daemon_log else self.work_dir / "daemon.log"
        self.daemon = await Daemon.start(config, log_path)
        self.pid = self.daemon.pid
        try:
            await self.daemon.wait_ready(paths, options.startup_timeout)
        except DaemonFailed as exc:
            raise LoadtestError(str(exc)) from None
        nursery.start_soon(spawn.watch, self.daemon, self.stats, len(paths))
        return paths

    async def _monitor(self) -> None:
        while True:
            self.stats.sample_rss(None, self._rss())
            if self.progress is not None:
                self.progress.update(trio.current_time())
            await trio.sleep(SAMPLE_EVERY)

    def _rss(self) -> int | None:
        return None if self.pid is None else sample(memory_kib, self.pid)

    async def _phase(self, name: str, settle: bool = True) -> None:
        if settle and self.options.settle:
            await trio.sleep(self.options.settle)
        self.stats.sample_rss(name, self._rss())
        self.on_phase(name, self.pid)

    # -- phases 2 to 5 ----------------------------------------------------------------------

    async def _drive(self, paths: list[str], target: tuple[str, int],
                     nursery: trio.Nursery) -> None:
        options, stats = self.options, self.stats
        stats.ports_requested = len(paths)
        for index, path in enumerate(paths):
            checks = [new_check(options.proto, stats, index * options.links + slot)
                      for slot in range(options.links)]
            self.checks += checks
            device = Device(index, path, options, stats, target, checks)
            try:
                device.open()
            except OSError as exc:
                raise LoadtestError(f"cannot open {path}: {exc}") from None
            self.devices.append(device)
            nursery.start_soon(device.read_loop)
        stats.links_requested = len(self.checks)

        async def set_up(device: Device) -> None:
            if await device.setup(attached=bool(options.attach)):
                stats.ports_ready += 1

        await self._each(set_up)
        await self._phase("ports_open")
        await self._each(lambda device: device.open_links())
        await self._phase("links_open")
        await self._traffic()
        await self._phase("drained", settle=False)
        await self._each(lambda device: device.close_links())
        await self._phase("closed", settle=False)

    async def _each(self, step: Callable[[Device], Any]) -> None:
        async with trio.open_nursery() as nursery:
            for device in self.devices:
                nursery.start_soon(step, device)

    async def _traffic(self) -> None:
        options, stats = self.options, self.stats
        seconds = options.traffic_seconds
        self.progress = Progress(stats, seconds=seconds,
                                 messages=options.messages and options.messages
                                 * stats.links_opened,
                                 enabled=not options.quiet and _stderr_is_terminal())
        cpu = _cpu_now(self.pid)
        now = trio.current_time()
        stats.start_traffic(now)
        self.on_phase("traffic", self.pid)
        plan = Plan(size=options.size, end=now + seconds if seconds is not None else math.inf,
                    messages=options.messages, rate=options.rate, window=options.in_flight,
                    payloads=Payloads(options.size))
        async with trio.open_nursery() as senders:
            for device in self.devices:
                for check in device.checks:
                    senders.start_soon(device.drive, check, plan)
        with trio.move_on_after(options.drain):
            while any(check.in_flight and check.open and device.dead is None
                      for device in self.devices for check in device.checks):
                await trio.sleep(0.01)
        ended = trio.current_time()
        if all(check.in_flight == 0 for check in self.checks) and stats.last_echo > stats.started:
            ended = stats.last_echo
        stats.end_traffic(ended)
        for name, before, after in zip(("daemon", "loadtest", "machine"), cpu,
                                       _cpu_now(self.pid), strict=True):
            if before is not None and after is not None:
                stats.cpu[name] = round(after - before, 2)
        self.progress.close()


def _cpu_now(pid: int | None) -> tuple[float | None, float, float | None]:
    """CPU seconds so far of the daemon, of this process and of the whole machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    daemon = None if pid is None else sample(cpu_times, pid)
    return (None if daemon is None else daemon.total, usage.ru_utime + usage.ru_stime,
            sample(machine_busy_seconds))


def _stderr_is_terminal() -> bool:
    import sys

    return sys.stderr.isatty()
