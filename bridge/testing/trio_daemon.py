"""The daemon as a subprocess, under Trio: ``python -m bridge run --config``,
ready once every pty path has been printed on its stdout, stopped with
SIGTERM (SIGKILL if it hangs).

spawn.py writes the config and does the same blocking.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import trio

from .spawn import STOP_WITHIN, DaemonFailed


@dataclass(frozen=True)
class Stopped:
    """How the daemon ended."""

    returncode: int
    on_its_own: bool  # it had exited before it was told to
    killed: bool  # no exit within STOP_WITHIN seconds of SIGTERM


class Daemon:
    def __init__(self, process: trio.Process, log_path: Path | None) -> None:
        self.process = process
        self.log_path = log_path
        self.pid = process.pid
        self.announced: list[str] = []  # the lines on its stdout: a pty path each
        self._stdout = bytearray()

    @classmethod
    async def start(cls, config: Path, log_path: Path | None = None) -> Daemon:
        """Run it in the config's directory; its stderr goes to ``log_path``
        (appended), or to ours when None."""
        argv = [sys.executable, "-m", "bridge", "run", "--config", str(config)]
        if log_path is None:
            process = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=str(config.parent))
        else:
            with open(log_path, "ab") as log:
                process = await trio.lowlevel.open_process(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                    cwd=str(config.parent))
        return cls(process, log_path)

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None:
            return ""
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
                if not await self.read_lines():
                    raise DaemonFailed(f"the daemon exited ({await self.process.wait()}) "
                                       f"before its ports were ready:\n{self.log_tail()}")
            return
        raise DaemonFailed(f"ports not ready after {timeout} s (got {len(self.announced)} of "
                           f"{len(paths)}):\n{self.log_tail()}")

    async def read_lines(self) -> bool:
        """Add what comes on stdout to ``announced``; False at its end."""
        assert self.process.stdout is not None
        data = await self.process.stdout.receive_some(65536)
        if not data:
            return False
        self._stdout += data
        *complete, rest = self._stdout.split(b"\n")
        self._stdout = bytearray(rest)
        self.announced += [line.decode(errors="replace") for line in complete]
        return True

    async def stop(self, grace: float = 0.0) -> Stopped:
        """SIGTERM, then SIGKILL after STOP_WITHIN seconds, unless it exits by
        itself within ``grace`` seconds (or has already)."""
        process = self.process
        with trio.CancelScope(shield=True):
            if grace and process.returncode is None:
                with trio.move_on_after(grace):
                    await process.wait()
            on_its_own = process.returncode is not None
            killed = False
            if not on_its_own:
                process.send_signal(signal.SIGTERM)
                with trio.move_on_after(STOP_WITHIN):
                    await process.wait()
                if process.returncode is None:
                    killed = True
                    process.kill()
                    await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()
        assert process.returncode is not None
        return Stopped(process.returncode, on_its_own, killed)
