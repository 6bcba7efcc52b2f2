"""A serial device path (not our own pty): opened with trio-serial and the
port's line settings. socat makes the device pair, as a USB adapter would."""

from __future__ import annotations

import os
import termios
from pathlib import Path

import trio
from conftest import WAIT, Device, plug_serial_device, unplug

from bridge.config import Config, PortSettings
from bridge.daemon import serve


async def test_serial_device_with_line_settings(nursery: trio.Nursery, tmp_path: Path) -> None:
    """baudrate and flow_control reach the device's termios; AT works over it."""
    device_path, host_path = tmp_path / "ttyUSB0", tmp_path / "host"
    socat = await plug_serial_device(device_path, host_path)
    try:
        port = PortSettings(name="usb", device=str(device_path), baudrate=9600,
                            flow_control="rtscts", bind_address="127.0.0.1")
        await nursery.start(serve, Config(port=[port]))
        host = Device(str(host_path))
        await host.command(b"AT+SKTSTATE", b"\r\n+SKTSTATE:OK\r\n")
        fd = os.open(os.path.realpath(device_path), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            attributes = termios.tcgetattr(fd)
        finally:
            os.close(fd)
        assert attributes[4] == attributes[5] == termios.B9600
        assert attributes[2] & termios.CRTSCTS
        await host.aclose()
    finally:
        unplug(socat)


async def test_device_absent_at_start_is_retried(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A device that does not exist yet is retried until it appears."""
    device_path, host_path = tmp_path / "ttyUSB1", tmp_path / "host"
    port = PortSettings(name="late", device=str(device_path), bind_address="127.0.0.1")
    await nursery.start(serve, Config(port=[port]))
    await trio.sleep(0.3)
    socat = await plug_serial_device(device_path, host_path)
    try:
        host = Device(str(host_path))
        with trio.fail_after(WAIT):
            while True:  # the daemon retries at most every second
                await host.send(b"AT+SKTSTATE\r\n")
                with trio.move_on_after(0.3):
                    await host.expect(b"\r\n+SKTSTATE:OK\r\n")
                    break
        await host.aclose()
    finally:
        unplug(socat)
