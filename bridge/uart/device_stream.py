"""A tty's file descriptor as a trio stream, shaped by how ttys move data.

Reads: a pty or tty hands out at most 4 KiB per read(2) while more is already
waiting, so a receive reads on until the fd would block; one trip through the
port (and its scheduler hops) then carries up to 64 KiB instead of 4 KiB.

Writes: a write the tty takes only in part means its buffer is full, so we
wait for room at once instead of trying again into an EAGAIN. At full speed a
pty frees about 4 KiB at a time; that halves the write calls (and the
exceptions) per MiB against trio's FdStream.

The stream we wrap (FdStream or trio-serial's SerialStream) keeps the fd's
ownership: it closes it and holds the serial line's settings and lock.
"""

from __future__ import annotations

import errno
import os

import trio

DEFAULT_CHUNK = 65536


class DeviceStream(trio.abc.Stream):
    def __init__(self, owner: trio.abc.Stream, fd: int) -> None:
        self.owner = owner
        self.fd = fd

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        limit = max_bytes or DEFAULT_CHUNK
        # Readiness first: a serial line set with VMIN=0 reads b"" when it
        # has nothing, so only a read after readiness may say "ended".
        data = None
        while data is None:
            await trio.lowlevel.wait_readable(self.fd)
            data = self._read(limit)
        parts = [data]
        size = len(data)
        while data and size < limit:
            data = self._read(limit - size)
            if not data:
                break  # empty for now (or ended: the next receive says so)
            parts.append(data)
            size += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read(self, limit: int) -> bytes | None:
        """What the fd holds now, b"" at its end, None if it would block."""
        try:
            return os.read(self.fd, limit)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise _broken(exc) from exc

    def write_nowait(self, data: bytes | memoryview) -> int:
        """Write what the device takes now, without waiting; how much it took."""
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise _broken(exc) from exc

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        view = memoryview(data)
        waited = False
        while True:
            written = self.write_nowait(view)
            if written == len(view):
                break
            view = view[written:]
            await trio.lowlevel.wait_writable(self.fd)
            waited = True
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self.fd)

    async def aclose(self) -> None:
        await self.owner.aclose()


def _broken(exc: OSError) -> trio.ClosedResourceError | trio.BrokenResourceError:
    if exc.errno == errno.EBADF:
        return trio.ClosedResourceError("the device was already closed")
    return trio.BrokenResourceError(f"device failed: {exc!r}")
