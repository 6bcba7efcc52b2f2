"""Real network peers on loopback for the service tests of every dialect:
dnsmasq (DNS), chronyd (NTP), a DNS server that answers late, ICMP echoes
dropped by nftables. DNS and NTP have fixed ports (53, 123), so each peer
takes a loopback address of its own (127.0.0.0/8 is all loopback); test
files give their peers addresses no other file uses, so files can run at
the same time.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import dns.message
import dns.rrset
import trio
from conftest import WAIT, require_binary


async def wait_for_udp(address: str, port: int, request: bytes) -> None:
    """Until something at address:port answers ``request``."""
    with trio.fail_after(WAIT):
        while True:
            with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                await sock.sendto(request, (address, port))
                with trio.move_on_after(0.2):
                    await sock.recv(1024)
                    return


@asynccontextmanager
async def dnsmasq(address: str, tmp_path: Path) -> AsyncIterator[None]:
    """dnsmasq on address:53 with the names the tests look up:
    www.example.test 10.1.2.3, nx.example.test (no such name),
    peer.example.test 127.0.0.1 and alias.example.test (a CNAME to it)."""
    process = subprocess.Popen([
        require_binary("dnsmasq"), "--keep-in-foreground", "--port=53",
        f"--listen-address={address}", "--bind-interfaces", "--no-resolv", "--no-hosts",
        "--conf-file=/dev/null", f"--pid-file={tmp_path / f'dnsmasq-{address}.pid'}",
        "--address=/www.example.test/10.1.2.3", "--address=/nx.example.test/",
        "--host-record=peer.example.test,127.0.0.1", "--cname=alias.example.test,peer.example.test",
    ], stderr=subprocess.DEVNULL)
    try:
        await wait_for_udp(address, 53, dns.message.make_query("www.example.test", "A").to_wire())
        yield
    finally:
        process.terminate()
        process.wait()


@asynccontextmanager
async def late_dns(address: str, delay: float, answer: str) -> AsyncIterator[list[float]]:
    """A DNS server on address:53 that answers every A query with ``answer``,
    ``delay`` seconds after it came; yields the times (trio.current_time)
    its answers left, for tests that bound what happens after them."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((address, 53))
    answered: list[float] = []

    async def reply(wire: bytes, source: object) -> None:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        name = query.question[0].name
        response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", answer))
        await trio.sleep(delay)
        answered.append(trio.current_time())
        await sock.sendto(response.to_wire(), source)

    async def serve(nursery: trio.Nursery) -> None:
        while True:
            wire, source = await sock.recvfrom(1024)
            nursery.start_soon(reply, wire, source)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, nursery)
        try:
            yield answered
        finally:
            nursery.cancel_scope.cancel()
            sock.close()


@asynccontextmanager
async def chronyd(address: str, tmp_path: Path) -> AsyncIterator[None]:
    """chronyd serving this machine's time on address:123."""
    conf = tmp_path / f"chrony-{address}.conf"
    conf.write_text(f"local stratum 8\nallow 127.0.0.0/8\nport 123\nbindaddress {address}\n"
                    f"cmdport 0\npidfile {tmp_path / f'chronyd-{address}.pid'}\n")
    process = subprocess.Popen([require_binary("chronyd"), "-x", "-d", "-u", "root",
                                "-f", str(conf)], stderr=subprocess.DEVNULL)
    try:
        from bridge.net.sntp import request

        await wait_for_udp(address, 123, request(time.time()))
        yield
    finally:
        process.terminate()
        process.wait()


@contextmanager
def icmp_for_everyone() -> Iterator[None]:
    """Let our group open ICMP datagram sockets (the daemon's first choice)."""
    path = Path("/proc/sys/net/ipv4/ping_group_range")
    before = path.read_text()
    path.write_text("0 2147483647")
    try:
        yield
    finally:
        path.write_text(before)


@contextmanager
def echo_requests_dropped(address: str, table: str) -> Iterator[None]:
    """nftables drops ICMP echo requests to ``address`` (in a table of its own)."""
    nft = require_binary("nft")
    subprocess.run([nft, "add", "table", "inet", table], check=True)
    try:
        chain = f"add chain inet {table} in {{ type filter hook input priority 0 ; }}"
        subprocess.run([nft, chain], check=True)
        subprocess.run([nft, "add", "rule", "inet", table, "in", "ip", "daddr", address,
                        "icmp", "type", "echo-request", "drop"], check=True)
        yield
    finally:
        subprocess.run([nft, "delete", "table", "inet", table], check=True)
