"""The CIP dialect (Beken BK7231): its command table, replies and handlers."""

from .dialect import COMMANDS, CipDialect, make_framer

__all__ = ["COMMANDS", "CipDialect", "make_framer"]
