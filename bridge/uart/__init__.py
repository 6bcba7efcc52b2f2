"""The UART side of a port: every kind of device is a trio.abc.Stream."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import trio

from ..config import PTY_PREFIX, PortSettings, pty_link
from .pty import open_pty
from .serial import open_serial


def open_device(settings: PortSettings) -> AbstractAsyncContextManager[tuple[trio.abc.Stream, str]]:
    """Open the port's device; yields the stream and the path a host opens."""
    if settings.device.startswith(PTY_PREFIX):
        return open_pty(pty_link(settings.device))
    return open_serial(settings)
