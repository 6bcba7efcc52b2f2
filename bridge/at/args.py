"""Command-line and argument parsing shared by the dialects (sans-IO).

A dialect describes a command's arguments as a ``Signature`` of ``Param``s,
each with the dialect's error number for a value that does not fit, so a
handler receives values already checked against the spec's ranges.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class ArgError(ValueError):
    """An argument does not fit; ``code`` is the dialect's error number."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


@dataclass(frozen=True, slots=True)
class Command:
    """``AT+NAME=args`` (op "="), ``AT+NAME?`` ("?"), ``AT+NAME=?`` ("=?"),
    ``AT+NAME`` (""); basic commands such as ``ATE0`` have ``extended`` False."""

    name: str
    op: str
    args: str
    extended: bool


_COMMAND = re.compile(r"AT(\+?)([A-Z0-9_]*)(=\?|=|\?|)(.*)", re.DOTALL)


def parse_command(line: bytes) -> Command | None:
    """Split a command line; None if it is not an AT command at all.

    Names are case-sensitive and ``AT+ NAME`` is not accepted (NOTES G1).
    """
    text = line.decode("latin-1")
    match = _COMMAND.fullmatch(text)
    if match is None:
        return None
    plus, name, op, args = match.groups()
    if op in ("?", "=?", "") and args.strip():
        return None
    return Command(name=name, op=op, args=args, extended=bool(plus))


ESCAPABLE = frozenset(',"\\')  # ESP-AT: what a backslash escapes in a quoted string


def split_args(text: str, *, escapes: bool = False) -> list[str]:
    """Split on commas outside double quotes; spaces around items are dropped.

    An empty text has no arguments; ``a,`` has two, the second empty. With
    ``escapes`` (ESP-AT), ``\\,`` ``\\"`` and ``\\\\`` inside quotes stand for the
    character after the backslash: the token keeps its quotes and holds the
    unescaped text, so ``unquote`` gives the string the host meant.
    """
    if not text.strip():
        return []
    items: list[str] = []
    current: list[str] = []
    quoted = False
    chars = iter(text)
    for char in chars:
        if char == "\\" and quoted and escapes:
            following = next(chars, "")
            current.append(following if following in ESCAPABLE else char + following)
            continue
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items


class NotANumber(ValueError):
    """The token is not a decimal integer at all (not merely out of range)."""


_INT = re.compile(r"[+-]?[0-9]{1,10}")


def integer(token: str) -> int:
    if not _INT.fullmatch(token):
        raise NotANumber(f"not an integer: {token!r}")
    return int(token)


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A parser for a decimal integer in [low, high]."""

    def parse(token: str) -> int:
        value = integer(token)
        if not low <= value <= high:
            raise ValueError(f"{value} not in [{low}, {high}]")
        return value

    return parse


port_number = int_in(1, 65535)

_HOST = re.compile(r"[A-Za-z0-9_.:-]{1,253}")


def host(token: str) -> str:
    """An IPv4/IPv6 address or a DNS name; it is resolved later."""
    token = unquote(token)
    if not _HOST.fullmatch(token) or token.startswith(("-", ".")):
        raise ValueError(f"not a host: {token!r}")
    return token


def ip_address(token: str) -> str:
    """A literal IPv4 or IPv6 address, normalised."""
    return str(ipaddress.ip_address(unquote(token)))


def unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1]
    return token


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True, slots=True)
class Param:
    """One argument: how to parse it and the error number when it does not fit.

    A token that is not a number at all where one is due gets the signature's
    ``count_error`` (the specs' "error parameter"), not ``error``. An
    optional parameter with a ``default`` takes it when it is omitted (or,
    where the signature allows it, left empty).
    """

    parse: Callable[[str], Any]
    error: int = 0
    default: Any = NO_DEFAULT


@dataclass(frozen=True, slots=True)
class Signature:
    """The arguments a command takes; ``optional`` ones come after the required.

    ``all_or_none``: the optional parameters come all or none, as in the SKT
    spec's bracket forms; otherwise any leading part of them may be given
    (ESP-AT). ``empty_optional``: an optional parameter may be left empty
    between commas and takes its default (ESP-AT, ``AT+CWJAP="a","b",,1``).
    """

    required: tuple[Param, ...] = ()
    optional: tuple[Param, ...] = ()
    count_error: int = 1
    all_or_none: bool = True
    empty_optional: bool = False

    def bind(self, tokens: Sequence[str]) -> list[Any]:
        """Parse tokens into values, or raise ArgError with the spec's number."""
        fewest, most = len(self.required), len(self.required) + len(self.optional)
        if not (len(tokens) in (fewest, most) if self.all_or_none
                else fewest <= len(tokens) <= most):
            raise ArgError(self.count_error, f"{len(tokens)} arguments")
        values = []
        for index, param in enumerate(self.required + self.optional):
            if index >= len(tokens) or (not tokens[index] and index >= fewest
                                        and self.empty_optional):
                if param.default is NO_DEFAULT:
                    if index >= len(tokens):
                        break
                    raise ArgError(param.error, f"argument {index + 1} is empty")
                values.append(param.default)
                continue
            try:
                values.append(param.parse(tokens[index]))
            except NotANumber as exc:
                raise ArgError(self.count_error, str(exc)) from None
            except ValueError as exc:
                raise ArgError(param.error, str(exc)) from None
        return values


@functools.cache
def exactly(*parsers: Callable[[str], Any]) -> Signature:
    """One token per parser, no error numbers (the dialect's word says it)."""
    return Signature(tuple(Param(parse) for parse in parsers), count_error=0)
