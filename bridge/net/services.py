"""A port's network services, as values for the dialects to format:
name lookups through the host's AT+CIPDNS servers, one ICMP echo, and the
SNTP clock."""

from __future__ import annotations

import math
from typing import Any

from ..config import PortSettings
from . import ping
from .clock import SntpClock
from .dns import DEFAULT_SERVER, Resolver
from .errors import LinkError


class PingFailed(LinkError):
    """No echo could be sent (the name did not resolve, no ICMP permission)."""


class NetworkServices:
    def __init__(self, settings: PortSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self.resolver = Resolver(server_timeout=settings.dns_server_timeout,
                                 lookup_timeout=settings.dns_timeout)
        self.clock = SntpClock(self.resolver, query_timeout=settings.sntp_timeout,
                               interval=settings.sntp_interval, log=log)

    @property
    def dns_enabled(self) -> bool:
        return bool(self.resolver.servers)

    def use_dns(self, enable: bool, servers: tuple[str, ...]) -> None:
        """AT+CIPDNS: these servers (the default one if none), or the machine's resolver."""
        self.resolver.servers = (servers or (DEFAULT_SERVER,)) if enable else ()

    async def lookup(self, name: str) -> str | None:
        """One IPv4 address for ``name``, or None (logged)."""
        try:
            return await self.resolver.ipv4(name)
        except LinkError as exc:
            self.log.info("domain_failed", name=name, why=str(exc))
            return None

    async def ping(self, host: str) -> int | None:
        """Milliseconds of one echo (whole, rounded up, at least 1, so that 0
        never reads as "no time at all"), or None when no reply came in time.
        Raises PingFailed when no echo could be sent."""
        try:
            address = await self.resolver.ipv4(host)
            seconds = await ping.ping(address, self.settings.ping_timeout)
        except LinkError as exc:
            self.log.info("ping_failed", host=host, why=str(exc))
            raise PingFailed(str(exc)) from None
        except PermissionError:
            self.log.error("ping_not_permitted",
                           needs="CAP_NET_RAW or net.ipv4.ping_group_range for our group")
            raise PingFailed("no permission for ICMP") from None
        except OSError as exc:
            self.log.info("ping_failed", host=host, why=str(exc))
            return None
        return None if seconds is None else max(1, math.ceil(seconds * 1000))

