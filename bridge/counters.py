"""What a port has moved, kept across reopens of its device (for metrics)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PortCounters:
    uart_in: int = 0
    uart_out: int = 0
    frames_out: int = 0  # unsolicited data frames (+IPD, +SKTREAD) written
    link_in: int = 0
    link_out: int = 0
