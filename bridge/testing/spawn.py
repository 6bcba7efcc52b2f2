"""Starting the daemon (or a process standing in for it) and knowing when its
ptys are there, blocking: the command that stands for ``at-bridge``, a
generated config, waiting for a pty's path, stopping the process.

trio_daemon.py does the same under Trio.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

STOP_WITHIN = 10.0  # seconds from SIGTERM to exit before the process is killed


class DaemonFailed(Exception):
    """The daemon did not start, or stopped when it should not have."""


def bridge_command(option: str | None = None) -> list[str]:
    """What stands for ``at-bridge``: ``option`` (a command line, e.g. a
    profiler wrapping it), the console script, or ``python -m bridge``."""
    if option:
        return shlex.split(option)
    found = shutil.which("at-bridge")
    return [found] if found else [sys.executable, "-m", "bridge"]


class TomlText(str):
    """A config value already written in TOML (given on a command line)."""


def toml_value(value: object) -> str:
    if isinstance(value, TomlText):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, daemon: Mapping[str, object],
                 ports: Iterable[Mapping[str, object]]) -> Path:
    """A daemon config: the ``[daemon]`` table and one ``[[port]]`` table each."""
    lines = ["[daemon]", *(f"{key} = {toml_value(value)}" for key, value in daemon.items())]
    for port in ports:
        lines += ["", "[[port]]", *(f"{key} = {toml_value(value)}" for key, value in port.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_for_path(path: str, process: subprocess.Popen, timeout: float) -> None:
    """Until ``path`` exists (a pty link the process makes)."""
    deadline = time.perf_counter() + timeout
    while not os.path.exists(path):
        if process.poll() is not None:
            raise DaemonFailed(f"{process.args[0]} exited with {process.returncode} "
                               f"before {path} appeared")
        if time.perf_counter() > deadline:
            raise DaemonFailed(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.01)


def wait_announced(process: subprocess.Popen, path: str, timeout: float) -> None:
    """Until the process prints ``path`` on its stdout (a pipe), as at-bridge
    does when the pty is ready; other lines, from a profiler wrapping it say,
    are skipped."""
    assert process.stdout is not None
    deadline = time.perf_counter() + timeout
    seen = []
    while True:
        ready, _, _ = select.select([process.stdout], [], [],
                                    max(0.0, deadline - time.perf_counter()))
        line = process.stdout.readline() if ready else b""
        if line.decode(errors="replace").strip() == path:
            return
        if line:
            seen.append(line)
            continue
        status = process.poll()
        why = f"exited with status {status}" if status is not None else f"within {timeout:.0f} s"
        raise DaemonFailed(f"at-bridge did not announce {path} on stdout ({why}; "
                           f"stdout {b''.join(seen)!r})")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after STOP_WITHIN seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
