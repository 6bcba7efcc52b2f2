"""The CIP dialect's network commands: AT+CIPDNS, CIPDOMAIN, PING,
CIPSNTPCFG and CIPSNTPTIME (NOTES C12-C14), in CIP's words, over the
port's network services; changed settings are persisted (C16)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ...at.commands import Outcome
from ...net.clock import SntpSettings, StartTask
from ...net.errors import LinkError
from ...net.services import NetworkServices
from . import replies
from .args import parse_dns, parse_name, parse_sntp_config

Persist = Callable[[], Awaitable[None]]


class CipNetwork:
    def __init__(self, services: NetworkServices, persist: Persist,
                 start_task: StartTask) -> None:
        self.services = services
        self.persist = persist
        self.start_task = start_task

    # -- persisted settings (C16) -------------------------------------------------

    def saved(self) -> dict[str, Any]:
        sntp = self.services.clock.settings
        return {"dns": list(self.services.resolver.servers) if self.services.dns_enabled
                else None,
                "sntp": {"enable": sntp.enable, "timezone": sntp.timezone,
                         "servers": list(sntp.servers)}}

    def restore(self, stored: dict[str, Any]) -> None:
        """Defaults, then what was stored (at start and by AT+RST): the clock
        starts again from 1970, as a module's does."""
        dns: tuple[str, ...] | None = None
        sntp = SntpSettings()
        try:
            if stored.get("dns") is not None:
                dns = tuple(stored["dns"])
            if stored.get("sntp"):
                entry = stored["sntp"]
                sntp = SntpSettings(bool(entry["enable"]), int(entry["timezone"]),
                                    tuple(entry["servers"]))
        except (KeyError, TypeError, ValueError) as exc:
            self.services.log.warning("stored_settings_ignored", why=repr(exc))
        self.services.resolver.servers = dns or ()
        self.services.clock.reset(self.start_task, sntp)

    # -- AT+CIPDNS / AT+CIPDOMAIN (C12) --------------------------------------------

    async def set_dns(self, setting: tuple[bool, tuple[str, ...]]) -> Outcome:
        self.services.use_dns(*setting)
        await self.persist()
        return Outcome(replies.OK)

    async def query_dns(self) -> Outcome:
        return Outcome(replies.dns_config(self.services.dns_enabled,
                                          self.services.resolver.servers))

    async def domain(self, name: str) -> Outcome:
        address = await self.services.lookup(name)
        return Outcome(replies.ERROR if address is None else replies.domain(address))

    # -- AT+PING (C13) ----------------------------------------------------------------

    async def ping(self, host: str) -> Outcome:
        try:
            milliseconds = await self.services.ping(host)
        except LinkError:
            return Outcome(replies.ERROR)
        return Outcome(replies.ping(milliseconds))

    # -- AT+CIPSNTPCFG / AT+CIPSNTPTIME (C14) ---------------------------------------------

    async def set_sntp(self, enable: bool, timezone: int, servers: tuple[str, ...]) -> Outcome:
        self.services.clock.configure(SntpSettings(enable, timezone, servers), self.start_task)
        await self.persist()
        return Outcome(replies.OK)

    async def query_sntp(self) -> Outcome:
        sntp = self.services.clock.settings
        return Outcome(replies.sntp_config(sntp.enable, sntp.timezone, sntp.servers))

    async def sntp_time(self) -> Outcome:
        clock = self.services.clock
        local = time.gmtime(int(clock.epoch()) + clock.settings.timezone * 3600)
        return Outcome(replies.sntp_time(time.strftime("%Y-%m-%d %H:%M:%S", local)))


def dns_arguments(tokens: Any, dialect: Any) -> tuple[Any, ...]:
    return (parse_dns(tokens),)


def name_argument(tokens: Any, dialect: Any) -> tuple[str]:
    return (parse_name(tokens),)


def sntp_arguments(tokens: Any, dialect: Any) -> tuple[Any, ...]:
    return parse_sntp_config(tokens)
