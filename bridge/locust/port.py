"""One pty port under gevent: the driver of the port's sans-IO host
(bridge/loadtest/port_host.py).

A reader greenlet feeds the host whatever the port writes. The port's AT
commands run in a greenlet of their own, one at a time, in the order users
submit them: a user stopped in the middle of a command (after CIP's prompt,
say) leaves the command to finish, and the port stays in step.

The pty is non-blocking and waited on with gevent: a blocking read would
stop every user of the process.
"""

from __future__ import annotations

import os
import time
from typing import Any, TypeVar

import gevent
from gevent.event import AsyncResult, Event
from gevent.queue import Queue
from gevent.socket import wait_read, wait_write

from ..loadtest.dialect import Dialect
from ..loadtest.port_host import PortHost, Result, Script, Sleep, Wait, Write
from ..loadtest.stats import Stats
from ..testing.host import open_host

UART_CHUNK = 65536

T = TypeVar("T")


class Port:
    def __init__(self, index: int, path: str, dialect: Dialect, stats: Stats, *,
                 timeout: float, on_result: Any) -> None:
        self.index = index
        self.path = path
        self.host = PortHost(dialect, index, stats, timeout=timeout, clock=time.perf_counter,
                             new_waiter=Event, on_result=on_result)
        self.fd = open_host(path, flush=False)
        self.jobs: Queue = Queue()
        self.reader = gevent.spawn(self._read)
        self.commands: gevent.Greenlet | None = None

    def start(self, setup: Script[bool], gate: Event) -> None:
        """Once ``gate`` is set, set the port up, then run what users submit."""
        self.commands = gevent.spawn(self._run, setup, gate)

    def submit(self, script: Script[T]) -> AsyncResult:
        """Run ``script`` on the port after what was submitted before."""
        done: AsyncResult = AsyncResult()
        self.jobs.put((script, done))
        return done

    def wait(self, done: AsyncResult, timeout: float) -> T | Result:
        """What a submitted script returned; a Result saying so if it has not
        run within ``timeout`` seconds (the port is stuck)."""
        try:
            return done.get(timeout=timeout)
        except gevent.Timeout:
            return Result("port", None, timeout, "port_stuck",
                          f"port {self.index}: a command waited {timeout} s for its turn")

    def close(self) -> None:
        for greenlet in (self.commands, self.reader):
            if greenlet is not None:
                greenlet.kill(block=True)
        os.close(self.fd)

    def _run(self, setup: Script[bool], gate: Event) -> None:
        gate.wait()
        self.perform(setup)  # a port that fails here is dead: its commands fail at once
        for script, done in self.jobs:
            try:
                done.set(self.perform(script))
            except Exception as exc:  # a bug, not the port: the user reports it
                done.set_exception(exc)

    def perform(self, script: Script[T]) -> T:
        try:
            while True:
                action = script.send(None)
                if isinstance(action, Write):
                    self._write(action)
                elif isinstance(action, Wait):
                    action.waiter.wait(action.timeout)  # type: ignore[attr-defined]
                elif isinstance(action, Sleep):
                    gevent.sleep(action.seconds)
        except StopIteration as end:
            return end.value

    def _write(self, action: Write) -> None:
        data = memoryview(action.data)
        deadline = time.perf_counter() + action.timeout
        while data:
            try:
                data = data[os.write(self.fd, data):]
            except BlockingIOError:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return self.host.fail_port("uart_failed", f"port {self.index}: write "
                                                              f"blocked for {action.timeout} s")
                try:
                    wait_write(self.fd, timeout=left)
                except TimeoutError:
                    continue
            except OSError as exc:
                return self.host.fail_port("uart_failed", f"port {self.index}: write: {exc!r}")

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, UART_CHUNK)
            except BlockingIOError:
                wait_read(self.fd)
                continue
            except OSError as exc:
                return self.host.fail_port("uart_failed", f"port {self.index}: {exc!r}")
            if not data:
                return self.host.fail_port("uart_closed", f"port {self.index}: end of file")
            self.host.feed(data)
