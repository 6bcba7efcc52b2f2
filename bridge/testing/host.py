"""The serial host's end of a pty, blocking: open it as a host does, and
read and write it against deadlines (``time.perf_counter`` times).

No event loop: the benchmarks time their own loops with these. The Trio
hosts (trio_ends.Device, the loadtest's devices) open the pty with
``open_host`` too.
"""

from __future__ import annotations

import os
import select
import termios
import time
import tty

CHUNK = 65536  # bytes per write
GUARD = 0.020  # the daemon's default escape guard (guard_ms, NOTES G5)


def open_host(path: str, *, flush: bool) -> int:
    """Open the pty as the host does: read-write, not as a controlling
    terminal, raw, non-blocking. ``flush=False`` keeps what the daemon has
    already written (a greeting such as CIP's ``ready``); ``flush=True``
    discards it (tty.setraw's TCSAFLUSH)."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd, termios.TCSAFLUSH if flush else termios.TCSANOW)
    os.set_blocking(fd, False)
    return fd


def read_ready(fd: int, limit: int, deadline: float) -> bytes:
    """What the pty holds (up to ``limit`` bytes) once it has anything; b""
    when the deadline passes first or the pty ends."""
    while (left := deadline - time.perf_counter()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                return os.read(fd, limit)
            except BlockingIOError:
                continue
    return b""


def read_exact(fd: int, size: int, deadline: float) -> bytes:
    """``size`` bytes, or fewer if the deadline passes or the pty ends first."""
    buf = bytearray()
    while len(buf) < size and (chunk := read_ready(fd, size - len(buf), deadline)):
        buf += chunk
    return bytes(buf)


def read_extra(fd: int, wait: float) -> bytes:
    """Whatever arrives within ``wait`` seconds (b"" if nothing): bytes that
    should not be there."""
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return b""
    try:
        return os.read(fd, 1 << 16)
    except (BlockingIOError, OSError):
        return b""


def write_all(fd: int, data: bytes | bytearray | memoryview, deadline: float,
              avoid: int | None = None) -> int:
    """Write ``data`` until the deadline; how many bytes were written.

    Escape guard (NOTES G5): with ``avoid`` set (the first byte of the mode's
    escape sequence), after a pause of more than 3/4 of GUARD (a margin under
    the daemon's 20 ms) a write never starts with that byte. The byte is
    changed in ``data`` (a bytearray then) before it is sent, so the caller's
    hash of ``data`` afterwards is what went out."""
    view = memoryview(data)
    pos = 0
    last = 0.0  # the start of the transfer counts as a pause
    while pos < len(data):
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        _, ready, _ = select.select([], [fd], [], left)
        if not ready:
            continue
        if avoid is not None and data[pos] == avoid and time.perf_counter() - last > GUARD * 0.75:
            data[pos] = avoid ^ 0x80  # type: ignore[index]
        try:
            n = os.write(fd, view[pos:pos + CHUNK])
        except BlockingIOError:
            continue
        pos += n
        last = time.perf_counter()
    view.release()
    return pos
