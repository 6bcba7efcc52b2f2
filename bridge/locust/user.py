"""One Locust user: one link of one virtual device.

It takes a free link id of one of its process's ports, opens the link, then
sends messages and checks every byte of each echo, one message in flight;
each AT command is a request of type ``AT`` named by the command (fired by
the port), each echo one of type ``ECHO`` named dialect/proto/size. A link
that fails (closed, refused, bytes that differ, no echo in time) is counted
and closed, and opened again after a pause. When the user stops, the last
echo is waited for, the link closed, and what never came back counted as
lost.
"""

from __future__ import annotations

import time

import gevent
from gevent.event import Event
from locust import User, constant, constant_throughput, task
from locust.exception import StopUser

from ..loadtest.check import new_check
from ..loadtest.dialect import DIALECTS
from ..loadtest.port_host import LINK_DOWN
from .node import Link, LinkLedger, node_of, reason

REOPEN_PAUSE = 1.0  # seconds before a failed link is opened again


class AtBridgeUser(User):
    def __init__(self, environment: object) -> None:
        super().__init__(environment)
        self.node = node_of(environment)
        self.link: Link | None = None
        self.stopped = False  # it could not start: its task stops it
        self.sequence = 0
        rate = self.node.run.rate
        self.pace = constant_throughput(rate) if rate else constant(0)

    def wait_time(self) -> float:
        return self.pace(self)

    def on_start(self) -> None:
        node = self.node
        problem = node.wait_ready()
        if problem is None and (link := node.allocate()) is not None:
            self.link = link
            self._open()
            return
        self.stopped = True  # visibly: a failed request
        if problem is None:
            kind, name = "no_free_link", DIALECTS[node.options.dialect].opens
            problem = f"{reason(kind, 0)}: all {node.capacity()} are taken"
        else:
            kind, name = "not_started", "start"
        node.totals.error(kind, problem)
        self._fire("AT", name, 0.0, 0, problem)

    def on_stop(self) -> None:
        link = self.link
        if link is None:
            return
        self.node.settle(link)  # a command it was waiting for when stopped
        self._wait_echo(link)
        self._end(link)
        self.node.release(link)
        self.link = None

    @task
    def echo(self) -> None:
        if self.stopped:
            raise StopUser()
        link = self.link
        assert link is not None
        if link.check is None and not self._open():
            gevent.sleep(REOPEN_PAUSE)
            return
        assert link.check is not None and link.ledger is not None
        check, ledger, node = link.check, link.ledger, self.node
        message = node.payloads.message(link.number, self.sequence)
        self.sequence += 1
        sent_at = time.perf_counter()
        result = node.call(link, link.port.host.send(check, message))
        if not result.ok:
            if result.kind == LINK_DOWN:  # it failed with no message in flight
                self._fire("ECHO", node.echo_name(), 0.0, 0, self._failure(link))
            return self._broken(link)  # else the port reported the failed command
        if self._wait_echo(link) and ledger.latency is not None:
            self._fire("ECHO", node.echo_name(), ledger.latency * 1000, len(message))
            ledger.latency = None
            return
        if not check.failed:
            check.fail("echo_timeout", f"port {link.port.index} link {check.link_id}: no echo "
                                       f"in {node.run.timeout} s")
        self._fire("ECHO", node.echo_name(), (time.perf_counter() - sent_at) * 1000,
                   len(message), self._failure(link))
        self._broken(link)

    def _failure(self, link: Link) -> str:
        """Why the link failed, as Locust's failure table shows it."""
        assert link.ledger is not None
        kind = link.ledger.failure or link.port.host.dead or "port_failed"
        return reason(kind, self.node.run.timeout)

    # -- the link --------------------------------------------------------------------------

    def _open(self) -> bool:
        link, node = self.link, self.node
        assert link is not None and node.target is not None
        ledger = LinkLedger(node.totals)
        check = new_check(node.target.proto, ledger, link.number)  # type: ignore[arg-type]
        link.check, link.ledger = check, ledger
        link.port.host.checks.append(check)
        result = node.call(link, link.port.host.open_link(check, link.slot, node.target.proto,
                                                         node.target.address))
        if result.ok:
            node.totals.links_opened += 1
            return True
        node.totals.links_failed += 1
        self._end(link)
        return False

    def _wait_echo(self, link: Link) -> bool:
        """Until the message in flight has come back (True), the link fails or
        the timeout passes."""
        check = link.check
        if check is None:
            return False
        deadline = time.perf_counter() + self.node.run.timeout
        while check.in_flight and not check.failed:
            waiter = check.waiter = Event()
            if not waiter.wait(deadline - time.perf_counter()):
                break
        return not check.in_flight and not check.failed

    def _broken(self, link: Link) -> None:
        self._end(link)
        gevent.sleep(REOPEN_PAUSE)

    def _end(self, link: Link) -> None:
        """Close the link (if it is open); what it still owes is lost."""
        check = link.check
        if check is None:
            return
        self.node.call(link, link.port.host.close_link(check))
        self.node.totals.bytes_lost += check.owed()
        link.port.host.checks.remove(check)
        link.check = link.ledger = None

    def _fire(self, kind: str, name: str, milliseconds: float, size: int,
              failure: str | None = None) -> None:
        self.environment.events.request.fire(request_type=kind, name=name,
                                             response_time=milliseconds, response_length=size,
                                             exception=failure, context={})
