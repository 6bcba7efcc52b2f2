"""Name resolution as this machine resolves names (/etc/hosts, nsswitch)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import trio

from .errors import ResolveError

#: (host, port, socket type) -> (family, sockaddr)
Resolve = Callable[[str, int, int], Awaitable[tuple[int, tuple]]]


async def resolve(host: str, port: int, socktype: int) -> tuple[int, tuple]:
    """The first address for host:port as (family, sockaddr); IPv4 preferred,
    as the modules we emulate are IPv4 devices."""
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socktype)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveError(f"cannot resolve {host!r}: {exc}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr
