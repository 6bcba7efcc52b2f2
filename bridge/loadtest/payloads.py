"""The messages links send: different per link and sequence number, so that
a byte echoed on the wrong link or out of order cannot pass the check."""

from __future__ import annotations

import os
import struct


class Payloads:
    """An 8-byte header (link, sequence), then random bytes from a window that moves."""

    HEAD = struct.Struct(">II")
    POOL = 1 << 16

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool = os.urandom(self.POOL + size)

    def message(self, link: int, sequence: int) -> bytes:
        head = self.HEAD.pack(link & 0xFFFFFFFF, sequence & 0xFFFFFFFF)
        if self.size <= len(head):
            return head[:self.size]
        start = (sequence * 8191 + link * 127) % self.POOL
        return head + self.pool[start:start + self.size - len(head)]
