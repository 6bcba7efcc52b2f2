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
import select

import trio

from ..stream_contract import receive_limit

DEFAULT_CHUNK = 65536


class DeviceStream(trio.abc.Stream):
    """Keeps trio's Stream contract (tests/test_streams.py runs trio's
    check_two_way_stream on a pty pair): two senders or two receivers at once
    raise BusyResourceError; after aclose every call raises ClosedResourceError
    (``fd`` is -1 then, so a closed stream never writes to a reused fd)."""

    def __init__(self, owner: trio.abc.AsyncResource, fd: int) -> None:
        self.owner = owner
        self.fd = fd
        self._sending = False  # a send_all or wait_send_all_might_not_block is running
        self._receiving = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        limit = receive_limit(max_bytes, DEFAULT_CHUNK)
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving from this device")
        self._receiving = True
        try:
            # Readiness first: a serial line set with VMIN=0 reads b"" when it
            # has nothing, so only a read after readiness may say "ended".
            data = None
            while data is None:
                await trio.lowlevel.wait_readable(self._open_fd())
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
        finally:
            self._receiving = False

    def _read(self, limit: int) -> bytes | None:
        """What the fd holds now, b"" at its end, None if it would block."""
        try:
            return os.read(self.fd, limit)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""  # a pty master whose slave side is gone: its end
            raise _broken(exc) from exc

    def write_nowait(self, data: bytes | memoryview) -> int:
        """Write what the device takes now, without waiting; how much it took."""
        if self._sending:
            raise trio.BusyResourceError("another task is sending to this device")
        return self._write(data)

    def _write(self, data: bytes | memoryview) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise _broken(exc) from exc

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending to this device")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            view = memoryview(data)
            waited = False
            while True:
                written = self._write(view)
                if written == len(view):
                    break
                if not written and waited and _hung_up(self.fd):
                    raise trio.BrokenResourceError("the other side of the device is gone")
                view = view[written:]
                await trio.lowlevel.wait_writable(self.fd)
                waited = True
            if not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending to this device")
        self._sending = True
        try:
            await trio.lowlevel.wait_writable(self._open_fd())
        finally:
            self._sending = False

    async def aclose(self) -> None:
        self.fd = -1
        await self.owner.aclose()

    def _open_fd(self) -> int:
        if self.fd < 0:
            raise trio.ClosedResourceError("the device was already closed")
        return self.fd


def _hung_up(fd: int) -> bool:
    """Whether the other side hung up: a pty master keeps taking writes into
    a full buffer after its slave closed; only poll says it is gone."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLHUP for _, events in poller.poll(0))


def _broken(exc: OSError) -> trio.ClosedResourceError | trio.BrokenResourceError:
    if exc.errno == errno.EBADF:
        return trio.ClosedResourceError("the device was already closed")
    return trio.BrokenResourceError(f"device failed: {exc!r}")
