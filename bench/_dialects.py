"""What cip.py, cip_responder.py and roundtrip.py need to know of the two
dialects built on AT+CIPSTART / AT+CIPSEND / +IPD: CIP (NOTES C-items) and
ESP-AT (esp-at.md E-items), as the host sees them with echo off and MUX 0.

Imported as ``_dialects`` from the script's own directory, like ``_common``.
"""

from __future__ import annotations

import dataclasses

from bridge.testing.wire import CipWire, EspSingleWire

ECHO_OFF = (b"ATE0", b"ATE0\r\n\r\nOK\r\n")  # C1, E4: ATE0's own line is still echoed


@dataclasses.dataclass(frozen=True)
class Dialect:
    name: str  # at-bridge's --dialect
    greeting: bytes  # written when the pty opens
    setup: tuple[tuple[bytes, bytes], ...]  # commands and replies after the greeting
    ok: bytes  # AT's reply (and AT+CIPMODE=1's) with echo off
    connected: bytes  # AT+CIPSTART's reply
    passthrough_prompt: bytes  # AT+CIPSEND's with CIPMODE=1
    escape_notice: bytes  # what a standalone +++ prints when it leaves passthrough
    block: int  # the largest AT+CIPSEND=<n>
    prompt: bytes  # AT+CIPSEND=<n>'s
    sent: bytes  # after the n bytes, with <n> standing for n
    frame_max: int  # the most data one +IPD frame carries
    wire: type[CipWire]  # the parser of its +IPD frames
    gap_setting: str | None = None  # the port setting that spaces frames after a reply

    def sent_reply(self, count: int) -> bytes:
        """What follows the ``count`` bytes of an AT+CIPSEND=<count>."""
        return self.sent.replace(b"<n>", b"%d" % count)


CIP = Dialect(
    name="cip", greeting=b"\r\nready\r\n", setup=(ECHO_OFF,), ok=b"OK\r\n",
    connected=b"CONNECT\r\nOK\r\n",  # C5
    passthrough_prompt=b"\r\n>", escape_notice=b"+QUIT\r\n",  # C10
    block=2048, prompt=b"\r\n>", sent=b"SEND OK\r\n",  # C9
    frame_max=2048, wire=CipWire)  # C7

ESP_AT = Dialect(
    name="esp-at", greeting=b"\r\nready\r\n",  # E7
    setup=(ECHO_OFF,  # and the virtual station joined before a link (E9):
           (b'AT+CWJAP="x","y"', b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")),
    ok=b"\r\nOK\r\n",
    connected=b"CONNECT\r\n\r\nOK\r\n",  # E16
    passthrough_prompt=b"\r\nOK\r\n\r\n>", escape_notice=b"",  # E23
    block=8192, prompt=b"\r\nOK\r\n\r\n>", sent=b"\r\nRecv <n> bytes\r\n\r\nSEND OK\r\n",  # E21
    frame_max=1460, wire=EspSingleWire,  # E24: ipd_chunk's default
    gap_setting="urc_gap_ms")  # E26

DIALECTS = {dialect.name: dialect for dialect in (CIP, ESP_AT)}
