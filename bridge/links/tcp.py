"""TCP links: clients, accepted peers (seeds) and listening servers."""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Awaitable, Callable

import trio

from ..net.errors import ConnectError, ListenError, SendError
from ..net.resolve import Resolve, resolve
from .inbound import Address, Inbound
from .link import Link, Proto, Role, ServerLink
from .sockets import bind, new_socket

RECEIVE_CHUNK = 65536
KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 1, 3  # probes 1 s apart, 3 of them


def _addr(sockaddr: tuple) -> Address:
    return sockaddr[0], sockaddr[1]


class TcpLink(Link):
    """A connected TCP stream: a client we opened or a seed a server accepted.

    A TLS link is the same link over a TlsStream (Proto.SSL).
    """

    def __init__(self, stream: trio.abc.Stream, socket_stream: trio.SocketStream, *,
                 role: Role, inbound_capacity: int, proto: Proto = Proto.TCP) -> None:
        sock = socket_stream.socket
        super().__init__(role=role, proto=proto, local=_addr(sock.getsockname()),
                         remote=_addr(sock.getpeername()), fileno=sock.fileno(),
                         inbound=Inbound(inbound_capacity, datagrams=False))
        self.stream = stream
        self.socket_stream = socket_stream

    async def receive_loop(self) -> None:
        assert self.inbound is not None
        try:
            while True:
                room = await self.inbound.room()
                data = await self.stream.receive_some(min(RECEIVE_CHUNK, room))
                if not data:
                    self.inbound.end("closed")
                    return
                await self.inbound.put(data)
        except (trio.BrokenResourceError, OSError):
            self.inbound.end("reset")
        except trio.ClosedResourceError:
            self.inbound.end("closed")

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        try:
            if self.stream is self.socket_stream:
                data = self._send_now(data)
                if not data:
                    return  # no checkpoint: the caller's reply or next read has one
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            if self.inbound is not None and isinstance(exc.__cause__ or exc,
                                                       ConnectionResetError):
                # the send took the reset, so the receiver saw a plain EOF
                self.inbound.ended = "reset"
                self.inbound.wake()
            raise SendError(f"write failed: {exc!r}") from None

    def _send_now(self, data: bytes | memoryview) -> bytes | memoryview:
        """Hand the kernel what it takes now; what is left. trio's send_all
        would yield after a send that went through, and the reply to the
        host (SEND OK) would wait one more scheduler pass for it."""
        fd = self.socket_stream.socket.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the link was closed")
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            return data
        return memoryview(data)[written:] if written < len(data) else b""

    def keep_alive(self, idle: int) -> None:
        """TCP keepalive probes after ``idle`` seconds of silence."""
        sock = self.socket_stream.socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)

    def reset_on_close(self) -> None:
        """Closing sends a reset instead of a FIN (SO_LINGER 0)."""
        self.socket_stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                             struct.pack("ii", 1, 0))

    def _close_transport(self) -> None:
        close_notify = getattr(self.stream, "close_notify", None)
        if close_notify is not None:
            close_notify()
        self.socket_stream.socket.close()


async def open_stream(host: str, port: int, resolver: Resolve = resolve) -> trio.SocketStream:
    """Resolve and connect; the caller bounds the time (trio's way)."""
    family, sockaddr = await resolver(host, port, socket.SOCK_STREAM)
    sock = new_socket(family, socket.SOCK_STREAM)
    try:
        await sock.connect(sockaddr)
    except OSError as exc:
        sock.close()
        raise ConnectError(f"connect to {sockaddr[0]}:{port}: {exc.strerror}") from None
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


async def connect_tcp(host: str, port: int, *, inbound_capacity: int,
                      resolver: Resolve = resolve) -> TcpLink:
    stream = await open_stream(host, port, resolver)
    return TcpLink(stream, stream, role=Role.CLIENT, inbound_capacity=inbound_capacity)


class TcpServerLink(ServerLink):
    """A listening socket; each accepted peer is handed to ``on_accept``.

    Work that must not hold up the next accept (a TLS handshake) is started
    in ``pending``, which lives and dies with the server link.
    """

    def __init__(self, sock: trio.socket.SocketType, proto: Proto) -> None:
        super().__init__(proto=proto, local=_addr(sock.getsockname()), fileno=sock.fileno())
        self.sock = sock
        self.on_accept: Callable[[trio.SocketStream], Awaitable[None]] | None = None
        self.pending: trio.Nursery | None = None

    async def receive_loop(self) -> None:
        async with trio.open_nursery() as self.pending:
            await self._accept_loop()

    async def _accept_loop(self) -> None:
        assert self.on_accept is not None
        while True:
            try:
                peer, _ = await self.sock.accept()
            except trio.ClosedResourceError:
                return  # the server was closed (its cancel follows)
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    await trio.sleep(0.1)  # out of fds: back off instead of spinning
                    continue
                raise
            await self.on_accept(trio.SocketStream(peer))

    def _close_transport(self) -> None:
        self.sock.close()


async def listen_tcp(bind_host: str, port: int, *, proto: Proto = Proto.TCP,
                     backlog: int = 16) -> TcpServerLink:
    """A listening link; ``proto`` SSL when its peers will shake hands."""
    family, sockaddr = await resolve(bind_host, port, socket.SOCK_STREAM)
    sock = new_socket(family, socket.SOCK_STREAM, reuse_address=True)
    await bind(sock, sockaddr)
    try:
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(f"listen on {port}: {exc.strerror}") from None
    return TcpServerLink(sock, proto)
