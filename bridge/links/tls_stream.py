"""TLS over any trio stream with pyOpenSSL memory BIOs (a TLS link is a TCP
link whose stream is wrapped, as trio's SSLStream wraps a SocketStream).

It keeps trio's Stream contract (tests/test_streams.py runs trio's
check_two_way_stream on it): one task may receive while another sends, two
senders or two receivers at once raise BusyResourceError, and after aclose
every call raises ClosedResourceError.

Records leave through ``_flush``, one task at a time, in the order OpenSSL
made them. It writes to the socket itself and keeps what the socket did not
take (``_unsent``), so a send cancelled while the socket is full leaves the
record stream whole: the next flush finishes that record first. A receive
that needs more bytes writes only what the socket takes at once (a key
update's reply) and never waits to write: two peers both sending into full
buffers would otherwise each wait for the other to read.
"""

from __future__ import annotations

import errno
import os

import trio
from OpenSSL import SSL

from ..net.errors import HandshakeError
from ..net.tls import describe, verify_failure
from ..stream_contract import receive_limit

CHUNK = 65536


class TlsStream(trio.abc.Stream):
    def __init__(self, transport: trio.SocketStream, connection: SSL.Connection) -> None:
        self.transport = transport
        self.connection = connection
        self._flush_lock = trio.Lock()
        self._unsent: bytes | memoryview = b""  # the rest of a record the socket has not taken
        self._sending = False  # a send_all or wait_send_all_might_not_block is running
        self._receiving = False
        self._closed = False
        self._broken: str | None = None  # why, once a record was lost or OpenSSL failed

    async def do_handshake(self) -> None:
        while True:
            try:
                self.connection.do_handshake()
            except SSL.WantReadError:
                await self._flush()
                if not await self._fill():
                    raise HandshakeError("the peer closed during the handshake") from None
                continue
            except SSL.Error as exc:
                why = verify_failure(self.connection) or describe(exc)
                await self._flush_quietly()  # the alert tells the peer why
                raise HandshakeError(why) from None
            await self._flush()
            return

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        limit = receive_limit(max_bytes, CHUNK)
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this stream")
        self._receiving = True
        try:
            if self._closed:
                raise trio.ClosedResourceError("the TLS stream was closed")
            await trio.lowlevel.checkpoint_if_cancelled()
            yielded = False
            while True:
                try:
                    data = self.connection.recv(limit)
                    break
                except SSL.WantReadError:
                    if not self._flush_lock.locked():  # else its holder sends ours too
                        self._flush_now()  # e.g. a key update; never wait to write here
                    yielded = True  # _fill waits or checkpoints
                    if not await self._fill():
                        data = b""  # TCP closed without close_notify: still the end
                        break
                except SSL.ZeroReturnError:
                    data = b""
                    break
                except SSL.Error as exc:
                    raise self._break(describe(exc)) from None
            if not yielded:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        finally:
            self._receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            self._check_sendable()
            await trio.lowlevel.checkpoint_if_cancelled()
            if data:
                try:
                    self.connection.sendall(data)
                except SSL.Error as exc:
                    raise self._break(describe(exc)) from None
            if not await self._flush():
                await trio.lowlevel.cancel_shielded_checkpoint()
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            self._check_sendable()
            await trio.lowlevel.wait_writable(self._fileno())
        finally:
            self._sending = False

    async def aclose(self) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        if self._broken is None:
            self.close_notify()
        await self.transport.aclose()

    def close_notify(self) -> None:
        """Best effort, without waiting: the alert goes if the socket takes it
        (after the rest of a record a cancelled send left)."""
        try:
            self.connection.shutdown()
            data = bytes(self._unsent) + self.connection.bio_read(CHUNK)
            self._unsent = b""
            os.write(self.transport.socket.fileno(), data)  # non-blocking: it takes it or not
        except (SSL.Error, OSError):
            pass

    def _check_sendable(self) -> None:
        """For the sending side: a lost record spoils every later one."""
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream was closed")
        if self._broken is not None:
            raise trio.BrokenResourceError(self._broken)

    def _break(self, why: str) -> trio.BrokenResourceError:
        self._broken = why
        return trio.BrokenResourceError(why)

    def _fileno(self) -> int:
        fd = self.transport.socket.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the socket was closed")
        return fd

    async def _fill(self) -> bool:
        try:
            data = await self.transport.receive_some(CHUNK)
        except (trio.BrokenResourceError, OSError):
            return False
        if not data:
            return False
        self.connection.bio_write(data)
        return True

    async def _flush(self) -> bool:
        """Write every record OpenSSL made, waiting for room; whether it
        yielded to trio."""
        yielded = False
        try:
            self._flush_lock.acquire_nowait()
        except trio.WouldBlock:
            await self._flush_lock.acquire()
            yielded = True
        try:
            while not self._flush_now():
                await trio.lowlevel.wait_writable(self._fileno())
                yielded = True
            return yielded
        finally:
            self._flush_lock.release()

    def _flush_now(self) -> bool:
        """Write what the socket takes now; whether that was everything. The
        rest stays in ``_unsent`` (and OpenSSL's buffer), in order."""
        data, self._unsent = self._unsent, b""
        while True:
            if not data:
                try:
                    data = self.connection.bio_read(CHUNK)
                except SSL.WantReadError:
                    return True
            data = self._write(data)
            if data:
                self._unsent = data
                return False

    def _write(self, data: bytes | memoryview) -> bytes | memoryview:
        """Hand the socket what it takes now; what is left."""
        try:
            written = os.write(self._fileno(), data)
        except BlockingIOError:
            return data
        except OSError as exc:
            if exc.errno == errno.EBADF:
                raise trio.ClosedResourceError("the socket was closed") from None
            raise self._break(f"write failed: {exc!r}") from exc
        return memoryview(data)[written:] if written < len(data) else b""

    async def _flush_quietly(self) -> None:
        try:
            with trio.move_on_after(1):
                await self._flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
