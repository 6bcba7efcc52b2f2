"""The two ends of the bridge a test drives, in Trio: the serial host's end of
a pty (``Device``) and a TCP peer (``Peer``), byte by byte.

Every wait is bounded (``trio.fail_after``) so that a broken daemon fails the
caller instead of hanging it. Checks are plain ``assert`` statements: tests
get pytest's rewritten messages (tests/conftest.py registers this module).
"""

from __future__ import annotations

import re

import trio

from .host import open_host

WAIT = 5.0  # seconds any single expected reply may take on a loaded CI machine


class Device:
    """The serial device's end of the pty: what the legacy host sends and sees."""

    def __init__(self, path: str) -> None:
        self.stream = trio.lowlevel.FdStream(open_host(path, flush=False))
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        with trio.fail_after(WAIT):
            await self.stream.send_all(data)

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        assert data, "the daemon closed the pty"
        self.pending += data

    async def read_exactly(self, size: int, timeout: float = WAIT) -> bytes:
        with trio.fail_after(timeout):
            while len(self.pending) < size:
                await self._fill()
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    async def expect(self, expected: bytes, timeout: float = WAIT) -> None:
        """The next bytes from the daemon are exactly ``expected``."""
        got = await self.read_exactly(len(expected), timeout)
        assert got == expected

    async def read_until(self, pattern: bytes, timeout: float = WAIT) -> re.Match[bytes]:
        """Read until ``pattern`` (a regex) matches at the start of what came."""
        regex = re.compile(pattern, re.DOTALL)
        with trio.fail_after(timeout):
            while True:
                match = regex.match(bytes(self.pending))  # a copy: pending changes
                if match:
                    del self.pending[: match.end()]
                    return match
                await self._fill()

    async def skip_until(self, marker: bytes, timeout: float = WAIT) -> None:
        """Drop everything up to and including ``marker`` (after line noise)."""
        with trio.fail_after(timeout):
            while (index := self.pending.find(marker)) < 0:
                del self.pending[:max(0, len(self.pending) - len(marker))]
                await self._fill()
        del self.pending[:index + len(marker)]

    async def expect_silence(self, duration: float = 0.3) -> None:
        with trio.move_on_after(duration):
            await self._fill()
        assert self.pending == b"", f"unexpected bytes: {bytes(self.pending)!r}"

    async def send_in_chunks(self, data: bytes, chunk: int = 4000) -> None:
        """As a UART host writes: in pieces, never all at once."""
        for offset in range(0, len(data), chunk):
            await self.send(data[offset:offset + chunk])

    async def command(self, line: bytes, reply: bytes) -> None:
        await self.send(line + b"\r\n")
        await self.expect(reply)

    async def aclose(self) -> None:
        await self.stream.aclose()


class Peer:
    """A TCP peer on 127.0.0.1 that the test drives byte by byte."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        with trio.fail_after(WAIT):
            await self.stream.send_all(data)

    async def read_exactly(self, size: int, timeout: float = WAIT) -> bytes:
        with trio.fail_after(timeout):
            while len(self.pending) < size:
                data = await self.stream.receive_some(65536)
                assert data, f"peer closed after {bytes(self.pending)!r}"
                self.pending += data
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    async def expect(self, expected: bytes, timeout: float = WAIT) -> None:
        assert await self.read_exactly(len(expected), timeout) == expected

    async def expect_eof(self, timeout: float = WAIT) -> None:
        with trio.fail_after(timeout):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return
                if not data:
                    return
                self.pending += data

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.stream.socket.getsockname()[:2]
        return host, port

    async def aclose(self) -> None:
        await self.stream.aclose()
