"""Stand-in for CircuitPython's digitalio: adafruit_espatcontrol imports it.

The tests pass no reset or RTS pin, so nothing here is ever driven; the names
exist for the library's import and its annotations.
"""


class Direction:
    INPUT = "input"
    OUTPUT = "output"


class DigitalInOut:
    """A pin; never instantiated (no pins are passed to ESP_ATcontrol)."""
