"""The ESP-AT dialect (Espressif ESP32 2.4 and ESP8266 1.7 firmware): its
command tables, replies and handlers."""

from __future__ import annotations

from ..api import PortServices
from .dialect import EspDialect, make_framer
from .table import COMMANDS, TABLES

__all__ = ["COMMANDS", "TABLES", "EspDialect", "make_framer", "open_dialect"]


def open_dialect(port: PortServices) -> EspDialect:
    """The registry's factory: the dialect with its profiles' tables."""
    return EspDialect(port, TABLES)
