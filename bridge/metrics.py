"""Prometheus metrics (opt-in: ``[daemon] metrics_address``).

The hot paths only add to plain integers (a port's counters); this
collector reads them when Prometheus scrapes, through the small read-only
views below (the daemon's port states are such views), and
prometheus-client's exposition format is served by a small Trio task. The
process collector adds the daemon's memory, CPU time and open files.

Link bytes are counted per link id, not per link: an id's series sums every
link that held the id, so it never goes backwards when the id is reused,
and a port has at most as many series as its dialect has ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import structlog
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from . import __version__
from .problems import PROBLEMS

log = structlog.get_logger("bridge.metrics")

REQUEST_LIMIT = 8192


class CountersView(Protocol):
    """Bytes and frames a port moved since the daemon started."""

    uart_in: int
    uart_out: int
    frames_out: int
    link_in: int
    link_out: int
    link_id_in: dict[int, int]
    link_id_out: dict[int, int]


class PortView(Protocol):
    """What the collector reads of one port."""

    reopens: int
    counters: CountersView

    @property
    def name(self) -> str: ...
    @property
    def up(self) -> bool: ...
    def open_links(self) -> Iterable[object]: ...


PortViews = Callable[[], Iterable[PortView]]


class PortCollector:
    def __init__(self, ports: PortViews) -> None:
        self.ports = ports

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("at_bridge_port_up", "1 while the port's device is open",
                               labels=["port"])
        reopens = CounterMetricFamily("at_bridge_device_reopens",
                                      "times the device was opened again after failing",
                                      labels=["port"])
        links = GaugeMetricFamily("at_bridge_links_open", "links open", labels=["port"])
        uart = CounterMetricFamily("at_bridge_uart_bytes", "bytes on the UART",
                                   labels=["port", "direction"])
        frames = CounterMetricFamily("at_bridge_frames",
                                     "unsolicited data frames written to the UART",
                                     labels=["port"])
        link_bytes = CounterMetricFamily("at_bridge_link_bytes", "bytes on all links",
                                         labels=["port", "direction"])
        link_id_bytes = CounterMetricFamily("at_bridge_link_id_bytes",
                                            "bytes on each link id, over every link that held it",
                                            labels=["port", "link", "direction"])
        for port in self.ports():
            name, counters = port.name, port.counters
            up.add_metric([name], 1 if port.up else 0)
            reopens.add_metric([name], port.reopens)
            uart.add_metric([name, "in"], counters.uart_in)
            uart.add_metric([name, "out"], counters.uart_out)
            frames.add_metric([name], counters.frames_out)
            link_bytes.add_metric([name, "in"], counters.link_in)
            link_bytes.add_metric([name, "out"], counters.link_out)
            links.add_metric([name], len(list(port.open_links())))
            for direction, by_id in (("in", counters.link_id_in), ("out", counters.link_id_out)):
                for con_id, count in sorted(by_id.items()):
                    link_id_bytes.add_metric([name, str(con_id), direction], count)
        problems = CounterMetricFamily("at_bridge_problems",
                                       "warning and error events, by kind",
                                       labels=["port", "kind"])
        for (port_name, kind), count in sorted(PROBLEMS.items()):
            problems.add_metric([port_name, kind], count)
        yield from (up, reopens, links, uart, frames, link_bytes, link_id_bytes, problems)


class BootTimeProcessCollector(ProcessCollector):
    """prometheus-client's process collector, which reads the boot time from
    /proc/stat and reports nothing without it; systemd's ProcSubset=pid (the
    units set it) hides that file, so the boot clock stands in for it."""

    def _boot_time(self) -> float:
        try:
            return float(super()._boot_time())
        except OSError:
            return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def registry_for(ports: PortViews) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(PortCollector(ports))  # type: ignore[arg-type]
    BootTimeProcessCollector(registry=registry)
    Info("at_bridge_build", "the running at-bridge", registry=registry).info(
        {"version": __version__})
    return registry


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def listen(address: str) -> list[trio.SocketListener]:
    """Bind the metrics address ("HOST:PORT"); OSError if it cannot be."""
    host, port = split_address(address)
    listeners = await trio.open_tcp_listeners(port, host=host)
    log.info("metrics_listening", address=address)
    return listeners


async def serve_metrics(listeners: list[trio.SocketListener], ports: PortViews,
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    registry = registry_for(ports)
    task_status.started()
    await trio.serve_listeners(lambda stream: _answer(stream, registry), listeners)


async def _answer(stream: trio.SocketStream, registry: CollectorRegistry) -> None:
    """One HTTP/1.0-style exchange: GET /metrics, then close."""
    request = b""
    with trio.move_on_after(5):
        while b"\r\n\r\n" not in request and len(request) < REQUEST_LIMIT:
            data = await stream.receive_some(4096)
            if not data:
                break
            request += data
    parts = request.split(b" ", 2)
    if len(parts) >= 2 and parts[0] == b"GET" and parts[1].split(b"?")[0] == b"/metrics":
        body, status = generate_latest(registry), b"200 OK"
        content_type = CONTENT_TYPE_LATEST.encode()
    else:
        body, status, content_type = b"not found\n", b"404 Not Found", b"text/plain"
    head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
    try:
        with trio.move_on_after(5):
            await stream.send_all(head % (status, content_type, len(body)) + body)
    except (trio.BrokenResourceError, OSError):
        pass
    finally:
        await stream.aclose()
