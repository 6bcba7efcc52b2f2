"""What a port has moved, kept across reopens of its device (for metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PortCounters:
    uart_in: int = 0
    uart_out: int = 0
    frames_out: int = 0  # unsolicited data frames (+IPD, +SKTREAD) written
    link_in: int = 0
    link_out: int = 0
    #: link bytes by link id, summed over every link that held the id: a
    #: reused id carries on from its total, so no series ever goes backwards
    link_id_in: dict[int, int] = field(default_factory=dict)
    link_id_out: dict[int, int] = field(default_factory=dict)

    def link_received(self, con_id: int, size: int) -> None:
        """``size`` bytes from a link's peer were given to the host."""
        self.link_in += size
        self.link_id_in[con_id] = self.link_id_in.get(con_id, 0) + size

    def link_sent(self, con_id: int, size: int) -> None:
        """``size`` bytes from the host were sent on a link."""
        self.link_out += size
        self.link_id_out[con_id] = self.link_id_out.get(con_id, 0) + size
