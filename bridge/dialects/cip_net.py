"""The CIP dialect's network services: AT+CIPDNS, CIPDOMAIN, PING,
CIPSNTPCFG and CIPSNTPTIME (NOTES C12-C14), with their persisted settings
(C16)."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import trio

from ..at import cip_replies as replies
from ..at.cip_args import bad, parse_dns, parse_name, parse_sntp_config
from ..links.errors import LinkError
from ..net import ping, sntp
from ..net.dns import DEFAULT_SERVER, Resolver

if TYPE_CHECKING:
    from ..port import Port

SNTP_RETRY = 5.0  # C14: at least every 5 s until the first success

Handler = Callable[[list[str]], Awaitable[bytes | None]]


@dataclass(frozen=True)
class SntpSettings:
    enable: bool = False
    timezone: int = 0
    servers: tuple[str, ...] = ()


class NetworkServices:
    def __init__(self, port: Port, persist: Callable[[], Awaitable[None]]) -> None:
        self.port = port
        self.persist = persist
        settings = port.settings
        self.resolver = Resolver(server_timeout=settings.dns_server_timeout,
                                 lookup_timeout=settings.dns_timeout)
        self.dns_enabled = False
        self.sntp = SntpSettings()
        self._clock: float | None = None  # epoch seconds minus trio.current_time()
        self._sntp_scope: trio.CancelScope | None = None
        self.log = port.log

    def commands(self) -> dict[str, Handler]:
        return {
            "AT+CIPDNS=": self.set_dns,
            "AT+CIPDNS?": self.query_dns,
            "AT+CIPDOMAIN=": self.domain,
            "AT+PING=": self.ping,
            "AT+CIPSNTPCFG=": self.set_sntp,
            "AT+CIPSNTPCFG?": self.query_sntp,
            "AT+CIPSNTPTIME?": self.sntp_time,
        }

    # -- persisted settings (C16) -------------------------------------------------

    def saved(self) -> dict[str, Any]:
        sntp_settings = asdict(self.sntp)
        sntp_settings["servers"] = list(self.sntp.servers)
        return {"dns": list(self.resolver.servers) if self.dns_enabled else None,
                "sntp": sntp_settings}

    def restore(self, stored: dict[str, Any]) -> None:
        """Defaults, then what was stored (at start and by AT+RST): the clock
        starts again from 1970, as a module's does."""
        self._clock = None
        self.dns_enabled, self.resolver.servers = False, ()
        self.sntp = SntpSettings()
        try:
            if stored.get("dns") is not None:
                self.dns_enabled, self.resolver.servers = True, tuple(stored["dns"])
            if stored.get("sntp"):
                entry = stored["sntp"]
                self.sntp = SntpSettings(bool(entry["enable"]), int(entry["timezone"]),
                                         tuple(entry["servers"]))
        except (KeyError, TypeError, ValueError) as exc:
            self.log.warning("stored_settings_ignored", why=repr(exc))
        self._restart_sntp()

    # -- AT+CIPDNS / AT+CIPDOMAIN (C12) --------------------------------------------

    async def set_dns(self, tokens: list[str]) -> bytes:
        enable, servers = parse_dns(tokens)
        self.dns_enabled = enable
        self.resolver.servers = (servers or (DEFAULT_SERVER,)) if enable else ()
        await self.persist()
        return replies.OK

    async def query_dns(self, tokens: list[str]) -> bytes:
        return replies.dns_config(self.dns_enabled, self.resolver.servers)

    async def domain(self, tokens: list[str]) -> bytes:
        host = parse_name(tokens)
        try:
            address = await self.resolver.ipv4(host)
        except LinkError as exc:
            self.log.info("domain_failed", name=host, why=str(exc))
            return replies.ERROR
        return replies.domain(address)

    # -- AT+PING (C13) ----------------------------------------------------------------

    async def ping(self, tokens: list[str]) -> bytes:
        host = parse_name(tokens)
        try:
            address = await self.resolver.ipv4(host)
            seconds = await ping.ping(address, self.port.settings.ping_timeout)
        except LinkError as exc:
            self.log.info("ping_failed", host=host, why=str(exc))
            return replies.ERROR
        except PermissionError:
            self.log.error("ping_not_permitted",
                           needs="CAP_NET_RAW or net.ipv4.ping_group_range for our group")
            return replies.ERROR
        except OSError as exc:
            self.log.info("ping_failed", host=host, why=str(exc))
            return replies.ping(None)
        # a reply is at least 1 ms, so that 0 never reads as "no time at all"
        return replies.ping(None if seconds is None else max(1, math.ceil(seconds * 1000)))

    # -- AT+CIPSNTPCFG / AT+CIPSNTPTIME (C14) ---------------------------------------------

    async def set_sntp(self, tokens: list[str]) -> bytes:
        enable, timezone, servers = parse_sntp_config(tokens)
        self.sntp = SntpSettings(enable, timezone, servers)
        self._restart_sntp()
        await self.persist()
        return replies.OK

    async def query_sntp(self, tokens: list[str]) -> bytes:
        return replies.sntp_config(self.sntp.enable, self.sntp.timezone, self.sntp.servers)

    async def sntp_time(self, tokens: list[str]) -> bytes:
        if tokens:
            raise bad("takes no arguments")
        epoch = 0.0 if self._clock is None else trio.current_time() + self._clock
        local = time.gmtime(int(epoch) + self.sntp.timezone * 3600)
        return replies.sntp_time(time.strftime("%Y-%m-%d %H:%M:%S", local))

    def _restart_sntp(self) -> None:
        if self._sntp_scope is not None:
            self._sntp_scope.cancel()
            self._sntp_scope = None
        if self.sntp.enable:
            self._sntp_scope = trio.CancelScope()
            self.port.start_task(self._refresh_clock, self._sntp_scope, self.sntp.servers)

    async def _refresh_clock(self, scope: trio.CancelScope, servers: tuple[str, ...]) -> None:
        """Ask the servers in turn; again every sntp_interval once one
        answered, every SNTP_RETRY seconds until then."""
        settings = self.port.settings
        with scope:
            while True:
                for server in servers:
                    try:
                        address = await self.resolver.ipv4(server)
                        offset = await sntp.query(address, settings.sntp_timeout)
                    except (LinkError, OSError, trio.TooSlowError) as exc:
                        self.log.info("sntp_failed", server=server, why=repr(exc))
                        continue
                    self._clock = time.time() + offset - trio.current_time()
                    self.log.info("sntp_synchronised", server=server, offset=round(offset, 6))
                    await trio.sleep(settings.sntp_interval)
                    break
                else:
                    await trio.sleep(SNTP_RETRY if self._clock is None
                                     else settings.sntp_interval)


