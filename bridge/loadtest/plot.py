"""Latency and throughput over time as a PNG (matplotlib, from the ``loadtest`` extra)."""

from __future__ import annotations

import importlib.util
from typing import Any

from . import INSTALL_EXTRA

MISSING = f"--plot needs matplotlib, which is not installed: {INSTALL_EXTRA}"


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_plot(report: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    timeline = report["timeline"]
    step = timeline["step_s"]
    # one row per step; the last may be cut short by the end of the traffic (and drain)
    rows = [(index * step, min(step, report["seconds"] - index * step), *values)
            for index, values in enumerate(zip(
                timeline["sent_bytes"], timeline["echoed_bytes"], timeline["messages"],
                timeline["echo_p50_ms"], timeline["echo_p99_ms"], strict=True))
            if report["seconds"] - index * step > step / 10]
    times = [row[0] for row in rows]
    figure, (rates, latency) = pyplot.subplots(2, 1, sharex=True, figsize=(10, 7))
    config = report["config"]
    figure.suptitle(f"at-bridge loadtest: {config['dialect']} {config['proto']}, "
                    f"{config['ports']} ports x {config['links_per_port']} links, "
                    f"{config['size']} B messages")
    rates.plot(times, [row[2] / row[1] / 1048576 for row in rows], label="sent")
    rates.plot(times, [row[3] / row[1] / 1048576 for row in rows], label="echoed")
    rates.set_ylabel("MiB/s")
    rates.legend(loc="upper right")
    rates.grid(True, alpha=0.3)
    messages = rates.twinx()
    messages.plot(times, [row[4] / row[1] for row in rows], color="grey", linestyle=":",
                  label="messages/s")
    messages.set_ylabel("messages/s (dotted)")
    for column, label in ((5, "echo p50"), (6, "echo p99")):
        points = [(row[0], row[column]) for row in rows if row[column] is not None]
        latency.plot([t for t, _ in points], [v for _, v in points], label=label)
    latency.set_ylabel("echo latency (ms)")
    latency.set_xlabel("seconds")
    latency.legend(loc="upper right")
    latency.grid(True, alpha=0.3)
    for axes in (rates, messages, latency):
        axes.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
