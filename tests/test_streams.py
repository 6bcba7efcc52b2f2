"""Our two hand-made trio streams against trio's own Stream contract
(trio.testing.check_two_way_stream): TlsStream over real loopback TCP with a
trustme certificate, DeviceStream over a raw pty pair."""

from __future__ import annotations

import os
import select
import socket
import tty
from pathlib import Path

import pytest
import trio
import trio.testing
import trustme
from OpenSSL import SSL

from bridge.links.tls_stream import TlsStream
from bridge.net.errors import HandshakeError
from bridge.net.tls import ClientCertificates, client_context, server_context
from bridge.uart.device_stream import DeviceStream

CHECK_TIME = 60  # the whole contract check, on a loaded machine
SMALL_BUFFER = 4096  # socket buffers for a clogged pair: full after a few records

StreamPair = tuple[trio.abc.Stream, trio.abc.Stream]


# -- TlsStream ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[SSL.Context, SSL.Context]:
    """A client context that verifies "localhost" against a trustme CA, and
    the server context with the certificate that CA issued."""
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    ca_file, cert_file, key_file = (directory / name for name in ("ca.pem", "cert.pem", "key.pem"))
    ca.cert_pem.write_to_path(str(ca_file))
    issued.cert_chain_pems[0].write_to_path(str(cert_file))
    issued.private_key_pem.write_to_path(str(key_file))
    client = client_context("localhost", datagram=False, psk=None,
                            certificates=ClientCertificates(ca_file=str(ca_file)))
    server = server_context(str(cert_file), str(key_file), datagram=False, psk=None)
    return client, server


async def tcp_pair(buffer: int | None = None) -> tuple[trio.SocketStream, trio.SocketStream]:
    """Two connected loopback TCP streams; with ``buffer``, small kernel buffers."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = trio.socket.socket()
    if buffer is not None:  # before connecting, so the window is small from the start
        for sock in (listener, client):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
    with listener:
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
    return trio.SocketStream(client), trio.SocketStream(server)


async def tls_pair(contexts: tuple[SSL.Context, SSL.Context],
                   buffer: int | None = None) -> tuple[TlsStream, TlsStream]:
    """A client and a server TlsStream, handshakes done."""
    client_transport, server_transport = await tcp_pair(buffer)
    client_connection = SSL.Connection(contexts[0])
    client_connection.set_connect_state()
    client_connection.set_tlsext_host_name(b"localhost")
    server_connection = SSL.Connection(contexts[1])
    server_connection.set_accept_state()
    client = TlsStream(client_transport, client_connection)
    server = TlsStream(server_transport, server_connection)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.do_handshake)
            nursery.start_soon(server.do_handshake)
    return client, server


async def clog(stream: trio.abc.Stream) -> None:
    """Send until the other side's buffers are full, then stop the send: the
    next send_all (and wait_send_all_might_not_block) waits for a receive."""
    async def send_forever() -> None:
        while True:
            await stream.send_all(b"c" * 16384)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_forever)
        await trio.testing.wait_all_tasks_blocked(cushion=0.02)
        nursery.cancel_scope.cancel()


def has_room(stream: TlsStream) -> bool:
    return bool(select.select([], [stream.transport.socket], [], 0)[1])


async def clogged_tls_pair(contexts: tuple[SSL.Context, SSL.Context]) -> StreamPair:
    """Both directions full. Filling one can make room in the other (the
    segments carry window updates), so fill until neither socket has room."""
    client, server = await tls_pair(contexts, SMALL_BUFFER)
    with trio.fail_after(5):
        await clog(client)
        await clog(server)
        while has_room(client) or has_room(server):
            for stream in (client, server):
                if has_room(stream):
                    await clog(stream)
    return client, server


async def test_tls_stream_keeps_the_stream_contract(
        contexts: tuple[SSL.Context, SSL.Context]) -> None:
    async def stream_maker() -> StreamPair:
        return await tls_pair(contexts)

    async def clogged_stream_maker() -> StreamPair:
        return await clogged_tls_pair(contexts)

    with trio.fail_after(CHECK_TIME):
        await trio.testing.check_two_way_stream(stream_maker, clogged_stream_maker)


async def test_a_cancelled_tls_send_loses_no_record(
        contexts: tuple[SSL.Context, SSL.Context]) -> None:
    """What the socket did not take when a send was cancelled goes first next
    time: the peer decrypts every byte, in order."""
    client, server = await tls_pair(contexts, SMALL_BUFFER)
    sent = bytearray()

    async def send_numbered() -> None:
        number = 0
        while True:
            chunk = b"%08d" % number * 1000
            sent.extend(chunk)  # encrypted and queued before send_all can block
            await client.send_all(chunk)
            number += 1

    with trio.move_on_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_numbered)
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            nursery.cancel_scope.cancel()
    assert not has_room(client)  # the send was cancelled while it waited
    received = bytearray()

    async def receive_all() -> None:
        while not received.endswith(b"end"):
            received.extend(await server.receive_some())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_all)
            await client.send_all(b"end")
    assert received == sent + b"end"
    await client.aclose()
    await server.aclose()


async def test_close_notify_ends_the_peers_stream_cleanly(
        contexts: tuple[SSL.Context, SSL.Context]) -> None:
    client, server = await tls_pair(contexts)
    await client.send_all(b"last words")
    client.close_notify()
    client.transport.socket.close()  # as TcpLink closes it: no await
    with trio.fail_after(5):
        assert await server.receive_some() == b"last words"
        assert await server.receive_some() == b""
    await server.aclose()


async def test_a_handshake_against_the_wrong_name_raises_handshake_error(
        contexts: tuple[SSL.Context, SSL.Context], tmp_path: Path) -> None:
    ca_file = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    untrusting = client_context("localhost", datagram=False, psk=None,
                                certificates=ClientCertificates(ca_file=str(ca_file)))
    client_transport, server_transport = await tcp_pair()
    client_connection = SSL.Connection(untrusting)
    client_connection.set_connect_state()
    server_connection = SSL.Connection(contexts[1])
    server_connection.set_accept_state()
    client = TlsStream(client_transport, client_connection)
    server = TlsStream(server_transport, server_connection)

    async def serve() -> None:
        with pytest.raises(HandshakeError, match="unknown ca"):  # the client's alert
            await server.do_handshake()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            with pytest.raises(HandshakeError, match="unable to get local issuer certificate"):
                await client.do_handshake()
    await client.aclose()
    await server.aclose()


# -- DeviceStream ---------------------------------------------------------------------


class LingeringMaster(trio.abc.AsyncResource):
    """The owner of the pair's master fd. Closing a pty master hangs its
    slave up and the kernel drops what the slave has not read, so trio's
    "send, close, the peer still gets it" holds only if the close waits for
    the slave to read: a poll on the slave pushes the pty's pending bytes to
    it first, so "not readable" means all read. A cancelled close does not
    wait (the daemon's pty owner never waits: it is closed on shutdown)."""

    def __init__(self, fd: int, slave: DeviceStream) -> None:
        self.stream = trio.lowlevel.FdStream(fd)
        self.slave = slave

    async def aclose(self) -> None:
        try:
            while (self.stream.fileno() >= 0 and self.slave.fd >= 0
                   and select.select([self.slave.fd], [], [], 0)[0]):
                await trio.sleep(0.005)
        finally:
            await self.stream.aclose()


async def pty_pair() -> tuple[DeviceStream, DeviceStream]:
    """The master and the raw slave of a new pty, each a DeviceStream whose
    owner closes its fd (FdStream makes it non-blocking)."""
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    slave = DeviceStream(trio.lowlevel.FdStream(slave_fd), slave_fd)
    return DeviceStream(LingeringMaster(master_fd, slave), master_fd), slave


async def fill(stream: DeviceStream) -> None:
    """Write until the pty takes no more (a few KiB). The kernel moves bytes
    on to the other side's line discipline a moment later and then takes
    more, so fill until a pause changed nothing."""
    while True:
        while stream.write_nowait(b"c" * 4096):
            pass
        await trio.sleep(0.02)
        if not stream.write_nowait(b"c" * 4096):
            return


async def test_device_stream_keeps_the_stream_contract() -> None:
    async def clogged_stream_maker() -> StreamPair:
        master, slave = await pty_pair()
        await fill(master)
        await fill(slave)
        return master, slave

    with trio.fail_after(CHECK_TIME):
        await trio.testing.check_two_way_stream(pty_pair, clogged_stream_maker)


async def test_write_nowait_during_a_blocked_send_all_is_busy() -> None:
    master, slave = await pty_pair()
    with trio.fail_after(5):
        await fill(master)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(master.send_all, b"queued")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                master.write_nowait(b"cut in")
            nursery.cancel_scope.cancel()
        await slave.aclose()
        await master.aclose()


async def test_a_closed_device_stream_never_writes_to_its_old_fd_number() -> None:
    """Once the owner closed the fd, its number may be reused by anything."""
    master, slave = await pty_pair()
    reader, writer = os.pipe()
    old_fd = master.fd
    await master.aclose()
    os.dup2(writer, old_fd)  # the old number is now a pipe's write end
    try:
        with pytest.raises(trio.ClosedResourceError):
            master.write_nowait(b"stray")
        with pytest.raises(trio.ClosedResourceError):
            await master.send_all(b"stray")
        os.set_blocking(reader, False)
        with pytest.raises(BlockingIOError):
            os.read(reader, 10)  # empty
    finally:
        for fd in (reader, writer, old_fd):
            os.close(fd)
        await slave.aclose()
