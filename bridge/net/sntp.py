"""A small SNTP client (RFC 4330) for AT+CIPSNTPTIME (NOTES C14)."""

from __future__ import annotations

import socket
import struct
import time

import trio

NTP_EPOCH = 2208988800  # seconds from 1900-01-01 to 1970-01-01
NTP_PORT = 123
MODE_CLIENT, MODE_SERVER = 3, 4


class SntpError(Exception):
    """The server's answer cannot be used (RFC 4330 section 5)."""


def to_ntp(seconds: float) -> bytes:
    whole = int(seconds) + NTP_EPOCH
    return struct.pack("!II", whole & 0xFFFFFFFF, int((seconds % 1) * 2**32))


def from_ntp(data: bytes) -> float:
    whole, fraction = struct.unpack("!II", data)
    return whole - NTP_EPOCH + fraction / 2**32


def request(transmit: float) -> bytes:
    """LI 0, version 4, mode 3 (client), our transmit time."""
    return bytes([0 << 6 | 4 << 3 | MODE_CLIENT]) + bytes(39) + to_ntp(transmit)


def offset(reply: bytes, sent: bytes, received_at: float) -> float:
    """The clock offset (server minus ours) from a reply to ``sent``."""
    if len(reply) < 48:
        raise SntpError(f"{len(reply)} bytes")
    leap, mode, stratum = reply[0] >> 6, reply[0] & 7, reply[1]
    if mode != MODE_SERVER or reply[24:32] != sent[40:48]:
        raise SntpError("not an answer to our request")
    if leap == 3 or stratum == 0 or stratum > 15:
        raise SntpError(f"server unsynchronised (leap {leap}, stratum {stratum})")
    if reply[40:48] == bytes(8):
        raise SntpError("no transmit time")
    originate = from_ntp(sent[40:48])
    server_receive, server_transmit = from_ntp(reply[32:40]), from_ntp(reply[40:48])
    return ((server_receive - originate) + (server_transmit - received_at)) / 2


async def query(address: str, timeout: float, port: int = NTP_PORT) -> float:
    """The offset of ``address``'s clock from ours, in seconds."""
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.connect((address, port))
        sent = request(time.time())
        await sock.send(sent)
        with trio.fail_after(timeout):
            while True:
                reply = await sock.recv(1024)
                try:
                    return offset(reply, sent, time.time())
                except SntpError:
                    continue  # a stray or bad datagram: wait for a good one in time
