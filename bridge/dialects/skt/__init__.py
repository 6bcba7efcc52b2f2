"""The SKT dialect (Realtek Ameba): its command table, replies and handlers."""

from .dialect import COMMANDS, SEND_PREFIX, SktDialect, make_framer, send_destination

__all__ = ["COMMANDS", "SEND_PREFIX", "SktDialect", "make_framer", "send_destination"]
