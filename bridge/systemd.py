"""sd_notify(3) in a few lines: datagrams to $NOTIFY_SOCKET, if there is one."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("bridge.systemd")


class Notifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # the abstract namespace
        self.address = address or None
        self.socket: socket.socket | None = None
        if self.address:
            self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self.socket.setblocking(False)
        usec, pid = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
        ours = pid is None or pid == str(os.getpid())
        #: seconds between WATCHDOG=1 pings: half the watchdog time (sd_watchdog_enabled)
        self.watchdog_interval = int(usec) / 2e6 if usec and ours and self.address else None

    def notify(self, **fields: object) -> None:
        if self.socket is None:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            self.socket.sendto(message, self.address)
        except OSError as exc:
            log.warning("sd_notify_failed", why=str(exc))
