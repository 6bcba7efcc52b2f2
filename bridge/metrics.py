"""Prometheus metrics (opt-in: ``[daemon] metrics_address``).

The hot paths only add to plain integers (PortCounters, Link.bytes_in/out);
this collector reads them when Prometheus scrapes, and prometheus-client's
exposition format is served by a small Trio task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import structlog
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from .daemon import Daemon

log = structlog.get_logger("bridge.metrics")

#: warning and error log events, by port and event name: the "errors by kind"
PROBLEMS: Counter[tuple[str, str]] = Counter()
REQUEST_LIMIT = 8192


def count_problems(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every warning or error is also a metric."""
    if method in ("warning", "error", "exception", "critical"):
        PROBLEMS[(str(event.get("port", "")), str(event.get("event", "")))] += 1
    return event


class DaemonCollector:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

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
        open_link_bytes = CounterMetricFamily("at_bridge_open_link_bytes",
                                              "bytes on each open link",
                                              labels=["port", "link", "direction"])
        for name, state in self.daemon.ports.items():
            counters = state.counters
            up.add_metric([name], 1 if state.state == "open" else 0)
            reopens.add_metric([name], state.reopens)
            uart.add_metric([name, "in"], counters.uart_in)
            uart.add_metric([name, "out"], counters.uart_out)
            frames.add_metric([name], counters.frames_out)
            link_bytes.add_metric([name, "in"], counters.link_in)
            link_bytes.add_metric([name, "out"], counters.link_out)
            open_links = list(state.port.dialect.links) if state.port is not None else []
            links.add_metric([name], len(open_links))
            for link in open_links:
                open_link_bytes.add_metric([name, str(link.con_id), "in"], link.bytes_in)
                open_link_bytes.add_metric([name, str(link.con_id), "out"], link.bytes_out)
        problems = CounterMetricFamily("at_bridge_problems",
                                       "warning and error events, by kind",
                                       labels=["port", "kind"])
        for (port, kind), count in sorted(PROBLEMS.items()):
            problems.add_metric([port, kind], count)
        yield from (up, reopens, links, uart, frames, link_bytes, open_link_bytes, problems)


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def serve_metrics(address: str, daemon: Daemon,
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    registry = CollectorRegistry()
    registry.register(DaemonCollector(daemon))  # type: ignore[arg-type]
    host, port = split_address(address)
    listeners = await trio.open_tcp_listeners(port, host=host)
    log.info("metrics_listening", address=address)
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
