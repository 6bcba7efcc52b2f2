"""The ESP-AT server (E27): AT+CIPSERVER, CIPSERVERMAXCONN and CIPSTO.

One listening socket per port (TCP, or SSL with the port's certificate or
the local CA); each peer takes the lowest free link id and is announced
``<id>,CONNECT``, up to CIPSERVERMAXCONN peers; a peer idle for CIPSTO
seconds is closed with ``<id>,CLOSED``.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from ...at.commands import Outcome
from ...links.link import Link, Proto
from ...links.tcp import TcpLink, TcpServerLink, listen_tcp
from ...net.errors import LinkError
from ..api import PortServices
from ..links import Links, LowestFreeId
from ..tls import TlsContexts
from . import replies
from .args import Server, bad
from .replies import Profile

Notice = Callable[[bytes, int], bytes]
IDLE_CHECK = 1.0  # seconds between looks at the peers' traffic


class EspServer:
    def __init__(self, port: PortServices, links: Links, tls: TlsContexts, profile: Profile,
                 notice: Notice, multiple: Callable[[], bool],
                 opened: Callable[[], None]) -> None:
        self.port = port
        self.links = links
        self.tls = tls
        self.profile = profile
        self.notice = notice  # `<id>,CONNECT` / `<id>,CLOSED`
        self.multiple = multiple  # AT+CIPMUX=1 is needed
        self.opened = opened  # a peer is a link the station's status counts
        self.server: TcpServerLink | None = None
        self.config: Server | None = None
        self.defaults()

    def defaults(self) -> None:
        self.max_conn = 5  # AT+CIPSERVERMAXCONN
        self.timeout = 180  # AT+CIPSTO

    @property
    def running(self) -> bool:
        return self.server is not None

    async def set(self, request: Server) -> Outcome:
        if not request.enable:
            if self.server is None:
                return Outcome(self.profile.no_change + replies.OK)
            closed = self.stop(close_peers=request.close_all)
            return Outcome(b"".join(self.notice(b"CLOSED", peer.con_id) for peer in closed)
                           + replies.OK)
        if not self.multiple() or self.server is not None:
            raise bad("a server needs CIPMUX=1, and there is one")
        try:
            context = self.tls.server() if request.ssl else None
            server = await listen_tcp(self.port.settings.bind_address, request.port,
                                      proto=Proto.SSL if request.ssl else Proto.TCP)
        except LinkError as exc:
            self.port.log.warning("server_failed", local_port=request.port, why=str(exc))
            return Outcome(replies.ERROR)
        server.on_accept = self.tls.acceptor(server, context,
                                             lambda peer: self._admit(server, peer))
        self.server, self.config = server, request
        self.port.start_link(server, self.links.pump)
        self.port.start_task(self._expire_idle_peers, server)
        self.port.log.info("server_listening", local_port=request.port, ssl=request.ssl)
        return Outcome(replies.OK)

    def stop(self, *, close_peers: bool) -> list[Link]:
        """Stop listening; with ``close_peers`` close the open peers too and
        return them in id order (AT+CIPSERVER=0,1 tells each one's CLOSED)."""
        server, self.server, self.config = self.server, None, None
        if server is None:
            return []
        closed = sorted((peer for peer in server.seeds if not peer.closed),
                        key=lambda peer: peer.con_id) if close_peers else []
        for peer in closed:
            self.links.close(peer)
        server.seeds = []
        server.close()
        return closed

    async def query(self) -> Outcome:
        config = self.config
        if config is None:
            return Outcome(b"+CIPSERVER:0\r\n" + replies.OK)
        return Outcome(b'+CIPSERVER:1,%d,"%s",%d\r\n' % (config.port,
                                                          b"SSL" if config.ssl else b"TCP",
                                                          config.ca) + replies.OK)

    async def _admit(self, server: TcpServerLink, peer: TcpLink) -> None:
        """The lowest free id, up to CIPSERVERMAXCONN peers."""
        async with self.port.output.frame_slot():
            number = LowestFreeId(self.max_conn).choose(self.links, server)
            if number is None or self.server is not server:
                self.port.log.info("peer_refused", reason="no free id or at CIPSERVERMAXCONN")
                peer.close()
                return
            server.seeds = [s for s in server.seeds if not s.closed] + [peer]
            self.links.add(peer, number)
            self.opened()
            await self.port.output.send(self.notice(b"CONNECT", number))

    async def _expire_idle_peers(self, server: TcpServerLink) -> None:
        """AT+CIPSTO closes incoming links idle that long (0: never)."""
        seen: dict[Link, tuple[int, int, float]] = {}
        while self.server is server:
            await trio.sleep(IDLE_CHECK)
            now = trio.current_time()
            for peer in [p for p in server.seeds if not p.closed]:
                traffic = (peer.inbound.arrivals if peer.inbound is not None else 0,
                           peer.bytes_out)
                last = seen.get(peer)
                if last is None or last[:2] != traffic:
                    seen[peer] = (*traffic, now)
                elif self.timeout and now - last[2] >= self.timeout:
                    self.port.log.info("peer_idle", con_id=peer.con_id)
                    async with self.port.output.frame_slot():
                        if not peer.closed:
                            self.links.close(peer)
                            await self.port.output.send(self.notice(b"CLOSED", peer.con_id))

    async def set_max_conn(self, value: int) -> Outcome:
        self.max_conn = value
        return Outcome(replies.OK)

    async def query_max_conn(self) -> Outcome:
        return Outcome(replies.value("CIPSERVERMAXCONN", str(self.max_conn)) + replies.OK)

    async def set_timeout(self, value: int) -> Outcome:
        self.timeout = value
        return Outcome(replies.OK)

    async def query_timeout(self) -> Outcome:
        return Outcome(replies.value("CIPSTO", str(self.timeout)) + replies.OK)
