"""The daemon: a nursery of ports, each reopened with backoff when it fails.

Each port runs under its own supervisor, in its own cancel scope: a device
that is absent, unplugged or failing is retried with capped exponential
backoff and touches no other port; a reload (SIGHUP) starts added ports,
stops removed ones and restarts changed ones, leaving the others alone.
systemd hears READY=1 once every port is open or retrying, a STATUS= line
on every transition, and WATCHDOG=1 from the event loop.

Before anything is opened, the daemon claims every port's UART (see
bridge/uart/claim.py) and binds the metrics address: a second daemon naming
another's pty links or devices, or a metrics address in use, stops there
with one line (StartupRefused) and has touched nothing.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import trio

from .config import (
    PTY_PREFIX,
    Config,
    ConfigError,
    PortSettings,
    load,
    pty_link,
    state_directory,
)
from .counters import PortCounters
from .links.link import Link
from .port import DeviceLost, Port
from .systemd import Notifier
from .uart import open_device
from .uart.claim import ClaimRefused, PtyLinkLock, check_device_free

log = structlog.get_logger("bridge.daemon")

BACKOFF_START = 0.1
BACKOFF_CAP = 1.0

OnReady = Callable[[str, str], None]


class StartupRefused(Exception):
    """The daemon cannot start, and has opened nothing: the one line to print."""


@dataclass
class PortState:
    """What the daemon knows of one port, for status lines and metrics (a
    metrics.PortView)."""

    settings: PortSettings
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    state: str = "starting"  # "open" or "retrying"
    why: str = ""
    reopens: int = 0
    port: Port | None = None
    counters: PortCounters = field(default_factory=PortCounters)
    link_lock: PtyLinkLock | None = field(init=False)  # held from the port's start to its stop

    def __post_init__(self) -> None:
        link = pty_link(self.settings.device)
        self.link_lock = PtyLinkLock(link) if link else None

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def up(self) -> bool:
        return self.state == "open"

    def open_links(self) -> Iterable[Link]:
        return list(self.port.dialect.links) if self.port is not None else []

    def claim(self) -> None:
        """Hold the port's pty link (ClaimRefused if another daemon does)."""
        if self.link_lock is not None:
            self.link_lock.acquire()

    def release(self) -> None:
        if self.link_lock is not None:
            self.link_lock.release()

    def describe(self) -> str:
        return f"{self.settings.name}: {self.state}" + (f" ({self.why})" if self.why else "")


class Daemon:
    def __init__(self, config: Config, *, on_ready: OnReady = lambda name, path: None,
                 notifier: Notifier | None = None) -> None:
        self.config = config
        self.on_ready = on_ready
        self.notifier = notifier or Notifier({})
        self.ports: dict[str, PortState] = {}
        self._nursery: trio.Nursery | None = None
        self._metrics_listeners: list[trio.SocketListener] = []

    @asynccontextmanager
    async def prepared(self) -> AsyncIterator[None]:
        """Claim every port's UART and bind the metrics address, or raise
        StartupRefused having opened nothing; let go of them all on the way out."""
        try:
            for settings in self.config.port:
                state = self.ports[settings.name] = PortState(settings)
                try:
                    state.claim()
                    if not settings.device.startswith(PTY_PREFIX):
                        check_device_free(settings.device)
                except ClaimRefused as exc:
                    raise StartupRefused(f"port {settings.name}: {exc}") from None
            if address := self.config.daemon.metrics_address:
                from .metrics import listen

                try:
                    self._metrics_listeners = await listen(address)
                except OSError as exc:
                    raise StartupRefused(f"daemon.metrics_address: cannot listen on {address}: "
                                         f"{exc.strerror}") from None
            yield
        finally:
            for state in self.ports.values():
                state.release()
            for listener in self._metrics_listeners:
                listener.socket.close()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve every port until cancelled (inside ``prepared()``)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for state in list(self.ports.values()):
                await nursery.start(self._supervise, state)
            self.notifier.notify(READY=1, STATUS=self.status())
            if self.notifier.watchdog_interval is not None:
                nursery.start_soon(self._watchdog, self.notifier.watchdog_interval)
            if self._metrics_listeners:
                from .metrics import serve_metrics

                await nursery.start(serve_metrics, self._metrics_listeners, self.ports.values)
            task_status.started()

    def status(self) -> str:
        return "; ".join(state.describe() for state in self.ports.values())

    def reload(self, config: Config) -> None:
        """Start added ports, stop removed ones, restart changed ones."""
        assert self._nursery is not None
        wanted = {settings.name: settings for settings in config.port}
        for name, state in list(self.ports.items()):
            if wanted.get(name) != state.settings:
                log.info("port_stopping", port=name,
                         reason="removed" if name not in wanted else "changed")
                state.scope.cancel()
                state.release()  # now: a changed port claims the same link at once
                del self.ports[name]
        self.config = config
        for settings in config.port:
            if settings.name not in self.ports:
                state = self.ports[settings.name] = PortState(settings)
                self._nursery.start_soon(self._supervise, state)
        self.notifier.notify(STATUS=self.status())

    async def _supervise(self, state: PortState,
                         task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        settings = state.settings
        port_log = log.bind(port=settings.name)
        state_dir = state_directory(self.config.daemon)
        delay = BACKOFF_START
        started = False
        with state.scope:
            while True:
                try:
                    state.claim()  # held already, but for a port added by a reload
                    async with open_device(settings) as (uart, path):
                        if state.state == "retrying":
                            state.reopens += 1
                        self._transition(state, "open", "", port_log, path=path)
                        self.on_ready(settings.name, path)
                        if not started:
                            started = True
                            task_status.started()
                        delay = BACKOFF_START
                        state.port = Port(settings, state_dir=state_dir,
                                          trace=self.config.daemon.trace,
                                          counters=state.counters)
                        await state.port.run(uart)
                except (DeviceLost, OSError) as exc:
                    self._transition(state, "retrying", str(exc), port_log)
                except Exception:
                    # a bug in one port must not take the others down with it
                    port_log.exception("port_crashed")
                    self._transition(state, "retrying", "internal error", port_log)
                finally:
                    state.port = None
                if not started:
                    started = True
                    task_status.started()
                await trio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP)

    def _transition(self, state: PortState, new: str, why: str, port_log: structlog.BoundLogger,
                    **details: str) -> None:
        """Log and announce a change of state once, not every retry."""
        if state.state == new:
            port_log.debug("port_still_" + new, why=why)
            state.why = why
            return
        state.state, state.why = new, why
        if new == "open":
            port_log.info("port_open", device=state.settings.device,
                          dialect=state.settings.dialect, **details)
        else:
            port_log.warning("port_failed", why=why, retry_from=BACKOFF_START,
                             retry_cap=BACKOFF_CAP)
        self.notifier.notify(STATUS=self.status())

    async def _watchdog(self, interval: float) -> None:
        """WATCHDOG=1 from the event loop itself: a stuck loop stops the pings."""
        while True:
            self.notifier.notify(WATCHDOG=1)
            await trio.sleep(interval)


async def serve(config: Config, *, on_ready: OnReady = lambda name, path: None,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Run every port of ``config`` (no signals, no systemd): for tests and
    embedding. Returns only when cancelled; StartupRefused before anything is
    opened."""
    daemon = Daemon(config, on_ready=on_ready)
    async with daemon.prepared():
        await daemon.run(task_status=task_status)


async def run_until_signalled(config: Config, on_ready: OnReady,
                              config_path: Path | None = None) -> None:
    """Serve until SIGINT or SIGTERM (links closed, then return); SIGHUP
    reloads ``config_path``. StartupRefused before anything is opened."""
    notifier = Notifier()
    daemon = Daemon(config, on_ready=on_ready, notifier=notifier)
    async with daemon.prepared():
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(daemon.run)
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        if config_path is None:
                            log.warning("reload_ignored",
                                        why="no config file (run --config FILE)")
                            continue
                        notifier.notify(RELOADING=1)
                        try:
                            daemon.reload(load(config_path))
                            log.info("reloaded", config=str(config_path))
                        except ConfigError as exc:
                            log.error("reload_failed", why=str(exc), kept="the running config")
                        notifier.notify(READY=1, STATUS=daemon.status())
                        continue
                    log.info("stopping", signal=signal.Signals(signum).name)
                    notifier.notify(STOPPING=1)
                    nursery.cancel_scope.cancel()
                    break
