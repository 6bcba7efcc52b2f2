"""structlog set-up: one event per line on stderr, console or JSON.

Bytes are logged as text: printable ASCII as it is, the rest as escapes
(``\\r``, ``\\n``, ``\\t``, ``\\\\``, ``\\xNN``), never as a Python repr.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from .problems import count_problems


def _escape(code: int) -> str:
    if 0x20 <= code < 0x7F and code != 0x5C:
        return chr(code)
    return {0x5C: "\\\\", 0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code, f"\\x{code:02x}")


_ESCAPES = {code: _escape(code) for code in range(256)}


def escaped(data: bytes | bytearray | memoryview) -> str:
    """``data`` as text: printable ASCII kept, every other byte escaped."""
    return bytes(data).decode("latin-1").translate(_ESCAPES)


def traced(data: bytes | bytearray | memoryview) -> dict[str, str]:
    """The fields of a trace event: the bytes as hex, and as text beside it."""
    return {"hex": bytes(data).hex(), "text": escaped(data)}


def bytes_as_text(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: bytes values become escaped text."""
    for key, value in event.items():
        if isinstance(value, bytes | bytearray | memoryview):
            event[key] = escaped(value)
    return event


def configure(*, log_format: str = "console", level: str = "info") -> None:
    renderer: structlog.typing.Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            count_problems,
            bytes_as_text,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks if log_format == "json"
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
