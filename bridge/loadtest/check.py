"""Per-link verification: every byte that comes back, in order, is one sent.

A TCP or TLS echo returns a byte stream (frames split and merge), so a
stream link compares the concatenated received bytes with the sent ones; a
UDP link matches whole datagrams with whole messages. Each message's echo
latency runs from when it went on the UART to when its last byte came back.

Sans-IO: a sender that waits for room in its window gives the check a
``waiter`` (its event loop's event), set when room is made or the link fails.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from .stats import Stats

UDP_LOOKAHEAD = 64  # messages a datagram may skip (the skipped ones were lost)


class Waiter(Protocol):
    """An event of the host's event loop (trio.Event, gevent.event.Event)."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class LinkCheck:
    """What one link sent and is still owed; ``window`` bounds what is in flight."""

    def __init__(self, stats: Stats, number: int) -> None:
        self.stats = stats
        self.number = number  # the link's index in the whole run
        self.link_id = -1  # CIP link id / SKT con_id, once open
        self.open = False
        self.failed = False  # no more sends: closed, refused, corrupted or its port failed
        self.closing = False  # the host is closing it: a CLOSED notice is expected
        self.lost = 0  # bytes known lost before the end (skipped datagrams)
        self.messages = 0  # messages handed to the daemon
        self.waiter: Waiter | None = None  # a sender waiting for room

    # -- for the sender ---------------------------------------------------------

    @property
    def in_flight(self) -> int:
        raise NotImplementedError

    def expect(self, message: bytes, now: float) -> None:
        """Register ``message`` before it is written (its echo may be quick)."""
        raise NotImplementedError

    def withdraw(self, message: bytes) -> None:
        """The daemon refused the last message registered: nothing is owed."""
        raise NotImplementedError

    def _wake(self) -> None:
        if self.waiter is not None:
            self.waiter.set()
            self.waiter = None

    def fail(self, kind: str | None = None, detail: str = "") -> None:
        if kind is not None:
            self.stats.error(kind, detail)
        self.failed = True
        self._wake()

    # -- for the reader -------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        raise NotImplementedError

    def owed(self) -> int:
        """Bytes sent that have not come back (lost, once the run is over)."""
        raise NotImplementedError


class StreamCheck(LinkCheck):
    def __init__(self, stats: Stats, number: int) -> None:
        super().__init__(stats, number)
        self.expected = bytearray()  # sent, not yet echoed
        self.ends: deque[tuple[int, float]] = deque()  # (stream offset of its end, sent at)
        self.sent = 0  # stream offset of everything registered
        self.matched = 0  # stream offset echoed and verified
        self.broken = False  # a mismatch was seen

    @property
    def in_flight(self) -> int:
        return len(self.ends)

    def expect(self, message: bytes, now: float) -> None:
        self.expected += message
        self.sent += len(message)
        self.ends.append((self.sent, now))

    def withdraw(self, message: bytes) -> None:
        if self.ends and self.ends[-1][0] == self.sent and len(self.expected) >= len(message):
            del self.expected[-len(message):]
            self.sent -= len(message)
            self.ends.pop()
            self._wake()

    def receive(self, data: bytes, now: float) -> None:
        stats = self.stats
        stats.received(len(data))
        if self.broken:
            return  # after a mismatch the stream cannot be lined up again
        if not self.expected.startswith(data):
            expected = bytes(self.expected[:len(data)])
            at = next((i for i, (a, b) in enumerate(zip(data, expected, strict=False))
                       if a != b), len(expected))
            kind = "extra_bytes" if at == len(expected) else "corrupt_data"
            self.broken = True
            wanted = expected[at:at + 8].hex() or "nothing"
            self.fail(kind, f"link {self.link_id}: stream byte {self.matched + at} is "
                            f"{data[at:at + 8].hex()}, expected {wanted}")
            self.expected.clear()  # counted as lost, with everything still owed
            self.lost += self.sent - self.matched
            self.matched = self.sent
            self.ends.clear()
            return
        size = len(data)
        del self.expected[:size]
        self.matched += size
        stats.echoed(size, now)
        ends = self.ends
        matched = self.matched
        while ends and ends[0][0] <= matched:
            _, sent_at = ends.popleft()
            stats.echo_done(now - sent_at, now)
        self._wake()

    def owed(self) -> int:
        return len(self.expected) + self.lost


class DatagramCheck(LinkCheck):
    def __init__(self, stats: Stats, number: int) -> None:
        super().__init__(stats, number)
        self.pending: deque[tuple[bytes, float]] = deque()

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def expect(self, message: bytes, now: float) -> None:
        self.pending.append((message, now))

    def withdraw(self, message: bytes) -> None:
        if self.pending and self.pending[-1][0] is message:
            self.pending.pop()
            self._wake()

    def receive(self, data: bytes, now: float) -> None:
        stats = self.stats
        stats.received(len(data))
        pending = self.pending
        for skipped, (message, sent_at) in enumerate(pending):
            if skipped >= UDP_LOOKAHEAD:
                break
            if message == data:
                for _ in range(skipped):
                    lost, _ = pending.popleft()
                    self.lost += len(lost)
                    stats.error("datagram_lost", f"link {self.link_id}: {len(lost)} bytes")
                pending.popleft()
                stats.echoed(len(data), now)
                stats.echo_done(now - sent_at, now)
                self._wake()
                return
        stats.error("unexpected_datagram", f"link {self.link_id}: {data[:32]!r}")

    def owed(self) -> int:
        return sum(len(message) for message, _ in self.pending) + self.lost


def new_check(proto: str, stats: Stats, number: int) -> LinkCheck:
    return DatagramCheck(stats, number) if proto == "udp" else StreamCheck(stats, number)
