"""Soak and byte accounting, the long version of tests/test_soak.py.

    python bench/soak.py [--mib-per-mode 64] [--noise-seconds 10] [--rounds 2]

A daemon subprocess with one SKT and one CIP port on pseudo-terminals; each
round sends line noise into both ports, then moves random data through SKT
framed (SKTSEND / auto-receive), SKT transparent, CIP framed (CIPSEND /
+IPD) and CIP passthrough, both directions, comparing SHA-256 on both
sides. Prints bytes moved per mode, the time, and the daemon's peak RSS.
About 1 GB in all: --mib-per-mode 64 --rounds 2 (8 mode-directions x 64 MiB x 2).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import trio

from bridge.testing.procstat import memory_kib
from bridge.testing.soak_harness import Tally, cip_framed, noise, skt_framed, transparent
from bridge.testing.spawn import write_config
from bridge.testing.trio_daemon import Daemon
from bridge.testing.trio_ends import Device, Peer

# A lost transparent link's stream is dropped until a guard of silence (20 ms)
# after the host's last byte (README "Behaviour choices"), so a command sent
# the moment the notice arrives could be taken for the link's data.
AFTER_LOST_LINK = 0.05


async def soak(args: argparse.Namespace) -> int:
    size = args.mib_per_mode << 20
    rng = random.Random(args.seed)
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp) / "soak.toml", {"state_dir": f"{tmp}/state", "log_level": "error"},
            [{"name": "skt", "device": f"pty:{tmp}/skt", "bind_address": "127.0.0.1"},
             {"name": "cip", "device": f"pty:{tmp}/cip", "dialect": "cip",
              "bind_address": "127.0.0.1"}])
        daemon = await Daemon.start(config)
        try:
            await daemon.wait_ready([f"{tmp}/skt", f"{tmp}/cip"], 10)
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            server_port = listeners[0].socket.getsockname()[1]
            skt, cip = Device(f"{tmp}/skt"), Device(f"{tmp}/cip")
            await cip.expect(b"\r\nready\r\n")
            started = time.monotonic()
            for round_number in range(args.rounds):
                await noise(skt, args.noise_seconds / 2, rng)
                await noise(cip, args.noise_seconds / 2, rng)
                # the same answer with echo on or off (ATE0 is sent each round)
                await cip.send(b"AT+SYSSTORE?\r\nATE0\r\n")
                await cip.skip_until(b"+SYSSTORE:1\r\nOK\r\n", timeout=30)
                await cip.skip_until(b"OK\r\n")
                await skt.command(b"AT+SKTCLIENT=0,127.0.0.1,%d" % server_port,
                                  b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
                skt_peer = Peer(await listeners[0].accept())
                await skt_framed(skt, skt_peer, size, rng, tally)
                await skt.command(b"AT+SKTTT=1", b"\r\n+SKTTT:OK\r\n")
                await transparent(skt, skt_peer, size, rng, tally, "skt transparent")
                await skt_peer.aclose()
                await skt.skip_until(b"\r\n#\r\n")
                await trio.sleep(AFTER_LOST_LINK)
                await skt.command(b"AT+SKTDEL=0", b"\r\n+SKTDEL:OK\r\n")
                await cip.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % server_port,
                                  b"CONNECT\r\nOK\r\n")
                cip_peer = Peer(await listeners[0].accept())
                await cip_framed(cip, cip_peer, size, rng, tally)
                await cip.command(b"AT+CIPMODE=1", b"OK\r\n")
                await cip.command(b"AT+CIPSEND", b"\r\n>")
                await transparent(cip, cip_peer, size, rng, tally, "cip passthrough")
                await cip_peer.aclose()
                await cip.skip_until(b"CLOSED\r\n")
                await trio.sleep(AFTER_LOST_LINK)
                await cip.command(b"AT+CIPMODE=0", b"OK\r\n")
                print(f"round {round_number + 1}: {tally.total / 2**20:.0f} MiB so far",
                      flush=True)
            elapsed = time.monotonic() - started
            for mode, moved in tally.moved.items():
                print(f"{mode:24s} {moved / 2**20:10.1f} MiB  SHA-256 equal")
            print(f"total {tally.total / 2**20:.1f} MiB in {elapsed:.1f} s "
                  f"({tally.total / 2**20 / elapsed:.1f} MiB/s); daemon peak RSS "
                  f"{memory_kib(daemon.pid, 'VmHWM') / 1024:.1f} MiB; 0 bytes lost")
            return 0
        finally:
            await daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib-per-mode", type=int, default=64)
    parser.add_argument("--noise-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    return trio.run(soak, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
