"""The processes a worker starts, under gevent: the at-bridge daemon
(``python -m bridge run --config``, ready once it has printed every pty path)
and the built-in echo server (``python -m bridge.loadtest.echo``).

Both die with the worker, even a killed one (the kernel sends them SIGTERM
when it goes: PR_SET_PDEATHSIG), and are stopped with SIGTERM (SIGKILL if
they hang) when it ends.
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import gevent

from ..testing.spawn import DaemonFailed, stop

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start(argv: list[str], cwd: Path, stderr: object) -> subprocess.Popen:
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                            cwd=str(cwd), preexec_fn=_die_with_parent)


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Daemon:
    def __init__(self, config: Path, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = _start([sys.executable, "-m", "bridge", "run", "--config",
                                   str(config)], config.parent, log)
        self.pid = self.process.pid
        self.stopping = False

    def wait_ready(self, paths: list[str], timeout: float) -> None:
        """Until every path has been printed (each port is open); DaemonFailed if not."""
        wanted = set(paths)
        assert self.process.stdout is not None
        try:
            with gevent.Timeout(timeout):
                while wanted:
                    line = self.process.stdout.readline()
                    if not line:
                        raise DaemonFailed(f"the daemon exited ({self.process.wait()}) before "
                                           f"its ports were ready: {log_tail(self.log_path)}")
                    wanted.discard(line.decode(errors="replace").strip())
        except gevent.Timeout:
            raise DaemonFailed(f"ports not ready after {timeout} s: "
                               f"{log_tail(self.log_path)}") from None

    def watch(self, error: Callable[[str, str], None]) -> None:
        """After readiness: a port announced again was reopened (it failed); an
        end of its output before we stop it, an exit on its own."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            error("port_reopened", line.decode(errors="replace").strip())
        if not self.stopping:
            error("daemon_exited", f"exit code {self.process.wait()} before the run ended: "
                                   f"{log_tail(self.log_path)}")

    def stop(self) -> None:
        self.stopping = True
        stop(self.process)


class EchoServer:
    """The built-in echo server, on 127.0.0.1; its address and CA once it serves."""

    def __init__(self, proto: str, work_dir: Path, timeout: float) -> None:
        self.process = _start([sys.executable, "-m", "bridge.loadtest.echo", proto,
                               str(work_dir)], work_dir, subprocess.DEVNULL)
        assert self.process.stdout is not None
        with gevent.Timeout(timeout, DaemonFailed(f"the echo server did not start in "
                                                  f"{timeout} s")):
            line = self.process.stdout.readline()
        if not line:
            raise DaemonFailed(f"the echo server exited ({self.process.wait()})")
        started = json.loads(line)
        self.address: tuple[str, int] = (started["host"], started["port"])
        self.ca_file: str | None = started["ca_file"]

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # it serves until its stdin ends
        stop(self.process)
