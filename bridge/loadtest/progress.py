"""A tqdm progress bar on stderr: elapsed traffic time (or messages echoed),
with the current rates, errors and the daemon's RSS. Without tqdm (it comes
with the ``loadtest`` extra) one line says so and the run goes on without it."""

from __future__ import annotations

import sys
from typing import Any

from . import INSTALL_EXTRA
from .stats import Stats

MISSING = f"no progress bar: tqdm is not installed ({INSTALL_EXTRA})"


class Progress:
    def __init__(self, stats: Stats, *, seconds: float | None, messages: int | None,
                 enabled: bool) -> None:
        self.stats = stats
        self.seconds = seconds
        self.bar: Any = None
        self._last = (0.0, 0, 0)  # (time, bytes echoed, messages echoed)
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            print(f"at-bridge loadtest: {MISSING}", file=sys.stderr)
            return

        if seconds is not None:
            self.bar = tqdm(total=round(seconds, 1), unit="s", file=sys.stderr,
                            bar_format="{l_bar}{bar}| {n:.1f}/{total} s{postfix}",
                            dynamic_ncols=True, leave=False)
        else:
            self.bar = tqdm(total=messages, unit="msg", file=sys.stderr, dynamic_ncols=True,
                            leave=False)

    def update(self, now: float) -> None:
        if self.bar is None:
            return
        stats = self.stats
        last_time, last_bytes, last_messages = self._last
        span = now - last_time if last_time else 0.0
        self._last = (now, stats.bytes_echoed, stats.messages_echoed)
        if span <= 0:
            return
        postfix = (f"{(stats.messages_echoed - last_messages) / span:,.0f} msg/s "
                   f"{(stats.bytes_echoed - last_bytes) / span / 1048576:.2f} MiB/s "
                   f"errors {sum(stats.errors.values())}")
        if stats.rss_peak:
            postfix += f" rss {stats.rss_peak / 1024:.0f} MiB"
        self.bar.set_postfix_str(postfix, refresh=False)
        if self.seconds is not None:
            self.bar.n = min(round(now - stats.started, 1), self.bar.total)
        else:
            self.bar.n = stats.messages_echoed
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
