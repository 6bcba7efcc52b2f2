"""The two bugs of adafruit_espatcontrol 0.11.7 that break it on CPython
whatever the module answers, mended in the smallest way; nothing else changes.

1. ``ESP_ATcontrol.remote_AP`` tests ``reply.startswith("+CWJAP:")`` on a bytes
   reply: CPython raises TypeError (MicroPython lets it pass). The property is
   copied below with a bytes prefix, the one change.
2. ``adafruit_espatcontrol_socket.socket`` has no ``recv_into``, which
   adafruit_requests' Response and adafruit_connection_manager's fake TLS socket
   use (upstream issue adafruit/Adafruit_CircuitPython_ESP_ATcontrol#74).
   It is added on top of the library's own ``recv``.
"""

from adafruit_espatcontrol import adafruit_espatcontrol_socket
from adafruit_espatcontrol.adafruit_espatcontrol import ESP_ATcontrol


class CPythonESP_ATcontrol(ESP_ATcontrol):
    @property
    def remote_AP(self) -> list[int | str | None]:
        """Bug 1: the library's property, comparing bytes with bytes."""
        stat = self.status
        if stat != self.STATUS_APCONNECTED:
            return [None] * 4
        replies = self.at_response("AT+CWJAP?", timeout=10).split(b"\r\n")
        for reply in replies:
            if not reply.startswith(b"+CWJAP:"):
                continue
            fields = reply[7:].split(b",")
            for i, val in enumerate(fields):
                fields[i] = str(val, "utf-8")
                try:
                    fields[i] = int(fields[i])
                except ValueError:
                    fields[i] = fields[i].strip('"')
            return fields
        return [None] * 4


def _recv_into(self, buffer, nbytes: int = 0) -> int:
    """Bug 2: as socket.recv_into, on top of the library's recv (0 = buffer size)."""
    data = self.recv(nbytes or len(buffer))
    buffer[: len(data)] = data
    return len(data)


if hasattr(adafruit_espatcontrol_socket.socket, "recv_into"):
    raise RuntimeError("adafruit_espatcontrol now has recv_into: drop this shim")
adafruit_espatcontrol_socket.socket.recv_into = _recv_into
