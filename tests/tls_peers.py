"""TLS and DTLS peers for the tests: openssl s_server / s_client or socat
run as child processes (in conftest's ``peers``) whose stdin we write and
whose stdout we read exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import trio
from conftest import WAIT, Certificates, require_binary

PSK_KEY, PSK_IDENTITY = b"secret-key-1", b"device-7"


def listening(port: int, udp: bool = False) -> bool:
    """Whether something listens on (or is bound to) 127.0.0.1:port."""
    table = Path("/proc/net/udp" if udp else "/proc/net/tcp").read_text().splitlines()[1:]
    wanted = f"0100007F:{port:04X}"
    return any(line.split()[1] == wanted and (udp or line.split()[3] == "0A") for line in table)


class Process:
    """A peer program whose stdin we write and whose stdout we read exactly."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(data)

    async def expect(self, expected: bytes) -> None:
        assert self.process.stdout is not None
        with trio.fail_after(WAIT):
            while len(self.pending) < len(expected):
                data = await self.process.stdout.receive_some(65536)
                assert data, f"peer exited after {bytes(self.pending)!r}"
                self.pending += data
        assert bytes(self.pending[:len(expected)]) == expected
        del self.pending[:len(expected)]

    async def close_input(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()


async def start_peer(peers: list[trio.Process], args: list[str], port: int,
                     udp: bool = False) -> Process:
    require_binary(args[0])
    process = await trio.lowlevel.open_process(args, stdin=subprocess.PIPE,
                                               stdout=subprocess.PIPE,
                                               stderr=subprocess.DEVNULL)
    peers.append(process)
    if port:
        with trio.fail_after(WAIT):
            while not listening(port, udp):
                assert process.poll() is None, f"{args[0]} exited"
                await trio.sleep(0.02)
    return Process(process)


async def s_server(peers: list[trio.Process], port: int, *options: str) -> Process:
    return await start_peer(peers, ["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                                    "-quiet", *options], port, udp="-dtls1_2" in options)


async def s_client(peers: list[trio.Process], port: int, *options: str,
                   close_on_eof: bool = False) -> Process:
    """-quiet ignores the end of its input; with ``close_on_eof`` the end of
    its input makes it send close_notify and exit."""
    mode = ("-brief", "-nocommands") if close_on_eof else ("-quiet",)
    return await start_peer(peers, ["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                                    *mode, *options], 0)


def psk_options() -> tuple[str, ...]:
    return ("-psk", PSK_KEY.hex(), "-psk_identity", PSK_IDENTITY.decode(), "-nocert")


def cert_options(certs: Certificates) -> tuple[str, ...]:
    return ("-cert", str(certs.cert_file), "-key", str(certs.key_file))
