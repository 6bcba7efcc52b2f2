"""A dialect's commands as data, and the one dispatcher every dialect uses.

A command is a row: its name and up to four forms (``AT+NAME`` execute,
``AT+NAME?`` query, ``AT+NAME=<args>`` set, ``AT+NAME=?`` test), each an
``Action``: the handler, how its arguments bind, and the reply when they do
not fit. A setting that is only stored and echoed is one ``Setting`` row.
Handlers return an ``Outcome``: the reply bytes, and what the framer does
next, which the port applies in the same step as it writes the reply.

Sans-IO: the dispatcher only resolves a line to the handler and its bound
values; the runtime calls the handler.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .args import ArgError, Signature, parse_command, split_args


class Form(enum.Enum):
    __hash__ = object.__hash__  # members are singletons: no Python call per lookup

    EXECUTE = ""  # AT+NAME
    QUERY = "?"  # AT+NAME?
    SET = "="  # AT+NAME=<args>
    TEST = "=?"  # AT+NAME=?


# -- outcomes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectPayload:
    """The next ``size`` UART bytes are the command's data (G3, G7); with a
    ``terminator`` the data may end before the count (ESP-AT CIPSENDEX)."""

    size: int
    terminator: bytes | None = None


@dataclass(frozen=True, slots=True)
class EnterTransparent:
    """From the reply on, UART bytes are data for ``link`` until the escape."""

    link: object


Next = ExpectPayload | EnterTransparent | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: its reply, the framer's next mode, and a state
    change (``commit``) that must take effect in the same step as the reply
    is written, so no unsolicited frame falls between them. ``after`` runs
    once the reply has been written, before anything else is (ESP-AT's
    AT+UART_CUR switches the line there).

    ``final`` is False when the command is not over with this reply (a
    prompt whose payload is still to come).
    """

    reply: bytes = b""
    then: Next = None
    commit: Callable[[], None] | None = None
    after: Callable[[], Awaitable[None]] | None = None

    @property
    def final(self) -> bool:
        return not isinstance(self.then, ExpectPayload)


NOTHING = Outcome()

Handler = Callable[..., Awaitable[Outcome]]
#: binds tokens to values with the dialect's state at hand (forms that depend on CIPMUX)
Binder = Callable[[Sequence[str], Any], Sequence[Any]]


# -- rows -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """One form of a command: ``handler(dialect, *values)``.

    ``arguments`` is a Signature, a Binder, or None for a form that takes
    none. ``error`` is the reply when the arguments do not fit, if the
    command has its own (CIP's AT+CIPSEND: ``CMDRSP:ERROR``). A form whose
    handler is None exists only to be refused with ``refusal``'s number.
    """

    handler: Handler | None
    arguments: Signature | Binder | None = None
    error: bytes | None = None
    refusal: int = 0
    #: the dialect's attribute whose method the handler is (a component such
    #: as its network services), or None for the dialect's own
    on: str | None = None
    #: the command waits on the network (a join, a connect, a lookup, a
    #: ping): lines that arrive meanwhile may be answered at once (ESP-AT E5)
    slow: bool = False

    def bind(self, tokens: Sequence[str], dialect: Any) -> Sequence[Any]:
        if self.handler is None:
            raise ArgError(self.refusal, "a form this command does not take")
        if self.arguments is None:
            if tokens:
                raise ArgError(0, "takes no arguments")
            return ()
        if isinstance(self.arguments, Signature):
            return self.arguments.bind(tokens)
        return self.arguments(tokens, dialect)


@dataclass(frozen=True)
class Row:
    """A command: ``name`` as written after ``AT+`` (or after ``AT`` for a
    basic command such as ``ATE0``: ``basic`` and name ``E0``)."""

    name: str
    forms: Mapping[Form, Action]
    basic: bool = False


def row(name: str, *, execute: Action | None = None, query: Action | None = None,
        set: Action | None = None, test: Action | None = None,  # noqa: A002
        basic: bool = False) -> Row:
    forms = {form: action for form, action in ((Form.EXECUTE, execute), (Form.QUERY, query),
                                               (Form.SET, set), (Form.TEST, test))
             if action is not None}
    return Row(name, forms, basic)


@dataclass(frozen=True)
class Setting:
    """A setting the module only stores and shows: ``AT+NAME=<values>``
    answers OK, ``AT+NAME?`` answers ``+NAME:<values>`` then OK.

    The values live in the dialect's ``settings`` mapping under ``name``;
    ``render`` turns them into the query's text (default: comma-joined).
    """

    name: str
    signature: Signature
    default: tuple[Any, ...]
    render: Callable[[Sequence[Any]], str] | None = None
    persisted: bool = False

    def text(self, values: Sequence[Any]) -> str:
        if self.render is not None:
            return self.render(values)
        return ",".join(f'"{value}"' if isinstance(value, str) else str(int(value))
                        for value in values)


# -- the dispatcher ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """A line resolved to its action and the checked values: the runtime
    calls ``action.handler(getattr(dialect, action.on) if action.on else
    dialect, *values)``; an ArgError it raises is answered as a refusal."""

    row: Row
    form: Form
    action: Action
    values: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Unknown:
    """Not a command of this dialect (or a form the command does not have)."""

    line: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """A known command whose arguments do not fit: the reply is the row's
    ``error`` if it has one, else the dialect's for ``why.code``."""

    row: Row
    form: Form
    why: ArgError
    error: bytes | None


@dataclass(frozen=True, slots=True)
class SettingCall:
    """A Setting's form, which the dialect answers from its settings."""

    setting: Setting
    form: Form
    values: Sequence[Any]


Resolved = Call | SettingCall | Unknown | Refused


@dataclass
class CommandTable:
    """Rows and settings by name; ``escapes`` and the settings' signatures
    decide how arguments split and bind (ESP-AT: E3)."""

    rows: Iterable[Row]
    settings: Iterable[Setting] = ()
    escapes: bool = False
    _rows: dict[tuple[bool, str], Row] = field(init=False, repr=False)
    _settings: dict[str, Setting] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rows = tuple(self.rows)
        self.settings = tuple(self.settings)
        self._rows = {(row.basic, row.name): row for row in self.rows}
        self._settings = {setting.name: setting for setting in self.settings}
        clash = {name for basic, name in self._rows if not basic} & set(self._settings)
        assert not clash, f"rows and settings share names: {clash}"

    def __contains__(self, name: str) -> bool:
        return (False, name) in self._rows or name in self._settings

    def setting(self, name: str) -> Setting:
        return self._settings[name]

    def resolve(self, line: bytes, dialect: Any) -> Resolved:
        """What ``line`` asks for, with its arguments bound (or why not)."""
        command = parse_command(line)
        if command is None:
            return Unknown(line)
        form = Form(command.op)
        tokens = split_args(command.args, escapes=self.escapes)
        if command.extended and (setting := self._settings.get(command.name)) is not None:
            return self._setting_call(setting, form, tokens, line)
        entry = self._rows.get((not command.extended, command.name))
        action = entry.forms.get(form) if entry is not None else None
        if entry is None or action is None:
            return Unknown(line)
        try:
            values = action.bind(tokens, dialect)
        except ArgError as exc:
            return Refused(entry, form, exc, action.error)
        return Call(entry, form, action, values)

    @staticmethod
    def _setting_call(setting: Setting, form: Form, tokens: list[str],
                      line: bytes) -> Resolved:
        if form is Form.QUERY:
            return SettingCall(setting, form, ())
        if form is not Form.SET:
            return Unknown(line)
        try:
            return SettingCall(setting, form, tuple(setting.signature.bind(tokens)))
        except ArgError as exc:
            return Refused(Row(setting.name, {}), form, exc, None)
