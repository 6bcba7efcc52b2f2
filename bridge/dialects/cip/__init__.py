"""The CIP dialect (Beken BK7231): its command table, replies and handlers."""

from .dialect import COMMANDS, CipDialect

__all__ = ["COMMANDS", "CipDialect"]
