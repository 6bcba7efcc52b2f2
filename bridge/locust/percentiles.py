"""Response times kept exact enough for sub-millisecond AT round trips.

Locust files each response time in a bucket (whole milliseconds under
100 ms) to keep what workers send small, so a 0.4 ms echo would count as 0.
Its bucketing is a module function meant to be replaced: here it keeps the
microsecond under 10 ms and three significant figures above. Locust's own
tables and CSV still print whole milliseconds; the summary prints these.
"""

from __future__ import annotations

from typing import Any

import locust.stats


def bucket(milliseconds: float) -> float:
    if milliseconds < 10:
        return round(milliseconds, 3)
    return float(f"{milliseconds:.3g}")


def install() -> None:
    locust.stats.bucket_response_time = bucket


def latency(entry: Any) -> dict[str, Any]:
    """count, failures, p50/p90/p99 and max in milliseconds, of a StatsEntry."""
    summary: dict[str, Any] = {"type": entry.method, "name": entry.name,
                               "count": entry.num_requests, "failures": entry.num_failures}
    if entry.num_requests:
        for p in (50, 90, 99):
            summary[f"p{p}_ms"] = entry.get_response_time_percentile(p / 100)
        summary["max_ms"] = round(entry.max_response_time, 3)
    return summary
