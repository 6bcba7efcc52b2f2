"""Warnings and errors counted by kind, for the metrics endpoint.

Kept apart from bridge/metrics.py so that logging does not load
prometheus-client: that happens only when metrics_address is set.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

#: warning and error log events, by port and event name: the "errors by kind"
PROBLEMS: Counter[tuple[str, str]] = Counter()


def count_problems(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every warning or error is also a metric."""
    if method in ("warning", "error", "exception", "critical"):
        PROBLEMS[(str(event.get("port", "")), str(event.get("event", "")))] += 1
    return event
