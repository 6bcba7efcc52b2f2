"""The end-of-run summary, on the master (or in a plain local run): what
each worker reported (bytes sent and echoed, lost bytes, its daemon's RSS
and CPU), Locust's requests with exact percentiles, and a verdict like
``at-bridge loadtest``'s: PASS only when every byte came back, nothing
failed and every worker reported."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..loadtest.report import error_lines, human_size, latency_cells
from .percentiles import latency


def build(reports: list[dict[str, Any]], stats: Any, missing: list[str]) -> dict[str, Any]:
    """``reports``: each worker's last report; ``stats``: Locust's RequestStats;
    ``missing``: the workers whose final report never came."""
    workers = sorted(reports, key=lambda report: report["worker"])
    messages = {key: sum(report["messages"][key] for report in workers)
                for key in ("sent", "echoed")}
    data = {key: sum(report["bytes"][key] for report in workers)
            for key in ("sent", "echoed", "received", "lost")}
    links = {key: sum(report["links"][key] for report in workers) for key in ("opened", "failed")}
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for report in workers:
        errors.update(report["errors"])
        for kind, example in report["error_examples"].items():
            examples.setdefault(kind, example)
    seconds = max((report["seconds"] or 0.0 for report in workers), default=0.0)
    requests = [latency(entry) for entry in sorted(
        stats.entries.values(), key=lambda entry: (entry.method != "ECHO", entry.method,
                                                   entry.name))]
    failures = stats.total.num_failures
    every_byte_back = (data["lost"] == 0 and data["sent"] == data["echoed"]
                       and messages["sent"] == messages["echoed"])
    ok = (every_byte_back and not errors and not failures and not missing
          and messages["echoed"] > 0)
    if ok:
        verdict = "PASS: every byte came back"
    elif missing:
        verdict = f"FAIL: no final report from {', '.join(missing)}"
    elif not messages["sent"]:
        verdict = "FAIL: nothing was sent"
    elif every_byte_back:
        verdict = "FAIL: every byte came back, but see above"
    else:
        verdict = "FAIL: bytes were lost or differ"
    return {
        "ok": ok, "verdict": verdict, "every_byte_back": every_byte_back,
        "workers": workers, "missing": missing, "links": links, "messages": messages,
        "bytes": data, "seconds": seconds,
        "messages_per_s": round(messages["echoed"] / seconds, 1) if seconds else 0.0,
        "requests": requests, "failures": failures,
        "errors": dict(sorted(errors.items())), "error_examples": dict(sorted(examples.items())),
    }


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _cores(seconds: float | None, span: float | None) -> str:
    return "-" if seconds is None or not span else f"{seconds / span:.2f}"


def table(summary: dict[str, Any]) -> str:
    """The summary as the text printed at the end."""
    workers = summary["workers"]
    targets = sorted({report["target"] or "?" for report in workers})
    out = [f"at-bridge locust: {len(workers)} worker(s), target {', '.join(targets) or '?'}",
           f"{'worker':36} {'links':>5} {'sent':>9} {'echoed':>9} {'bytes echoed':>13} "
           f"{'lost':>6} {'msg/s':>8} {'RSS MiB':>8} {'peak':>6} {'CPU daemon':>10} "
           f"{'worker':>6}"]
    for report in workers:
        span = report["seconds"]
        rate = report["messages"]["echoed"] / span if span else 0.0
        daemon = report["daemon"]
        out.append(f"{report['worker'][:36]:36} {report['links']['opened']:>5} "
                   f"{report['messages']['sent']:>9} {report['messages']['echoed']:>9} "
                   f"{report['bytes']['echoed']:>13} {report['bytes']['lost']:>6} "
                   f"{rate:>8.1f} {_mib(daemon['rss_kib']):>8} {_mib(daemon['rss_peak_kib']):>6} "
                   f"{_cores(report['cpu_s']['daemon'], span):>10} "
                   f"{_cores(report['cpu_s']['worker'], span):>6}")
    messages, data = summary["messages"], summary["bytes"]
    out += [f"{'total':36} {summary['links']['opened']:>5} {messages['sent']:>9} "
            f"{messages['echoed']:>9} {data['echoed']:>13} {data['lost']:>6} "
            f"{summary['messages_per_s']:>8.1f}",
            f"bytes sent {data['sent']} ({human_size(data['sent'])}), echoed {data['echoed']}, "
            f"received {data['received']}, lost {data['lost']}; CPU in cores",
            "",
            f"{'request':32} {'count':>8} {'failures':>8} {'p50 ms':>9} {'p90 ms':>9} "
            f"{'p99 ms':>9} {'max ms':>9}"]
    for request in summary["requests"]:
        name = f"{request['type']} {request['name']}"[:32]
        out.append(f"{name:32} {request['count']:>8} {request['failures']:>8} "
                   f"{latency_cells(request, 3)}".rstrip())
    out.append("")
    out += error_lines(summary["errors"], summary["error_examples"])
    out.append(summary["verdict"])
    return "\n".join(out)

