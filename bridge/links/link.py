"""What every link kind shares: identity, its inbound buffer, its lifetime.

A link is owned by one task (started through the port's link nursery); its
cancel scope is its lifetime. ``close()`` is synchronous so that a command
that closes a link can answer only once the socket is really closed.
"""

from __future__ import annotations

import enum

import trio

from ..net.errors import SendError
from .inbound import Address, Inbound


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"
    SEED = "seed"  # a peer accepted by a server


class Proto(enum.Enum):
    TCP = "tcp"
    UDP = "udp"
    SSL = "ssl"  # TLS over TCP
    DTLS = "dtls"


class Link:
    """``role`` and ``proto`` are fixed when the link is made."""

    def __init__(self, *, role: Role, proto: Proto, local: Address, remote: Address | None,
                 fileno: int, inbound: Inbound | None) -> None:
        self.role = role
        self.proto = proto
        self.local = local
        self.remote = remote
        self.fileno = fileno
        self.inbound = inbound
        self.con_id = -1
        self.closed = False
        self.bytes_out = 0  # sent to the peer (ESP-AT's idle timer watches it)
        self.scope = trio.CancelScope()
        #: passive receive (ESP-AT E25): a notice was written since the host's last read
        self.announced = False

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.con_id} {self.role.value} {self.proto.value} "
                f"{self.remote}>")

    async def receive_loop(self) -> None:
        """Move data from the socket to ``inbound`` until the peer ends."""
        raise NotImplementedError

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        raise NotImplementedError

    def _close_transport(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close_transport()
            self.scope.cancel()
            if self.inbound is not None:
                self.inbound.end("closed")


class ServerLink(Link):
    """A listening link. Its accepted peers (``seeds``) carry the data; a
    server that holds one peer at a time (CIP) has at most one open seed."""

    def __init__(self, *, proto: Proto, local: Address, fileno: int) -> None:
        super().__init__(role=Role.SERVER, proto=proto, local=local, remote=None, fileno=fileno,
                         inbound=None)
        self.seeds: list[Link] = []

    @property
    def peer(self) -> Link | None:
        """The first seed still open."""
        return next((seed for seed in self.seeds if not seed.closed), None)

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        raise SendError("a server has no peer of its own")
