"""What trio's Stream contract asks of every hand-made stream here in the
same words (tests/test_streams.py checks them with check_two_way_stream)."""

from __future__ import annotations


def receive_limit(max_bytes: int | None, default: int) -> int:
    """receive_some's ``max_bytes``: None means ``default``; anything but a
    positive integer is the caller's bug."""
    if max_bytes is None:
        return default
    if not isinstance(max_bytes, int):
        raise TypeError("max_bytes must be an integer >= 1")
    if max_bytes < 1:
        raise ValueError("max_bytes must be an integer >= 1")
    return max_bytes
