"""The daemon the load test starts (its config: daemon_config.py), and what
it does wrong (reopening a port, exiting by itself, a bad exit) counted as
errors."""

from __future__ import annotations

import trio

from ..testing.spawn import STOP_WITHIN
from ..testing.trio_daemon import Daemon
from .stats import Stats


async def watch(daemon: Daemon, stats: Stats, ports: int) -> None:
    """After readiness: a port announced again was reopened (it failed)."""
    try:
        while await daemon.read_lines():
            while len(daemon.announced) > ports:
                stats.error("port_reopened", f"{daemon.announced.pop()}")
    except trio.ClosedResourceError:
        return  # stop() closed it


async def stop(daemon: Daemon, stats: Stats, grace: float = 0.0) -> int:
    """Stop it; its exit code. A daemon that exits by itself (within ``grace``
    seconds) is an error, and so are a hang and a bad exit after SIGTERM."""
    stopped = await daemon.stop(grace)
    if stopped.on_its_own:
        stats.error("daemon_exited", f"exit code {stopped.returncode} before "
                                     f"loadtest stopped it:\n{daemon.log_tail()}")
    elif stopped.killed:
        stats.error("daemon_stop_timeout", f"no exit {STOP_WITHIN} s after SIGTERM; killed")
    elif stopped.returncode != 0:
        stats.error("daemon_exit_code", f"exit code {stopped.returncode} "
                                        f"after SIGTERM:\n{daemon.log_tail()}")
    return stopped.returncode
