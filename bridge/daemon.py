"""The daemon: a nursery of ports, each reopened with backoff when it fails."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import structlog
import trio

from .config import Config, PortSettings, state_directory
from .port import DeviceLost, Port
from .uart import open_device

log = structlog.get_logger("bridge.daemon")

BACKOFF_START = 0.1
BACKOFF_CAP = 1.0


async def serve(config: Config, *, on_ready: Callable[[str, str], None] = lambda name, path: None,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Run every port of ``config``; ``on_ready(name, path)`` once a port's
    device is open. Returns only when cancelled."""
    async with trio.open_nursery() as nursery:
        for settings in config.port:
            await nursery.start(_serve_port, settings, state_directory(config.daemon),
                                config.daemon.trace, on_ready)
        task_status.started()


async def _serve_port(settings: PortSettings, state_dir: Path, trace: bool,
                      on_ready: Callable[[str, str], None],
                      task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """One port for ever: a device that fails or is absent is retried with
    capped exponential backoff, and nothing of it reaches the other ports."""
    port_log = log.bind(port=settings.name)
    delay = BACKOFF_START
    started = False
    while True:
        try:
            async with open_device(settings) as (uart, path):
                port_log.info("port_open", device=settings.device, path=path,
                              dialect=settings.dialect)
                on_ready(settings.name, path)
                if not started:
                    started = True
                    task_status.started()
                delay = BACKOFF_START
                await Port(settings, state_dir=state_dir, trace=trace).run(uart)
        except (DeviceLost, OSError) as exc:
            port_log.warning("port_failed", why=str(exc), retry_in=delay)
        if not started:
            started = True
            task_status.started()
        await trio.sleep(delay)
        delay = min(delay * 2, BACKOFF_CAP)


async def run_until_signalled(config: Config, on_ready: Callable[[str, str], None]) -> None:
    """Serve until SIGINT or SIGTERM, then close every link and return."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: serve(config, on_ready=on_ready,
                                                          task_status=task_status))
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
