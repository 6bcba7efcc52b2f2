"""Transparent mode (SKT AT+SKTTT, S9) and passthrough (CIP/ESP-AT
AT+CIPMODE=1 then AT+CIPSEND, C10, E23): which link the UART's bytes go
to, and entering and leaving the mode as outcomes the port applies."""

from __future__ import annotations

from collections.abc import Callable

from ..at.commands import NOTHING, EnterTransparent, Outcome
from ..at.framer import Framer
from ..links.link import Link
from ..net.errors import SendError
from .api import PortServices
from .links import Links


class Transparent:
    def __init__(self, port: PortServices, links: Links, framer: Framer, *,
                 lost_notice: bytes, datagram_size: int | None = None,
                 on_leave: Callable[[], None] = lambda: None) -> None:
        self.port = port
        self.links = links
        self.framer = framer
        self.lost_notice = lost_notice  # what the host is told when the link goes
        self.datagram_size = datagram_size  # datagram links: one datagram per packet (C10)
        self.on_leave = on_leave  # host-mode changes that come with leaving (SKT S9)
        self.link: Link | None = None

    def enter(self, link: Link, reply: bytes) -> Outcome:
        def commit() -> None:
            self.link = link
            self.port.log.info("transparent_on", con_id=link.con_id)
            self.links.wake()

        return Outcome(reply, EnterTransparent(link), commit)

    def leave(self, notice: bytes) -> Outcome:
        def commit() -> None:
            link, self.link = self.link, None
            self.on_leave()
            self.port.log.info("transparent_off", con_id=link.con_id if link else None)
            self.links.wake()

        return Outcome(notice, None, commit)

    async def data(self, data: bytes) -> Outcome:
        """UART bytes for the link; leaving the mode if it cannot take them."""
        link = self.link
        if link is None:
            return NOTHING  # the mode already ended (its link went away)
        try:
            if self.datagram_size and link.inbound is not None and link.inbound.datagrams:
                for start in range(0, len(data), self.datagram_size):
                    await link.send(data[start:start + self.datagram_size])
            else:
                await link.send(data)
        except SendError as exc:
            self.port.log.warning("transparent_send_failed", con_id=link.con_id, why=str(exc))
            return self.lost(link)
        self.links.account("link_tx", link, data)
        return NOTHING

    def lost(self, link: Link) -> Outcome:
        """The link went away: drop what the host still sends for it, and leave."""
        if link is not self.link:
            return NOTHING
        dropped = self.framer.leave_transparent()
        self.port.log.info("transparent_link_lost", con_id=link.con_id,
                           dropped_uart_bytes=dropped)
        return self.leave(self.lost_notice)
