"""A dialect's links: the id table, and the pump that brings each link's
data to the host, composed from small policies.

- ``Delivery`` (asked per link, per moment): data frames go to the host now,
  data is kept for a read command, kept and announced, or relayed raw
  (transparent mode).
- ``Ending``: when a peer is gone, its notice is written once the link's
  data is out (at once when data is forwarded; after the host read it all
  in passive mode) and the id is freed (CIP, ESP-AT), or the id is kept
  until the host deletes it and only a forwarding link is told (SKT S7).
- ``Admission``: which id a peer accepted by a server takes.

A pump takes data and writes its frame inside the output's frame slot, and
every host-mode switch happens under the same lock, so no frame from before
a switch is written after the switch's reply.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ..links.inbound import Address
from ..links.link import Link, ServerLink
from ..links.table import LinkTable
from ..links.tcp import RECEIVE_CHUNK, TcpServerLink
from ..log import traced
from .api import PortServices


class Delivery(enum.Enum):
    FORWARD = "forward"  # data frames go to the host as data comes
    KEEP = "keep"  # kept for the host's read command
    ANNOUNCE = "announce"  # kept; a notice whenever data waits and none is outstanding (E25)
    RAW = "raw"  # the link is in transparent mode: its bytes as they are


class Ending(enum.Enum):
    FREE = "free"  # notice once the data is out, then the id is free
    KEEP = "keep"  # the id stays until the host deletes it (SKT S7)


class Framing(Protocol):
    """What a dialect says of its links' data."""

    def frame_limit(self, link: Link) -> int:
        """The most data one frame carries."""

    def delivery(self, link: Link) -> Delivery: ...

    def data_frame(self, link: Link, data: bytes, source: Address | None) -> bytes: ...

    def announcement(self, link: Link, size: int) -> bytes: ...

    def end_frame(self, link: Link) -> bytes: ...


@dataclass(frozen=True)
class TransparentLinkLost:
    """The link in transparent mode ended; the interpreter must leave the mode."""

    link: Link


class Links:
    def __init__(self, port: PortServices, ids: range, framing: Framing,
                 ending: Ending) -> None:
        self.port = port
        self.table = LinkTable(ids)
        self.framing = framing
        self.ending = ending

    def __iter__(self) -> Iterator[Link]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def get(self, con_id: int) -> Link | None:
        return self.table.get(con_id)

    def free_id(self) -> int | None:
        return self.table.free_id()

    # -- lifetimes -----------------------------------------------------------------

    def add(self, link: Link, link_id: int) -> None:
        self.table.add(link, link_id)
        self.port.log.info("link_opened", con_id=link_id, role=link.role.value,
                           proto=link.proto.value, local=link.local, remote=link.remote)
        self.port.start_link(link, self.pump)

    def start_peer(self, peer: Link) -> None:
        """Run a server's peer that shares the server's id (CIP C6)."""
        self.port.start_link(peer, self.pump)

    def close(self, link: Link) -> None:
        if isinstance(link, ServerLink):
            for seed in link.seeds:
                self.close(seed)
        link.close()
        self.table.remove(link)
        self.port.log.info("link_closed", con_id=link.con_id, role=link.role.value)

    def close_all(self) -> None:
        for link in self.table:
            self.close(link)

    def wake(self) -> None:
        """The host's mode changed: every pump looks again."""
        for link in self.table:
            for each in [link, *getattr(link, "seeds", ())]:
                if each.inbound is not None:
                    each.inbound.wake()

    # -- the pump ------------------------------------------------------------------

    async def pump(self, link: Link) -> None:
        inbound = link.inbound
        assert inbound is not None
        framing, port = self.framing, self.port
        told = False

        def has_news() -> bool:
            delivery = framing.delivery(link)
            if inbound and delivery in (Delivery.FORWARD, Delivery.RAW):
                return True
            if delivery is Delivery.ANNOUNCE and inbound and not link.announced:
                return True
            if inbound.ended is None or told or inbound:
                return False
            return self.ending is Ending.FREE or delivery in (Delivery.FORWARD, Delivery.RAW)

        while True:
            await inbound.wait_until(has_news)
            lost_in_transparent = False
            async with port.output.frame_slot():
                if not has_news() or link.closed:
                    continue
                delivery = framing.delivery(link)
                if inbound and delivery in (Delivery.FORWARD, Delivery.RAW):
                    raw = delivery is Delivery.RAW
                    data, source = inbound.take(RECEIVE_CHUNK if raw else framing.frame_limit(link))
                    self.account("link_rx", link, data)
                    await port.output.send(data if raw
                                           else framing.data_frame(link, data, source))
                    port.counters.frames_out += not raw
                    continue
                if delivery is Delivery.ANNOUNCE and inbound and not link.announced:
                    link.announced = True
                    await port.output.send(framing.announcement(link, inbound.size))
                    continue
                told = True
                lost_in_transparent = delivery is Delivery.RAW
                port.log.info("peer_gone", con_id=link.con_id, how=inbound.ended)
                await port.output.send(framing.end_frame(link))
                if self.ending is Ending.FREE:
                    self.table.remove(link)
            if lost_in_transparent:
                await port.notify(TransparentLinkLost(link))
            if self.ending is Ending.FREE:
                link.close()  # ends this task too

    def account(self, direction: str, link: Link, data: bytes) -> None:
        """Count link traffic ("link_rx" / "link_tx"), traced when asked."""
        counters = self.port.counters
        if direction == "link_rx":
            counters.link_received(link.con_id, len(data))
        else:
            link.bytes_out += len(data)
            counters.link_sent(link.con_id, len(data))
        if self.port.trace:
            self.port.log.debug(direction, con_id=link.con_id, **traced(data))


# -- admission of a server's peers ----------------------------------------------------


class Admission(Protocol):
    def choose(self, links: Links, server: TcpServerLink) -> int | None:
        """The id a new peer of ``server`` takes, or None to refuse it."""


@dataclass(frozen=True)
class LowestFreeId:
    """The lowest free id, while the server holds fewer than ``most`` peers
    (SKT S4 seeds; ESP-AT E27 with CIPSERVERMAXCONN)."""

    most: int | None = None

    def choose(self, links: Links, server: TcpServerLink) -> int | None:
        if server.closed:
            return None
        if self.most is not None and sum(not peer.closed for peer in server.seeds) >= self.most:
            return None
        return links.free_id()


class ServerId:
    """The server's own id, one peer at a time (CIP C6)."""

    def choose(self, links: Links, server: TcpServerLink) -> int | None:
        if server.closed or any(not peer.closed for peer in server.seeds):
            return None
        return server.con_id
