"""The trio floor: the least a trio program does to relay a pty and a socket.

    python bench/trio_relay.py --link PATH --port PORT

Two tasks copy bytes (pty -> socket, socket -> pty) with trio's own FdStream
and SocketStream, 64 KiB at a time: no AT, no framer, no queues. It makes a
raw pty, links it at PATH, connects to 127.0.0.1:PORT and prints PATH on
stdout (as at-bridge announces its pty). bench/relay.py measures it in the
same run as socat and at-bridge, so at-bridge's cost can be split into what
any trio relay pays on this machine and what at-bridge adds on top.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tty

import trio

CHUNK = 65536


async def copy(source: trio.abc.ReceiveStream, sink: trio.abc.SendStream) -> None:
    while data := await source.receive_some(CHUNK):
        await sink.send_all(data)


async def relay(link: str, port: int) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.symlink(os.ttyname(slave), link)
    try:
        pty = trio.lowlevel.FdStream(master)
        peer = await trio.open_tcp_stream("127.0.0.1", port)
        print(link, flush=True)
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(copy, pty, peer)
                nursery.start_soon(copy, peer, pty)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
    finally:
        os.unlink(link)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    trio.run(relay, args.link, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
