"""A serial line's settings, changed while the port runs (ESP-AT E29:
AT+UART_CUR / AT+UART_DEF)."""

from __future__ import annotations

import termios
from dataclasses import dataclass

import trio
from trio_serial import Parity, SerialStream, StopBits

#: ESP-AT's numbers for stop bits (1: 1, 2: 1.5, 3: 2) and parity (0 none, 1 odd, 2 even)
STOP_BITS = {1: StopBits.ONE, 2: StopBits.ONE_POINT_FIVE, 3: StopBits.TWO}
PARITIES = {0: Parity.NONE, 1: Parity.ODD, 2: Parity.EVEN}


@dataclass(frozen=True)
class LineSettings:
    """``<baud>,<databits>,<stopbits>,<parity>,<flow control>`` as ESP-AT
    numbers them; flow 1 (RTS), 2 (CTS) and 3 (both) all mean RTS/CTS
    here: Linux switches both together."""

    baudrate: int
    bytesize: int = 8
    stopbits: int = 1
    parity: int = 0
    flow: int = 0


async def apply(stream: trio.abc.Stream, line: LineSettings) -> bool:
    """Switch a serial device to ``line`` once what was written has left it;
    False (nothing changed) for a device that is not a serial line (a pty).

    trio-serial (0.4) has no public call to reconfigure an open port; it
    keeps the settings in attributes that ``_reconfigure_port`` applies."""
    owner = getattr(stream, "owner", stream)
    if not isinstance(owner, SerialStream):
        return False
    await trio.to_thread.run_sync(termios.tcdrain, owner.fd)
    owner._baudrate = line.baudrate
    owner._bytesize = line.bytesize
    owner._stopbits = STOP_BITS[line.stopbits]
    owner._parity = PARITIES[line.parity]
    owner._rtscts = line.flow != 0
    owner._xonxoff = False
    owner._reconfigure_port(force_update=True)
    return True
