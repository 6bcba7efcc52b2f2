"""A new pseudo-terminal standing in for the UART (the default device).

NOTES G8: the slave is put in raw mode before its path is published, and we
keep it open ourselves, so a terminal program can come and go without the
master seeing EOF or EIO. Holding the slave also tells how much of what we
wrote the host has not read yet (ESP-AT E26 waits for it after a reply).
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import tty
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .device_stream import DeviceStream


class PtyStream(DeviceStream):
    """The master side of a pty whose slave we hold."""

    def __init__(self, master: int, slave: int) -> None:
        super().__init__(trio.lowlevel.FdStream(master), master)
        self.slave = slave

    def unread_by_host(self) -> int:
        """Bytes in the slave's input queue: written, not yet read by the host.

        The kernel moves what the master wrote to the slave's queue a moment
        later; polling the slave makes it do so first (without the poll, a
        count right after a write reads 0 most of the time)."""
        select.select([self.slave], [], [], 0)
        return struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, bytes(4)))[0]


@asynccontextmanager
async def open_pty(link: str | None) -> AsyncIterator[tuple[trio.abc.Stream, str]]:
    """Yield the master side as a stream and the path a device should open."""
    master, slave = os.openpty()
    tty.setraw(slave)
    slave_path = os.ttyname(slave)
    stream = PtyStream(master, slave)
    try:
        if link:
            temporary = f"{link}.{os.getpid()}.tmp"
            os.symlink(slave_path, temporary)
            os.replace(temporary, link)  # atomic: a stale link from a crash is replaced
        yield stream, link or slave_path
    finally:
        if link and os.path.islink(link) and os.readlink(link) == slave_path:
            os.unlink(link)
        await stream.aclose()
        os.close(slave)
