"""The daemon as a subprocess: a generated config with one pty port per
virtual device, readiness (one path per port on stdout), RSS and stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

from .options import Options
from .stats import Stats

STOP_WITHIN = 10.0  # seconds from SIGTERM to exit before the daemon is killed


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def write_config(work_dir: Path, options: Options, ca_file: str | None) -> tuple[Path, list[str]]:
    """The daemon's TOML config and the pty paths its ports will have."""
    paths = [str(work_dir / f"dev{index}") for index in range(options.ports)]
    lines = ["[daemon]", f"state_dir = {toml_string(str(work_dir / 'state'))}",
             'log_level = "warning"']
    for index, path in enumerate(paths):
        lines += ["", "[[port]]", f'name = "lt{index}"', f"device = {toml_string('pty:' + path)}",
                  f'dialect = "{options.dialect}"', 'bind_address = "127.0.0.1"']
        if ca_file is not None:
            lines.append(f"tls_ca_file = {toml_string(ca_file)}")
        if not options.tls_verify:
            lines.append("tls_verify = false")
        lines += [f"{key} = {value}" for key, value in options.port_settings]
    config = work_dir / "at-bridge.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config, paths


def rss_kib(pid: int | None) -> int | None:
    """VmRSS of a process in KiB (from /proc/<pid>/status), None if unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU seconds of a process (all its threads), from /proc."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
        fields = text[text.rindex(b")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy (every core, from /proc/stat)."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS  # up to steal; guest is inside user


class DaemonFailed(Exception):
    """The daemon did not start, or stopped when it should not have."""


class SpawnedDaemon:
    def __init__(self, process: trio.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.pid = process.pid
        self.announced: list[str] = []
        self._stdout = bytearray()

    @classmethod
    async def start(cls, config: Path, log_path: Path) -> SpawnedDaemon:
        with open(log_path, "ab") as log:
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "bridge", "run", "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                cwd=str(config.parent))
        return cls(process, log_path)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, paths: list[str], timeout: float) -> None:
        """Until every path has been printed (each port is open)."""
        wanted = set(paths)
        with trio.move_on_after(timeout):
            while not wanted <= set(self.announced):
                if not await self._read_lines():
                    raise DaemonFailed(f"the daemon exited ({await self.process.wait()}) "
                                       f"before its ports were ready:\n{self.log_tail()}")
            return
        raise DaemonFailed(f"ports not ready after {timeout} s (got {len(self.announced)} of "
                           f"{len(paths)}):\n{self.log_tail()}")

    async def _read_lines(self) -> bool:
        assert self.process.stdout is not None
        data = await self.process.stdout.receive_some(65536)
        if not data:
            return False
        self._stdout += data
        *complete, rest = self._stdout.split(b"\n")
        self._stdout = bytearray(rest)
        self.announced += [line.decode(errors="replace") for line in complete]
        return True

    async def watch(self, stats: Stats, ports: int) -> None:
        """After readiness: a port announced again was reopened (it failed)."""
        try:
            while await self._read_lines():
                while len(self.announced) > ports:
                    stats.error("port_reopened", f"{self.announced.pop()}")
        except trio.ClosedResourceError:
            return  # stop() closed it

    async def stop(self, stats: Stats, grace: float = 0.0) -> int | None:
        """SIGTERM, then SIGKILL after STOP_WITHIN seconds; the exit code. A
        daemon that exits by itself (within ``grace`` seconds) is an error."""
        with trio.CancelScope(shield=True):
            if grace and self.process.returncode is None:
                with trio.move_on_after(grace):
                    await self.process.wait()
            if self.process.returncode is not None:
                stats.error("daemon_exited", f"exit code {self.process.returncode} before "
                                             f"loadtest stopped it:\n{self.log_tail()}")
            else:
                self.process.send_signal(signal.SIGTERM)
                with trio.move_on_after(STOP_WITHIN):
                    await self.process.wait()
                if self.process.returncode is None:
                    stats.error("daemon_stop_timeout", f"no exit {STOP_WITHIN} s after "
                                                       "SIGTERM; killed")
                    self.process.kill()
                    await self.process.wait()
                elif self.process.returncode != 0:
                    stats.error("daemon_exit_code", f"exit code {self.process.returncode} "
                                                    f"after SIGTERM:\n{self.log_tail()}")
            if self.process.stdout is not None:
                await self.process.stdout.aclose()
        return self.process.returncode
