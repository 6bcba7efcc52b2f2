"""Socket creation and binding with the failures named for the dialects."""

from __future__ import annotations

import socket

import trio

from ..net.errors import BindError, SocketError


def new_socket(family: int, kind: int, *, reuse_address: bool = False) -> trio.socket.SocketType:
    try:
        sock = trio.socket.socket(family, kind)
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError as exc:
        raise SocketError(f"socket: {exc}") from None
    return sock


async def bind(sock: trio.socket.SocketType, sockaddr: tuple) -> None:
    """Bind, or close the socket and raise BindError."""
    try:
        await sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise BindError(f"bind {sockaddr[0]}:{sockaddr[1]}: {exc.strerror}", exc.errno) from None
