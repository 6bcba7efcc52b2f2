"""The ESP-AT dialect's network commands (E13, E28): AT+CIPDOMAIN, PING,
CIPDNS, CIPSNTPCFG, CIPSNTPTIME and SYSTIMESTAMP, in ESP-AT's words (per
profile), over the port's network services."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ...at.commands import Outcome
from ...net.clock import SntpSettings, StartTask
from ...net.services import NetworkServices, PingFailed
from . import replies
from .args import bad, saves
from .replies import Profile

Persist = Callable[..., Awaitable[None]]


class EspNetwork:
    def __init__(self, services: NetworkServices, profile: Profile, persist: Persist,
                 start_task: StartTask) -> None:
        self.services = services
        self.profile = profile
        self.persist = persist  # saved when AT+SYSSTORE=1 (E30)
        self.start_task = start_task
        self.defaults()

    def defaults(self) -> None:
        """AT+CIPDNS=0: the board's own resolver."""
        self.services.resolver.servers = ()
        self.dns_enabled = False

    def restore(self, stored: dict[str, Any]) -> None:
        """What AT+SYSSTORE=1 saved (a bad entry raises, for the caller to log)."""
        dns = stored.get("dns")
        if dns is not None:  # [] is AT+CIPDNS=1 with no server: the system resolver
            self.services.resolver.servers = tuple(dns)
            self.dns_enabled = True
        sntp = stored.get("sntp")
        self.services.clock.reset(self.start_task,
                                  SntpSettings(bool(sntp[0]), int(sntp[1]), tuple(sntp[2]))
                                  if sntp else SntpSettings())

    async def domain(self, name: str, *network: Any) -> Outcome:
        address = await self.services.lookup(name)
        if address is None:
            return Outcome(self.profile.dns_fail + replies.ERROR)
        shown = b'"%s"' % address.encode() if self.profile.quoted_addresses \
            else address.encode()
        return Outcome(b"+CIPDOMAIN:%s\r\n" % shown + replies.OK)

    async def ping(self, host: str) -> Outcome:
        try:
            milliseconds = await self.services.ping(host)
        except PingFailed:
            milliseconds = None
        if milliseconds is None:
            return Outcome(self.profile.ping_timeout + replies.ERROR)
        return Outcome(self.profile.ping_time % milliseconds + replies.OK)

    async def set_dns(self, enable: int, *servers: str, called_as: str = "CIPDNS") -> Outcome:
        """E13: CIPDNS=1 with no server: the system resolver."""
        if any(servers) and not enable:  # omitted servers are ""
            raise bad("servers are for CIPDNS=1")
        self.services.resolver.servers = tuple(s for s in servers if s) if enable else ()
        self.dns_enabled = bool(enable)
        if saves(called_as):
            await self.persist(dns=list(self.services.resolver.servers) if enable else None)
        return Outcome(replies.OK)

    async def query_dns(self, *, called_as: str = "CIPDNS") -> Outcome:
        """E13: `+CIPDNS:<enable>[,"<server>"...]` (1.7: `+CIPDNS_CUR:<server>` a line
        each, none for the system resolver)."""
        servers = self.services.resolver.servers
        if self.profile.dns_servers_a_line:
            return Outcome(b"".join(replies.value(called_as, server) for server in servers)
                           + replies.OK)
        listed = b"".join(b',"%s"' % server.encode() for server in servers)
        enabled = self.dns_enabled or bool(servers)
        return Outcome(b"+%s:%d%s\r\n" % (called_as.encode(), enabled, listed) + replies.OK)

    async def set_sntp(self, enable: int, timezone: int, *servers: str) -> Outcome:
        names = tuple(server for server in servers if server)
        if enable and not names:
            names = ("pool.ntp.org",)
        self.services.clock.configure(SntpSettings(bool(enable), timezone, names),
                                      self.start_task)
        await self.persist(sntp=[enable, timezone, list(names)])
        return Outcome(replies.OK)

    async def query_sntp(self) -> Outcome:
        sntp = self.services.clock.settings
        servers = b"".join(b',"%s"' % server.encode() for server in sntp.servers)
        return Outcome(b"+CIPSNTPCFG:%d,%d%s\r\n" % (sntp.enable, sntp.timezone, servers)
                       + replies.OK)

    async def sntp_time(self) -> Outcome:
        """E28: asctime, local to the configured zone."""
        clock = self.services.clock
        local = time.gmtime(int(clock.epoch()) + clock.settings.timezone * 3600)
        return Outcome(b"+CIPSNTPTIME:%s\r\n" % time.asctime(local).encode() + replies.OK)

    async def timestamp(self) -> Outcome:
        return Outcome(b"+SYSTIMESTAMP:%d\r\n" % int(self.services.clock.epoch()) + replies.OK)
