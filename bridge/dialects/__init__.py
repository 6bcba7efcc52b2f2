"""The dialects at-bridge speaks, by the name a port's config gives.

Config and command-line choices come from ``NAMES``; a dialect's module is
imported only when a port uses it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: name -> "module:class"
REGISTRY = {
    "skt": "bridge.dialects.skt:SktDialect",
    "cip": "bridge.dialects.cip:CipDialect",
    "esp-at": "bridge.dialects.esp:open_dialect",
}
NAMES = tuple(REGISTRY)
DEFAULT = "skt"


def load(name: str) -> Any:
    """The dialect class registered as ``name`` (a ``DialectFactory``)."""
    module, _, attribute = REGISTRY[name].partition(":")
    return getattr(import_module(module), attribute)
