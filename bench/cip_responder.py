"""The stop-and-wait ceiling: the fastest answer to AT+CIPSEND this host allows.

    python bench/cip_responder.py --link PATH --port PORT [--dialect cip|esp-at]

Plays only the module's side of the framed uplink (NOTES C9, E21), with
nothing between the pty and the socket but blocking reads and writes: no
event loop, no parser beyond the count, no checks. It makes a pty, links it
at PATH, connects to 127.0.0.1:PORT, prints PATH on stdout (as at-bridge
announces its pty), then for each `AT+CIPSEND=<n>\\r\\n` writes the dialect's
prompt (CIP `\\r\\n>`), reads n bytes, sends them to the peer and writes the
dialect's reply (CIP `SEND OK\\r\\n`), until the pty's host goes away or
SIGTERM. bench/cip.py runs its lock-step host against it in the same
run, so the framed uplink's share of passthrough can be read against what
two pty round trips per block leave on this machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tty

from _dialects import DIALECTS, Dialect

PREFIX = b"AT+CIPSEND="


def serve(master: int, peer: socket.socket, dialect: Dialect) -> None:
    pending = bytearray()

    def fill(size: int) -> bool:
        while len(pending) < size:
            data = os.read(master, 65536)
            if not data:
                return False
            pending.extend(data)
        return True

    while True:
        while b"\r\n" not in pending:
            if not fill(len(pending) + 1):
                return
        end = pending.index(b"\r\n")
        count = int(pending[len(PREFIX):end])
        del pending[:end + 2]
        os.write(master, dialect.prompt)
        if not fill(count):
            return
        peer.sendall(pending[:count])
        del pending[:count]
        os.write(master, dialect.sent_reply(count))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dialect", choices=DIALECTS, default="cip")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    master, slave = os.openpty()
    tty.setraw(slave)
    os.symlink(os.ttyname(slave), args.link)
    peer = socket.create_connection(("127.0.0.1", args.port))
    print(args.link, flush=True)
    try:
        serve(master, peer, DIALECTS[args.dialect])
    except OSError:
        pass  # the host closed the pty (EIO): the session is over
    finally:
        os.unlink(args.link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
