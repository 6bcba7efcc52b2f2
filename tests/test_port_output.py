"""The port's output writes a frame on the spot only when nothing is queued before it
(NOTES G2: whole frames, in order). A real pty as the UART; the host side is
read synchronously so the writer task gets no chance to run in between."""

from __future__ import annotations

import os
import tty
from pathlib import Path

import trio
import trio.testing

from bridge.config import PortSettings
from bridge.port import Port
from bridge.testing.host import open_host
from bridge.uart.pty import PtyStream, open_pty


def read_available(fd: int) -> bytes:
    parts = []
    while True:
        try:
            parts.append(os.read(fd, 65536))
        except BlockingIOError:
            return b"".join(parts)


async def test_a_frame_waits_behind_queued_ones_even_when_the_uart_has_room(
        tmp_path: Path) -> None:
    settings = PortSettings(name="order", device="pty:", bind_address="127.0.0.1")
    port = Port(settings, state_dir=tmp_path)
    big = os.urandom(256 * 1024)  # more than a pty takes at once
    async with open_pty(None) as (uart, path):
        host = open_host(path, flush=True)
        try:
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(port.run, uart)
                    await trio.testing.wait_all_tasks_blocked()
                    await port.output.send(big)  # part written now, the rest queued
                    first = read_available(host)  # room again, writer not run yet
                    assert 0 < len(first) < len(big)
                    await port.output.send(b"\r\nREPLY\r\n")  # must not overtake the rest
                    expected = big[len(first):] + b"\r\nREPLY\r\n"
                    rest = b""
                    while len(rest) < len(expected):
                        await trio.sleep(0.01)
                        rest += read_available(host)
                    assert rest == expected
                    nursery.cancel_scope.cancel()
        finally:
            os.close(host)


async def test_a_pty_tells_what_its_host_has_not_read_yet() -> None:
    """ESP-AT E26 waits for the host to read a reply: the count is right at
    once after a write (the kernel moves the bytes to the slave a moment
    later unless asked), and 0 once the host has read them."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stream = PtyStream(master, slave)
    try:
        for _ in range(200):
            os.write(master, b"\r\nOK\r\n")
            assert stream.unread_by_host() == 6
            assert os.read(slave, 100) == b"\r\nOK\r\n"
            assert stream.unread_by_host() == 0
    finally:
        await stream.aclose()  # closes the master
        os.close(slave)
