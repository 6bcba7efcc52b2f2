"""Stand-in for MicroPython's micropython module (adafruit_espatcontrol_socket
imports ``const``, a compile-time constant marker)."""


def const(value: int) -> int:
    return value
