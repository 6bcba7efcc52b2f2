"""DTLS server link echo round trip against the TLS server link, same run.

One at-bridge CIP port (CIPMUX=1) holds a TLS server link (id 0) and a DTLS
server link (id 1), both with the generated local certificate. This process
is their peers (a TLS client over TCP, a DTLS 1.2 client over UDP, both
verifying the local CA) and the host on the pty. One sample: the peer sends
``--size`` bytes; the host reads ``+IPD(<id>),<size>:<data>`` and answers
``AT+CIPSEND=<id>,<size>``, ``>``, the same bytes, ``SEND OK``; the peer
reads them back. Samples alternate TLS and DTLS, every byte is checked.

    python bench/dtls_server.py [--count 2000] [--size 100] [--bridge-cmd CMD]

Prints p50/p99/max in microseconds for both and DTLS / TLS.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import trio
from OpenSSL import SSL
from roundtrip import describe  # p50, p99, max

from bridge.testing.spawn import bridge_command, stop, wait_announced
from bridge.testing.trio_ends import Device

WARM_UP = 100  # echoes of each, not counted


async def echo(host: Device, link_id: int, data: bytes) -> None:
    """What the host does with one +IPD: send the same bytes back."""
    await host.expect(b"\r\n+IPD(%d),%d:" % (link_id, len(data)) + data)
    await host.command(b"AT+CIPSEND=%d,%d" % (link_id, len(data)), b"\r\n>")
    await host.send(data)
    await host.expect(b"SEND OK\r\n")


def start_server(link_id: int, kind: bytes, port: int) -> bytes:
    return b'AT+CIPSTART=%d,"%s","127.0.0.1",1,0,%d,"127.0.0.1"' % (link_id, kind, port)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def tls_peer(port: int, ca_file: str) -> trio.SSLStream:
    context = ssl.create_default_context(cafile=ca_file)
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context)
    await stream.do_handshake()
    stream.transport_stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return stream


async def dtls_peer(port: int, ca_file: str) -> tuple[trio.DTLSEndpoint, trio.DTLSChannel]:
    context = SSL.Context(SSL.DTLS_METHOD)
    context.load_verify_locations(ca_file)
    context.set_verify(SSL.VERIFY_PEER)
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    endpoint = trio.DTLSEndpoint(sock)
    channel = endpoint.connect(("127.0.0.1", port), context)
    await channel.do_handshake()
    return endpoint, channel


async def receive_exactly(stream: trio.SSLStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += await stream.receive_some(size - len(data))
    return data


async def measure(link: str, ca_file: str, count: int, size: int
                  ) -> tuple[list[float], list[float]]:
    host = Device(link)
    await host.expect(b"\r\nready\r\n")
    await host.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    await host.command(b"AT+CIPMUX=1", b"OK\r\n")
    tls_port, dtls_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    await host.command(start_server(0, b"TLS", tls_port), b"OK\r\n")
    await host.command(start_server(1, b"DTLS", dtls_port), b"OK\r\n")
    tls = await tls_peer(tls_port, ca_file)
    await host.expect(b"0,CONNECT\r\n")
    endpoint, dtls = await dtls_peer(dtls_port, ca_file)
    await host.expect(b"1,CONNECT\r\n")

    async def over_tls() -> None:
        data = os.urandom(size)
        await tls.send_all(data)
        await echo(host, 0, data)
        if await receive_exactly(tls, size) != data:
            raise SystemExit("TLS: the echo differs")

    async def over_dtls() -> None:
        data = os.urandom(size)
        await dtls.send(data)
        await echo(host, 1, data)
        if await dtls.receive() != data:
            raise SystemExit("DTLS: the echo differs")

    samples: dict[str, list[float]] = {"tls": [], "dtls": []}
    with endpoint:
        for number in range(count + WARM_UP):
            for name, sample in (("tls", over_tls), ("dtls", over_dtls)):
                started = time.perf_counter()
                with trio.fail_after(5):
                    await sample()
                if number >= WARM_UP:
                    samples[name].append((time.perf_counter() - started) * 1e6)
    await host.aclose()
    return samples["tls"], samples["dtls"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100, help="bytes per echo, 1..2048")
    parser.add_argument("--bridge-cmd", metavar="CMD",
                        help="command that stands for `at-bridge` (another build, a profiler)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtls-server-") as tmp:
        link, state = os.path.join(tmp, "dut"), os.path.join(tmp, "state")
        bridge = subprocess.Popen(bridge_command(args.bridge_cmd) + [
            "run", "--pty", link, "--dialect", "cip", "--log-level", "error",
            "--state-dir", state], stdout=subprocess.PIPE)
        try:
            wait_announced(bridge, link, 20)
            tls, dtls = trio.run(measure, link, os.path.join(state, "tls", "local-ca.pem"),
                                 args.count, args.size)
        finally:
            stop(bridge)
    tls_figures, dtls_figures = describe(tls), describe(dtls)
    print(f"echo round trip through the host, {args.size} B, {args.count} each (microseconds)")
    print(f"{'':18} {'p50':>8} {'p99':>8} {'max':>8}")
    print(f"{'TLS server link':18} " + " ".join(f"{v:8.0f}" for v in tls_figures))
    print(f"{'DTLS server link':18} " + " ".join(f"{v:8.0f}" for v in dtls_figures))
    print(f"{'DTLS / TLS':18} " + " ".join(f"{d / t:8.2f}" for d, t in zip(dtls_figures,
                                                                           tls_figures,
                                                                           strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
