"""What a run measured: counters, latency samples and a timeline.

The hot paths only append floats to arrays and add to integers; the report
turns them into percentiles at the end.
"""

from __future__ import annotations

from array import array
from collections import Counter

BUCKET = 0.5  # seconds per timeline step


class Timeline:
    """Bytes sent and echoed, and echo latencies, per BUCKET seconds."""

    def __init__(self, width: float = BUCKET) -> None:
        self.width = width
        self.start = 0.0
        self.sent: list[int] = []
        self.echoed: list[int] = []
        self.messages: list[int] = []
        self.echo: list[array] = []

    def index(self, now: float) -> int:
        step = int((now - self.start) / self.width)
        if step < 0:
            step = 0
        while step >= len(self.sent):
            self.sent.append(0)
            self.echoed.append(0)
            self.messages.append(0)
            self.echo.append(array("d"))
        return step


class Stats:
    def __init__(self) -> None:
        self.timeline = Timeline()
        self.traffic = False  # inside the traffic phase (the timeline runs)
        self.started = self.ended = 0.0
        self.links_requested = self.links_opened = self.links_failed = 0
        self.ports_requested = self.ports_ready = 0
        self.messages_sent = self.messages_echoed = 0
        self.bytes_sent = self.bytes_echoed = 0
        self.bytes_received = 0  # every data byte the host got, echoed or not
        self.bytes_lost = 0  # counted when the run ends (see check.py)
        self.last_echo = 0.0
        self.errors: Counter[str] = Counter()
        self.error_examples: dict[str, str] = {}
        self.commands: dict[str, array] = {}
        self.echo = array("d")
        self.rss: dict[str, int] = {}  # phase -> the daemon's VmRSS in KiB
        self.rss_peak = 0
        #: CPU seconds used during the traffic phase: "daemon", "loadtest"
        self.cpu: dict[str, float] = {}

    def start_traffic(self, now: float) -> None:
        self.traffic = True
        self.started = self.timeline.start = now

    def end_traffic(self, now: float) -> None:
        self.traffic = False
        self.ended = now

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        if detail and kind not in self.error_examples:
            self.error_examples[kind] = detail[:200]

    def command(self, name: str, seconds: float) -> None:
        samples = self.commands.get(name)
        if samples is None:
            samples = self.commands[name] = array("d")
        samples.append(seconds)

    def sent(self, size: int, now: float) -> None:
        self.messages_sent += 1
        self.bytes_sent += size
        if self.traffic:
            self.timeline.sent[self.timeline.index(now)] += size

    def unsent(self, size: int) -> None:
        """A message counted by ``sent`` that the daemon refused after all."""
        self.messages_sent -= 1
        self.bytes_sent -= size

    def received(self, size: int) -> None:
        self.bytes_received += size

    def echoed(self, size: int, now: float) -> None:
        self.bytes_echoed += size
        self.last_echo = now
        if self.traffic:
            self.timeline.echoed[self.timeline.index(now)] += size

    def echo_done(self, latency: float, now: float) -> None:
        """One message's last byte came back ``latency`` seconds after it went."""
        self.messages_echoed += 1
        self.echo.append(latency)
        if self.traffic:
            step = self.timeline.index(now)
            self.timeline.messages[step] += 1
            self.timeline.echo[step].append(latency)

    def sample_rss(self, phase: str | None, kib: int | None) -> None:
        if kib is None:
            return
        self.rss_peak = max(self.rss_peak, kib)
        if phase is not None:
            self.rss[phase] = kib
