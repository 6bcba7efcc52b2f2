"""Sans-IO parsers of what a daemon writes on a UART, one per dialect.

Unsolicited data frames can arrive at any time between replies (and, in
CIP, while AT+CIPSEND waits for its data), so each port has one parser that
splits the stream into reply lines, the ``>`` prompt and data frames, and
calls back for each. All keep incomplete input until more comes.
"""

from __future__ import annotations

from collections.abc import Callable

CR, LF, GT, PLUS = 13, 10, 62, 43
IPD = b"+IPD("  # CIP (NOTES C7): \r\n+IPD(<id>),<len>:<data>
ESP_IPD = b"+IPD,"  # ESP-AT (E24), MUX 1: \r\n+IPD,<id>,<len>:<data>
SKTREAD = b"+SKTREAD:OK,"  # SKT (NOTES S6): +SKTREAD:OK,<len>,<con_id>[,ip,port]:<data>\r\n
HEADER_MAX = 64  # bytes from a frame's start to its colon, at most

OnLine = Callable[[bytes], None]
OnData = Callable[[int, bytes], None]


class CipWire:
    """Lines (without CR LF), the prompt ``\\r\\n>`` and ``+IPD`` frames."""

    prefix = IPD
    separator = b"),"  # between the link id and the length
    line_prompt = b""  # a prompt at the start of a line, without CR LF before it

    def __init__(self, on_line: OnLine, on_prompt: Callable[[], None], on_data: OnData) -> None:
        self.buffer = bytearray()
        self.on_line = on_line
        self.on_prompt = on_prompt
        self.on_data = on_data

    def feed(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        end = len(buf)
        pos = 0
        while pos < end:
            if buf[pos] == CR:
                if end - pos < 3:
                    break  # "\r\n" alone: a prompt or a frame may follow
                if buf[pos + 1] == LF:
                    third = buf[pos + 2]
                    if third == GT:
                        pos += 3
                        self.on_prompt()
                        continue
                    if third == PLUS:
                        prefix = self.prefix
                        if end - pos < 2 + len(prefix) and prefix.startswith(buf[pos + 2:end]):
                            break
                        if buf.startswith(prefix, pos + 2):
                            stop = self._frame(buf, pos, end)
                            if stop is None:
                                break
                            if stop > 0:
                                pos = stop
                                continue
                    pos += 2  # an empty line (the CR LF before a reply word)
                    continue
            elif buf[pos] == GT and self.line_prompt:
                if end - pos < len(self.line_prompt):
                    break
                if buf.startswith(self.line_prompt, pos):
                    pos += len(self.line_prompt)
                    self.on_prompt()
                    continue
            newline = buf.find(b"\r\n", pos)
            if newline < 0:
                break
            line = bytes(buf[pos:newline])
            pos = newline + 2
            self.on_line(line)
        if pos:
            del buf[:pos]

    def _frame(self, buf: bytearray, pos: int, end: int) -> int | None:
        """One +IPD frame at ``pos``: its end, None if incomplete, 0 if garbled."""
        start = pos + 2 + len(self.prefix)
        colon = buf.find(b":", start, start + HEADER_MAX)
        if colon < 0:
            return None if end - start < HEADER_MAX else 0
        head = bytes(buf[start:colon])
        link_id, sep, length = head.partition(self.separator)
        try:
            number, size = int(link_id), int(length)
        except ValueError:
            return 0
        if not sep or size < 0:
            return 0
        stop = colon + 1 + size
        if stop > end:
            return None
        self.on_data(number, bytes(buf[colon + 1:stop]))
        return stop


class EspWire(CipWire):
    """ESP-AT with CIPMUX=1 (E24): ``\\r\\n+IPD,<id>,<len>:<data>``; its
    prompt ``\\r\\nOK\\r\\n\\r\\n>`` comes as the line OK, then ``\\r\\n>``
    (1.7, E21: ``\\r\\nOK\\r\\n> ``, the line OK, then ``> ``)."""

    prefix = ESP_IPD
    separator = b","
    line_prompt = b"> "


class SktWire:
    """Lines (without CR LF, empty ones skipped) and ``+SKTREAD:OK`` frames."""

    def __init__(self, on_line: OnLine, on_data: OnData) -> None:
        self.buffer = bytearray()
        self.on_line = on_line
        self.on_data = on_data

    def feed(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        end = len(buf)
        pos = 0
        while pos < end:
            first = buf[pos]
            if first == PLUS and buf.startswith(SKTREAD, pos):
                stop = self._frame(buf, pos, end)
                if stop is None:
                    break
                if stop > 0:
                    pos = stop
                    continue
            elif first == CR:
                if end - pos < 2:
                    break
                if buf[pos + 1] == LF:
                    pos += 2
                    continue
            newline = buf.find(b"\r\n", pos)
            if newline < 0:
                break
            line = bytes(buf[pos:newline])
            pos = newline + 2
            self.on_line(line)
        if pos:
            del buf[:pos]

    def _frame(self, buf: bytearray, pos: int, end: int) -> int | None:
        start = pos + len(SKTREAD)
        colon = buf.find(b":", start, start + HEADER_MAX)
        if colon < 0:
            return None if end - start < HEADER_MAX else 0
        fields = bytes(buf[start:colon]).split(b",")
        try:
            size, con_id = int(fields[0]), int(fields[1])
        except (ValueError, IndexError):
            return 0
        stop = colon + 1 + size
        if stop + 2 > end:
            return None
        if buf[stop] != CR or buf[stop + 1] != LF:
            return 0
        self.on_data(con_id, bytes(buf[colon + 1:stop]))
        return stop + 2
