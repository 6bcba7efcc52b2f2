"""What /proc says about a process and the machine: CPU seconds and memory.

Each reader raises OSError once the process is gone (reaped) and LookupError
when /proc lacks the field; ``sample`` turns both into None for samplers that
carry on without the figure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc's CPU times

T = TypeVar("T")


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds of a process, all its threads, by mode."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, before: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - before.user, self.system - before.system)


def cpu_times(pid: int) -> CpuTimes:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        text = stat.read()
    # the name (field 2) may hold spaces and parentheses: fields start after the last ")"
    fields = text[text.rindex(b")") + 2:].split()
    return CpuTimes(int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS)  # 14, 15


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """A figure of /proc/<pid>/status in KiB: VmRSS (resident now), VmHWM (its peak)."""
    prefix = field.encode() + b":"
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(prefix):
                return int(line.split()[1])
    raise LookupError(f"no {field} in /proc/{pid}/status")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every core, from /proc/stat)."""
    with open("/proc/stat", "rb") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS  # up to steal; guest is inside user


def sample(read: Callable[..., T], *args: object) -> T | None:
    """``read(*args)``, or None when /proc cannot tell (the process is gone)."""
    try:
        return read(*args)
    except (OSError, LookupError, ValueError):
        return None
