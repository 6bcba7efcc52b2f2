"""One ICMP echo (AT+PING, NOTES C13), on Trio sockets.

An unprivileged ICMP datagram socket is used when the kernel allows it
(net.ipv4.ping_group_range includes the daemon's group); otherwise a raw
socket, which needs CAP_NET_RAW.
"""

from __future__ import annotations

import os
import socket
import struct

import trio

ECHO_REQUEST, ECHO_REPLY = 8, 0
PAYLOAD = b"at-bridge ping!!"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, sequence: int) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, sequence)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + PAYLOAD), ident,
                       sequence) + PAYLOAD


def is_reply(packet: bytes, ident: int | None, sequence: int) -> bool:
    """Our echo's reply (on a datagram socket the kernel owns the identifier)."""
    if len(packet) < 8:
        return False
    kind, _, _, their_ident, their_sequence = struct.unpack("!BBHHH", packet[:8])
    return (kind == ECHO_REPLY and their_sequence == sequence and packet[8:] == PAYLOAD
            and (ident is None or their_ident == ident))


def _icmp_socket() -> tuple[trio.socket.SocketType, bool]:
    try:
        return trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False
    except PermissionError:
        return trio.socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True


async def ping(address: str, timeout: float) -> float | None:
    """Round-trip seconds of one echo to an IPv4 address; None if no reply in time.

    Raises PermissionError when neither socket kind is allowed.
    """
    sock, raw = _icmp_socket()
    with sock:
        ident = os.getpid() & 0xFFFF
        sequence = int.from_bytes(os.urandom(2), "big")
        start = trio.current_time()
        await sock.sendto(echo_request(ident, sequence), (address, 0))
        with trio.move_on_after(timeout):
            while True:
                packet, source = await sock.recvfrom(2048)
                if raw:
                    if source[0] != address:
                        continue
                    packet = packet[(packet[0] & 0x0F) * 4:]  # past the IP header
                if is_reply(packet, ident if raw else None, sequence):
                    return trio.current_time() - start
    return None
