"""The ESP-AT dialect (Espressif ESP32 2.4 and ESP8266 1.7 firmware): its
command tables, replies and handlers."""

from .dialect import COMMANDS, TABLES, EspDialect, make_framer

__all__ = ["COMMANDS", "TABLES", "EspDialect", "make_framer"]
