"""TLS over any trio stream with pyOpenSSL memory BIOs (a TLS link is a TCP
link whose stream is wrapped, as trio's SSLStream wraps a SocketStream).

One task may receive while another sends; every record leaves through
``_flush`` under one lock, so records reach the wire in the order OpenSSL
made them.
"""

from __future__ import annotations

import os

import trio
from OpenSSL import SSL

from ..net.errors import HandshakeError
from ..net.tls import describe, verify_failure

CHUNK = 65536


class TlsStream(trio.abc.Stream):
    def __init__(self, transport: trio.SocketStream, connection: SSL.Connection) -> None:
        self.transport = transport
        self.connection = connection
        self._flush_lock = trio.Lock()

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
        while True:
            try:
                return self.connection.recv(max_bytes or CHUNK)
            except SSL.WantReadError:
                await self._flush()  # e.g. a key update
                if not await self._fill():
                    return b""  # TCP closed without close_notify: still the end
            except SSL.ZeroReturnError:
                return b""
            except SSL.Error as exc:
                raise trio.BrokenResourceError(describe(exc)) from None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self.connection.sendall(bytes(data))
        except SSL.Error as exc:
            raise trio.BrokenResourceError(describe(exc)) from None
        await self._flush()

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        self.close_notify()
        await self.transport.aclose()

    def close_notify(self) -> None:
        """Best effort, without waiting: the alert goes if the socket takes it."""
        try:
            self.connection.shutdown()
            data = self.connection.bio_read(CHUNK)
            os.write(self.transport.socket.fileno(), data)  # non-blocking: it takes it or not
        except (SSL.Error, OSError):
            pass

    async def _fill(self) -> bool:
        try:
            data = await self.transport.receive_some(CHUNK)
        except (trio.BrokenResourceError, OSError):
            return False
        if not data:
            return False
        self.connection.bio_write(data)
        return True

    async def _flush(self) -> None:
        async with self._flush_lock:
            while True:
                try:
                    data = self.connection.bio_read(CHUNK)
                except SSL.WantReadError:
                    return
                await self.transport.send_all(data)

    async def _flush_quietly(self) -> None:
        try:
            with trio.move_on_after(1):
                await self._flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
