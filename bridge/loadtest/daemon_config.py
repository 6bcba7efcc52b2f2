"""The config of the daemon a load test starts: one pty port per virtual
device. Shared by ``at-bridge loadtest`` and ``at-bridge locust``'s workers."""

from __future__ import annotations

from pathlib import Path

from ..testing.spawn import TomlText, write_config
from .options import Options


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
