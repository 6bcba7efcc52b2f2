"""The built-in echo server on 127.0.0.1: TCP, UDP, or TLS with a CA made
by trustme (its PEM file goes into the daemon's generated config).

``python -m bridge.loadtest.echo tcp|udp|tls DIR`` runs it as a process of
its own (``at-bridge locust``'s workers cannot run Trio): it prints one JSON
line, ``{"host": ..., "port": ..., "ca_file": ...}``, once it serves, and
serves until its stdin ends.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
from pathlib import Path

import trio
import trustme

UDP_BUFFER = 4 << 20  # bytes of socket buffer, so a burst of datagrams is not dropped
CHUNK = 65536


class EchoServer:
    def __init__(self, proto: str, work_dir: Path, host: str = "127.0.0.1") -> None:
        self.proto = proto
        self.work_dir = work_dir
        self.host = host
        self.ca_file: str | None = None
        self.connections = 0
        self.failures = 0  # connections that ended with an error (a TLS handshake, a reset)

    async def serve(self, task_status: trio.TaskStatus[tuple[str, int]] =
                    trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``started`` gives the (host, port) to use."""
        async with trio.open_nursery() as nursery:
            if self.proto == "udp":
                sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UDP_BUFFER)
                await sock.bind((self.host, 0))
                nursery.start_soon(self._datagrams, sock)
                port = sock.getsockname()[1]
            else:
                listeners: list = await trio.open_tcp_listeners(0, host=self.host)
                port = listeners[0].socket.getsockname()[1]
                if self.proto == "tls":
                    context = self._tls_context()
                    listeners = [trio.SSLListener(listener, context) for listener in listeners]
                nursery.start_soon(trio.serve_listeners, self._stream, listeners)
            task_status.started((self.host, port))

    def _tls_context(self) -> ssl.SSLContext:
        ca = trustme.CA()
        certificate = ca.issue_cert(self.host, "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        path = self.work_dir / "echo-ca.pem"
        ca.cert_pem.write_to_path(str(path))
        self.ca_file = str(path)
        return context

    async def _stream(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        try:
            while True:
                data = await stream.receive_some(CHUNK)
                if not data:
                    return
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.failures += 1

    @staticmethod
    async def _datagrams(sock: trio.socket.SocketType) -> None:
        while True:
            try:
                data, source = await sock.recvfrom(CHUNK)
                await sock.sendto(data, source)
            except ConnectionRefusedError:
                continue


async def serve_until_stdin_ends(proto: str, work_dir: Path) -> None:
    echo = EchoServer(proto, work_dir)
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(echo.serve)
        print(json.dumps({"host": host, "port": port, "ca_file": echo.ca_file}), flush=True)
        async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
            while await stdin.receive_some(CHUNK):
                pass
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(serve_until_stdin_ends, sys.argv[1], Path(sys.argv[2]))
