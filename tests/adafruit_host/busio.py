"""Stand-in for CircuitPython's busio: adafruit_espatcontrol imports it.

Its ``__init__`` annotation ``uart: busio.UART`` is evaluated when the class is
defined, so the module must exist; the UART itself is a pyserial Serial.
"""


class UART:
    """Never instantiated: the host passes a pyserial Serial as its uart."""
