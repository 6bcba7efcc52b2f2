"""The module's clock, set by SNTP (NOTES C14; ESP-AT E28).

Before the first answer the clock reads 1970-01-01 00:00:00, not advancing,
as a module's does; it is refreshed in the background: every
``interval`` seconds once a server answered, every RETRY seconds until then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from . import sntp
from .dns import Resolver
from .errors import LinkError

RETRY = 5.0  # C14: at least every 5 s until the first success

StartTask = Callable[..., None]


@dataclass(frozen=True)
class SntpSettings:
    enable: bool = False
    timezone: int = 0
    servers: tuple[str, ...] = ()


class SntpClock:
    def __init__(self, resolver: Resolver, *, query_timeout: float, interval: float,
                 log: Any) -> None:
        self.resolver = resolver
        self.query_timeout = query_timeout
        self.interval = interval
        self.log = log
        self.settings = SntpSettings()
        self._offset: float | None = None  # epoch seconds minus trio.current_time()
        self._scope: trio.CancelScope | None = None

    def epoch(self) -> float:
        """Seconds since 1970 by this clock (0 until synchronised)."""
        return 0.0 if self._offset is None else trio.current_time() + self._offset

    def configure(self, settings: SntpSettings, start_task: StartTask) -> None:
        """New settings: the refresh task starts again (or stops)."""
        self.settings = settings
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
        if settings.enable:
            self._scope = trio.CancelScope()
            start_task(self._refresh, self._scope, settings.servers)

    def reset(self, start_task: StartTask, settings: SntpSettings = SntpSettings()) -> None:
        """Back to 1970, as a module's clock after a reset."""
        self._offset = None
        self.configure(settings, start_task)

    async def _refresh(self, scope: trio.CancelScope, servers: tuple[str, ...]) -> None:
        with scope:
            while True:
                for server in servers:
                    try:
                        address = await self.resolver.ipv4(server)
                        offset = await sntp.query(address, self.query_timeout)
                    except (LinkError, OSError, trio.TooSlowError) as exc:
                        self.log.info("sntp_failed", server=server, why=repr(exc))
                        continue
                    self._offset = time.time() + offset - trio.current_time()
                    self.log.info("sntp_synchronised", server=server, offset=round(offset, 6))
                    await trio.sleep(self.interval)
                    break
                else:
                    await trio.sleep(RETRY if self._offset is None else self.interval)

