"""One virtual device under Trio: the serial host of one port, in one dialect.

The device reads the port's pty into its sans-IO host (port_host.py), which
hands replies to the command in progress and data frames to their link's
check, and performs the host's scripts one at a time (the module runs one
command at a time, NOTES G4): each holds ``lock`` from its command to its
final reply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TypeVar

import trio

from ..testing.host import open_host
from .check import LinkCheck
from .dialect import DIALECTS
from .options import Options
from .payloads import Payloads
from .port_host import PortHost, Result, Script, Sleep, Wait, Write
from .stats import Stats

UART_CHUNK = 65536

T = TypeVar("T")


@dataclass
class Plan:
    """What each link sends during the traffic phase."""

    size: int
    end: float  # trio time when sending stops
    messages: int | None
    rate: float | None
    window: int
    payloads: Payloads


class Device:
    def __init__(self, index: int, path: str, options: Options, stats: Stats,
                 target: tuple[str, int], checks: list[LinkCheck]) -> None:
        self.index = index
        self.path = path
        self.options = options
        self.stats = stats
        self.target = target
        self.checks = checks
        self.host = PortHost(DIALECTS[options.dialect], index, stats, timeout=options.timeout,
                             clock=trio.current_time, new_waiter=trio.Event,
                             on_result=self._record)
        self.host.checks = checks
        self.lock = trio.Lock()
        self.stream: trio.lowlevel.FdStream | None = None

    @property
    def dead(self) -> str | None:
        return self.host.dead

    def _record(self, result: Result) -> None:
        if result.ok:
            self.stats.command(result.name, result.seconds)

    # -- the pty -----------------------------------------------------------------

    def open(self) -> None:
        self.stream = trio.lowlevel.FdStream(open_host(self.path, flush=False))

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()

    async def read_loop(self) -> None:
        assert self.stream is not None
        receive = self.stream.receive_some
        feed = self.host.feed
        try:
            while True:
                data = await receive(UART_CHUNK)
                if not data:
                    return self.host.fail_port("uart_closed", f"port {self.index}: end of file")
                feed(data)
        except trio.ClosedResourceError:
            return  # we closed it
        except (OSError, trio.BrokenResourceError) as exc:
            self.host.fail_port("uart_failed", f"port {self.index}: {exc!r}")

    # -- performing the host's scripts -------------------------------------------------

    async def perform(self, script: Script[T]) -> T:
        """Do what ``script`` asks until it returns, holding the port."""
        async with self.lock:
            try:
                while True:
                    action = script.send(None)
                    if isinstance(action, Write):
                        await self._write(action)
                    elif isinstance(action, Wait):
                        with trio.move_on_after(action.timeout):
                            await action.waiter.wait()  # type: ignore[attr-defined]
                    elif isinstance(action, Sleep):
                        await trio.sleep(action.seconds)
            except StopIteration as end:
                return end.value

    async def _write(self, action: Write) -> None:
        assert self.stream is not None
        try:
            with trio.move_on_after(action.timeout) as scope:
                await self.stream.send_all(action.data)
        except (OSError, trio.BrokenResourceError) as exc:
            self.host.fail_port("uart_failed", f"port {self.index}: write: {exc!r}")
            return
        if scope.cancelled_caught:
            self.host.fail_port("uart_failed", f"port {self.index}: write blocked for "
                                               f"{action.timeout} s")

    async def setup(self, attached: bool) -> bool:
        return await self.perform(self.host.setup(attached))

    async def send(self, check: LinkCheck, message: bytes) -> bool:
        return (await self.perform(self.host.send(check, message))).ok

    # -- the traffic phase ------------------------------------------------------------

    async def open_links(self) -> None:
        for slot, check in enumerate(self.checks):
            if self.dead is None and (await self.perform(self.host.open_link(
                    check, slot, self.options.proto, self.target))).ok:
                self.stats.links_opened += 1
            else:
                check.fail()
                self.stats.links_failed += 1

    async def drive(self, check: LinkCheck, plan: Plan) -> None:
        """Send one link's messages until the plan ends or the link fails."""
        if not check.open:
            return
        gap = 1 / plan.rate if plan.rate else None
        next_at = trio.current_time() + (random.random() * gap if gap else 0.0)
        sequence = 0
        while not check.failed:
            if plan.messages is not None and sequence >= plan.messages:
                break
            if gap is not None:
                if next_at >= plan.end:
                    break
                await trio.sleep_until(next_at)
                next_at += gap
            if check.in_flight >= plan.window:
                stall = trio.current_time() + self.options.timeout
                with trio.move_on_at(min(plan.end, stall)):
                    await wait_room(check, plan.window)
                if check.in_flight >= plan.window and trio.current_time() >= stall:
                    check.fail("echo_timeout", f"port {self.index} link {check.link_id}: "
                                               f"{check.in_flight} messages unanswered for "
                                               f"{self.options.timeout} s")
            if trio.current_time() >= plan.end or check.in_flight >= plan.window:
                break
            if not await self.send(check, plan.payloads.message(check.number, sequence)):
                break
            sequence += 1
        check.messages = sequence

    async def close_links(self) -> None:
        for check in self.checks:
            if check.open and self.dead is None:
                await self.perform(self.host.close_link(check))


async def wait_room(check: LinkCheck, window: int) -> None:
    while check.in_flight >= window and not check.failed:
        event = check.waiter = trio.Event()
        await event.wait()
