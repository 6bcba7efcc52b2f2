"""The daemon the load test starts: a generated config with one pty port per
virtual device, and what it does wrong (reopening a port, exiting by itself,
a bad exit) counted as errors."""

from __future__ import annotations

from pathlib import Path

import trio

from ..testing.spawn import STOP_WITHIN, TomlText, write_config
from ..testing.trio_daemon import Daemon
from .options import Options
from .stats import Stats


def write_daemon_config(work_dir: Path, options: Options,
                        ca_file: str | None) -> tuple[Path, list[str]]:
    """The daemon's TOML config and the pty paths its ports will have."""
    paths = [str(work_dir / f"dev{index}") for index in range(options.ports)]
    ports = []
    for index, path in enumerate(paths):
        port: dict[str, object] = {"name": f"lt{index}", "device": f"pty:{path}",
                                   "dialect": options.dialect, "bind_address": "127.0.0.1"}
        if ca_file is not None:
            port["tls_ca_file"] = ca_file
        if not options.tls_verify:
            port["tls_verify"] = False
        port.update((key, TomlText(value)) for key, value in options.port_settings)
        ports.append(port)
    config = write_config(work_dir / "at-bridge.toml",
                          {"state_dir": str(work_dir / "state"), "log_level": "warning"}, ports)
    return config, paths


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
