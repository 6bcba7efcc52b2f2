"""What every dialect does with the framer's events: one dispatcher over
its command table, settings rows, transparent data and escapes.

A dialect subclasses ``DialectBase``, sets its table, framer, links and
transparent mode, and writes the handlers its rows name. Every reaction is
an ``Outcome`` that the port applies.
"""

from __future__ import annotations

from typing import Any

from ..at.args import ArgError
from ..at.commands import (
    NOTHING,
    Call,
    CommandTable,
    Form,
    Outcome,
    Refused,
    Resolved,
    Setting,
    SettingCall,
    Unknown,
)
from ..at.events import (
    CommandHead,
    CommandLine,
    EscapeSeen,
    Event,
    LineTooLong,
    Payload,
    TransparentData,
)
from ..at.framer import Framer
from .api import PortServices
from .links import Links, TransparentLinkLost
from .transparent import Transparent


class DialectBase:
    commands: CommandTable
    framer: Framer
    links: Links
    transparent: Transparent
    holds_reply_span = False
    reply_gap = 0.0

    def __init__(self, port: PortServices) -> None:
        self.port = port
        #: the values of the table's Setting rows
        self.settings: dict[str, tuple[Any, ...]] = {}

    # -- what a dialect defines ----------------------------------------------

    async def on_open(self) -> None:
        """Called once the port's device is open."""

    def echo(self, line: bytes) -> bytes:
        return b""

    def busy_reply(self, line: bytes) -> bytes | None:
        return None  # NOTES G4: queued, run after

    def is_slow(self, line: bytes) -> bool:
        resolved = self._resolve(line)
        return isinstance(resolved, Call) and resolved.action.slow

    def unknown(self, line: bytes) -> Outcome:
        raise NotImplementedError

    def refused(self, refusal: Refused) -> Outcome:
        """The reply to arguments that do not fit (the row's own, if it has one)."""
        raise NotImplementedError

    def setting_reply(self, setting: Setting, form: Form) -> bytes:
        raise NotImplementedError

    async def on_command_head(self, line: bytes) -> Outcome:
        raise AssertionError(f"{type(self).__name__} has no colon-framed commands")

    async def on_payload(self, data: bytes) -> Outcome:
        raise NotImplementedError

    def on_line_too_long(self) -> Outcome:
        raise NotImplementedError

    def on_escape(self) -> Outcome:
        raise NotImplementedError

    async def setting_changed(self, setting: Setting) -> None:
        """A Setting row was set (a dialect may persist it)."""

    # -- events from the framer ------------------------------------------------

    async def handle(self, event: Event) -> Outcome:
        match event:
            case CommandLine(line):
                return await self.dispatch(line)
            case Payload(data):
                return await self.on_payload(data)
            case TransparentData(data):
                return await self.transparent.data(data)
            case EscapeSeen():
                return self.on_escape()
            case CommandHead(line):
                return await self.on_command_head(line)
            case LineTooLong():
                self.port.complain("line_too_long", limit=self.framer.line_limit)
                return self.on_line_too_long()
        raise AssertionError(f"unexpected event {event!r}")

    async def handle_notice(self, notice: object) -> Outcome:
        if isinstance(notice, TransparentLinkLost):
            return self.transparent.lost(notice.link)
        return NOTHING

    _resolved: tuple[bytes, Resolved] | None = None

    def _resolve(self, line: bytes) -> Resolved:
        """The line's resolution, kept for the dispatch that follows is_slow."""
        if self._resolved is None or self._resolved[0] is not line:
            self._resolved = (line, self.commands.resolve(line, self))
        return self._resolved[1]

    async def dispatch(self, line: bytes) -> Outcome:
        resolved = self._resolve(line)
        self._resolved = None
        match resolved:
            case Call(row=row, form=form, action=action, values=values):
                assert action.handler is not None
                try:
                    return await action.handler(getattr(self, action.on) if action.on else self,
                                                *values)
                except ArgError as exc:  # a check that needs the dialect's state
                    self.port.complain("bad_arguments", command=row.name, why=str(exc))
                    return self.refused(Refused(row, form, exc, action.error))
            case SettingCall(setting=setting, form=Form.SET, values=values):
                self.settings[setting.name] = tuple(values)
                await self.setting_changed(setting)
                return Outcome(self.setting_reply(setting, Form.SET))
            case SettingCall(setting=setting, form=form):
                return Outcome(self.setting_reply(setting, form))
            case Refused(row=row, why=why):
                self.port.complain("bad_arguments", command=row.name, why=str(why))
                return self.refused(resolved)
            case Unknown():
                self.port.complain("unknown_command", line=line[:80])
                return self.unknown(line)
        raise AssertionError(f"unexpected resolution {resolved!r}")

    def setting(self, name: str) -> tuple[Any, ...]:
        """A Setting row's values (its default until set)."""
        values = self.settings.get(name)
        return values if values is not None else self.commands.setting(name).default

    def close_all(self) -> None:
        self.links.close_all()
