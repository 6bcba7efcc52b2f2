"""The run's report: a JSON-able dict, percentiles, and a text table."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from .options import Options
from .stats import Stats

PERCENTILES = (50, 90, 99)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank of ``ordered`` (ascending, not empty)."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(samples: Sequence[float]) -> dict[str, Any]:
    """count, mean, p50/p90/p99 and max, in milliseconds."""
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)
    summary: dict[str, Any] = {"count": len(ordered),
                               "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3)}
    for p in PERCENTILES:
        summary[f"p{p}_ms"] = round(percentile(ordered, p) * 1000, 3)
    summary["max_ms"] = round(ordered[-1] * 1000, 3)
    return summary


def build(stats: Stats, options: Options, *, daemon_pid: int | None,
          daemon_exit: int | None, target: tuple[str, int]) -> dict[str, Any]:
    seconds = stats.ended - stats.started
    per_second = 1 / seconds if seconds > 0 else 0.0
    timeline = stats.timeline
    every_byte_back = (stats.bytes_lost == 0 and stats.bytes_sent == stats.bytes_echoed
                       and stats.messages_sent == stats.messages_echoed)
    ok = (every_byte_back and not stats.errors and stats.links_failed == 0
          and stats.links_opened == stats.links_requested and stats.messages_sent > 0)
    idle = None
    if "ports_open" in stats.rss and "links_open" in stats.rss and stats.links_opened:
        idle = round((stats.rss["links_open"] - stats.rss["ports_open"])
                     / stats.links_opened, 2)
    return {
        "ok": ok,
        "every_byte_back": every_byte_back,
        "config": {
            "dialect": options.dialect, "proto": options.proto, "ports": options.port_count,
            "links_per_port": options.links, "size": options.size, "rate": options.rate,
            "window": options.in_flight, "duration": options.traffic_seconds,
            "messages_per_link": options.messages, "target": f"{target[0]}:{target[1]}",
            "echo": options.echo, "attached": bool(options.attach),
        },
        "ports": {"requested": stats.ports_requested, "ready": stats.ports_ready},
        "links": {"requested": stats.links_requested, "opened": stats.links_opened,
                  "failed": stats.links_failed},
        "messages": {"sent": stats.messages_sent, "echoed": stats.messages_echoed},
        "bytes": {"sent": stats.bytes_sent, "echoed": stats.bytes_echoed,
                  "received": stats.bytes_received, "lost": stats.bytes_lost},
        "seconds": round(seconds, 3),
        "throughput": {
            "sent_bytes_per_s": round(stats.bytes_sent * per_second, 1),
            "echoed_bytes_per_s": round(stats.bytes_echoed * per_second, 1),
            "messages_per_s": round(stats.messages_echoed * per_second, 1),
        },
        "latency": {
            "command": {name: latency_summary(samples)
                        for name, samples in sorted(stats.commands.items())},
            "echo": latency_summary(stats.echo),
        },
        "errors": dict(sorted(stats.errors.items())),
        "error_examples": dict(sorted(stats.error_examples.items())),
        #: CPU seconds during the traffic phase, and the cores that makes on average;
        #: "machine" is every process (and the kernel): others' load shows there
        "cpu_s": dict(stats.cpu),
        "cpu_cores": {name: round(value / seconds, 3) if seconds > 0 else None
                      for name, value in stats.cpu.items()},
        "daemon": {"pid": daemon_pid, "exit_code": daemon_exit,
                   "rss_kib": dict(stats.rss), "rss_peak_kib": stats.rss_peak or None,
                   "rss_per_idle_link_kib": idle},
        "timeline": {
            "step_s": timeline.width,
            "sent_bytes": timeline.sent,
            "echoed_bytes": timeline.echoed,
            "messages": timeline.messages,
            "echo_p50_ms": [_ms(samples, 50) for samples in timeline.echo],
            "echo_p99_ms": [_ms(samples, 99) for samples in timeline.echo],
        },
    }


def _ms(samples: Sequence[float], p: float) -> float | None:
    return round(percentile(sorted(samples), p) * 1000, 3) if samples else None


def write_json(report: dict[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


def human_size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1024
    raise AssertionError


def latency_cells(summary: dict[str, Any], digits: int) -> str:
    """p50, p90, p99 and max of a latency summary, in columns (none without samples)."""
    if not summary["count"]:
        return ""
    return " ".join(f"{summary[key]:>9.{digits}f}"
                    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))


def error_lines(errors: dict[str, int], examples: dict[str, str]) -> list[str]:
    """Errors by kind, each with its count and an example."""
    if not errors:
        return ["errors: none"]
    return ["errors:", *(f"  {kind:24} {count:>6}"
                         + (f"   e.g. {examples[kind]}" if kind in examples else "")
                         for kind, count in errors.items())]


def table(report: dict[str, Any]) -> str:
    """The report as the text the command prints."""
    config, links, messages = report["config"], report["links"], report["messages"]
    data, rate = report["bytes"], report["throughput"]
    amount = (f"{config['duration']} s" if config["duration"] is not None
              else f"{config['messages_per_link']} messages per link")
    pace = f"rate {config['rate']}/s" if config["rate"] else "max rate"
    out = [
        f"at-bridge loadtest: {config['dialect']} {config['proto']}, {config['ports']} ports x "
        f"{config['links_per_port']} links, {config['size']} B messages, window "
        f"{config['window']}, {pace}, {amount}, target {config['target']}"
        + (" (built-in echo)" if config["echo"] else ""),
        f"links        opened {links['opened']} of {links['requested']}, failed {links['failed']}",
        f"{'':12} {'messages':>10} {'bytes':>14} {'per second':>14}",
        f"{'sent':12} {messages['sent']:>10} {data['sent']:>14} "
        f"{human_size(rate['sent_bytes_per_s']) + '/s':>14}",
        f"{'echoed':12} {messages['echoed']:>10} {data['echoed']:>14} "
        f"{human_size(rate['echoed_bytes_per_s']) + '/s':>14}",
        f"{'':12} {'':>10} {'':>14} {str(rate['messages_per_s']) + ' msg/s':>14}",
        f"lost bytes   {data['lost']}   (received {data['received']} bytes in "
        f"{report['seconds']} s)",
        "",
        f"{'latency ms':18} {'count':>8} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}",
    ]
    rows = [(f"command {name}", summary)
            for name, summary in report["latency"]["command"].items()]
    rows.append(("echo", report["latency"]["echo"]))
    for name, summary in rows:
        out.append(f"{name:18} {summary['count']:>8} {latency_cells(summary, 2)}".rstrip())
    out.append("")
    out += error_lines(report["errors"], report["error_examples"])
    if report["cpu_s"]:
        out.append("CPU during traffic (cores): " + ", ".join(
            f"{name} {report['cpu_cores'][name]:.2f}" for name in report["cpu_s"]))
    daemon = report["daemon"]
    if daemon["rss_kib"]:
        phases = ", ".join(f"{phase} {kib / 1024:.1f}" for phase, kib in daemon["rss_kib"].items())
        out.append(f"daemon RSS MiB: {phases}, peak {daemon['rss_peak_kib'] / 1024:.1f}"
                   + (f"; {daemon['rss_per_idle_link_kib']} KiB per idle link"
                      if daemon["rss_per_idle_link_kib"] is not None else ""))
    if report["ok"]:
        verdict = "PASS: every byte came back"
    elif not messages["sent"]:
        verdict = "FAIL: nothing was sent"
    elif report["every_byte_back"]:
        verdict = "FAIL: every byte came back, but see above"
    else:
        verdict = "FAIL: bytes were lost or differ"
    out.append(verdict)
    return "\n".join(out)
