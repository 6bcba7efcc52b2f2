"""A real serial device through trio-serial, with the port's line settings."""

from __future__ import annotations

import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from trio_serial import SerialStream

from ..config import PortSettings
from .device_stream import DeviceStream


@asynccontextmanager
async def open_serial(settings: PortSettings) -> AsyncIterator[tuple[trio.abc.Stream, str]]:
    stream = SerialStream(settings.device, exclusive=True, baudrate=settings.baudrate,
                          rtscts=settings.flow_control == "rtscts",
                          xonxoff=settings.flow_control == "xonxoff")
    try:
        await stream.aopen()
    except termios.error:  # not an OSError: setting the line up needs a terminal
        raise OSError(f"{settings.device} is not a terminal") from None
    try:
        yield DeviceStream(stream, stream.fd), settings.device
    finally:
        await stream.aclose()
