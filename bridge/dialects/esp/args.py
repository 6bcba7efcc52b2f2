"""Argument forms of the ESP-AT commands that carry a link id (sans-IO).

With AT+CIPMUX=1 the link id leads; with CIPMUX=0 it is absent, and a form
with one is ERROR (E19, E21). Optional parameters may be left empty
between commas (E3). Every function raises ArgError for a form that does
not fit: the dialect answers ERROR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ...at.args import ArgError, host, int_in, ip_address, port_number, unquote

LINK_IDS = range(5)  # E15: ids 0-4 with CIPMUX=1
ALL_LINKS = 5  # E19
KINDS = ("TCP", "UDP", "SSL")
UDP_LISTENER = "0.0.0.0"  # E16: a UDP link whose first sender becomes its peer

T = TypeVar("T")
D = TypeVar("D")

link_id = int_in(0, 4)
switch = int_in(0, 1)
keepalive_seconds = int_in(0, 7200)
udp_mode = int_in(0, 2)


def bad(why: str) -> ArgError:
    return ArgError(0, why)


def parse(parser: Callable[[str], T], token: str) -> T:
    try:
        return parser(token)
    except ValueError as exc:
        raise bad(str(exc)) from None


def optional(tokens: Sequence[str], index: int, parser: Callable[[str], T],
             default: D) -> T | D:
    """The parameter at ``index``: its default when absent or empty (E3)."""
    if index >= len(tokens) or tokens[index] == "":
        return default
    return parse(parser, tokens[index])


def with_id(tokens: Sequence[str], *, multiple: bool) -> tuple[int, Sequence[str]]:
    """The link id and the rest: the id leads exactly when CIPMUX=1."""
    if not multiple:
        return 0, tokens
    if not tokens:
        raise bad("a link id is needed with CIPMUX=1")
    return parse(link_id, tokens[0]), tokens[1:]


def kind(token: str) -> str:
    name = unquote(token).upper()
    if name not in KINDS:
        raise ValueError(f"not a link type: {token!r}")
    return name


def string(token: str) -> str:
    """A quoted string (escapes already undone by the tokenizer, E3)."""
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError(f"not a quoted string: {token!r}")
    return token[1:-1]


@dataclass(frozen=True)
class Start:
    """AT+CIPSTART / AT+CIPSTARTEX, parsed (E16)."""

    link_id: int
    kind: str
    host: str
    port: int
    keepalive: int = 0
    local_port: int = 0
    udp_mode: int = 0
    local_ip: str | None = None


def parse_start(tokens: Sequence[str], *, multiple: bool, has_id: bool = True) -> Start:
    """``[<id>,]"TCP"|"SSL","<host>",<port>[,<keepalive>][,"<local ip>"]`` or
    ``[<id>,]"UDP","<host>",<port>[,<local port>[,<mode>[,"<local ip>"]]]``.
    CIPSTARTEX has no id (``has_id`` False): it is chosen."""
    number, rest = with_id(tokens, multiple=multiple and has_id)
    if len(rest) < 3:
        raise bad("type, host and port are needed")
    link_kind = parse(kind, rest[0])
    remote_host = parse(host, rest[1])
    listener = link_kind == "UDP" and remote_host == UDP_LISTENER
    # E16: hosts open a UDP listener as `"0.0.0.0",0,<local port>`
    remote_port = parse(int_in(0, 65535) if listener else port_number, rest[2])
    extra = rest[3:]
    if link_kind == "UDP":
        if len(extra) > 3:
            raise bad("UDP takes local port, mode and local ip")
        local_port = optional(extra, 0, int_in(0, 65535), 0)
        mode = optional(extra, 1, udp_mode, 0)
        local_ip = optional(extra, 2, ip_address, None)
        return Start(number, link_kind, remote_host, remote_port, 0, local_port, mode, local_ip)
    if len(extra) > 2:
        raise bad("TCP and SSL take keepalive and local ip")
    keepalive = optional(extra, 0, keepalive_seconds, 0)
    local_ip = optional(extra, 1, ip_address, None)
    return Start(number, link_kind, remote_host, remote_port, keepalive, local_ip=local_ip)


@dataclass(frozen=True)
class Send:
    """AT+CIPSEND / AT+CIPSENDEX, parsed (E21, E22)."""

    link_id: int
    length: int
    dest: tuple[str, int] | None = None


def parse_send(tokens: Sequence[str], *, multiple: bool, most: int) -> Send:
    """The forms differ by their count: plain 1 or 3, MUX 2 or 4 (E21)."""
    if len(tokens) not in ((2, 4) if multiple else (1, 3)):
        raise bad(f"{len(tokens)} arguments with CIPMUX={int(multiple)}")
    number, rest = with_id(tokens, multiple=multiple)
    length = parse(int_in(1, most), rest[0])
    if len(rest) == 1:
        return Send(number, length)
    return Send(number, length, (parse(host, rest[1]), parse(port_number, rest[2])))


def parse_close(tokens: Sequence[str], *, multiple: bool) -> int:
    """E19: ``AT+CIPCLOSE`` with CIPMUX=0, ``AT+CIPCLOSE=<id>`` (5: all) with 1."""
    if not multiple:
        if tokens:
            raise bad("no id with CIPMUX=0")
        return 0
    if len(tokens) != 1:
        raise bad("one id with CIPMUX=1")
    return parse(int_in(0, ALL_LINKS), tokens[0])


def parse_id_and(tokens: Sequence[str], *, multiple: bool,
                 parser: Callable[[str], int]) -> tuple[int, int]:
    """``[<id>,]<value>``: CIPRECVDATA, CIPRECVTYPE, CIPCLOSEMODE."""
    number, rest = with_id(tokens, multiple=multiple)
    if len(rest) != 1:
        raise bad("one value after the id")
    return number, parse(parser, rest[0])


@dataclass(frozen=True)
class Server:
    """AT+CIPSERVER=1[,<port>][,"SSL"|"TCP"[,<ca enable>]] / =0[,<close all>] (E27)."""

    enable: bool
    port: int = 333
    ssl: bool = False
    ca: int = 0
    close_all: bool = False


def parse_server(tokens: Sequence[str]) -> Server:
    if not tokens:
        raise bad("AT+CIPSERVER needs its mode")
    enable = parse(switch, tokens[0])
    if not enable:
        if len(tokens) > 2:
            raise bad("CIPSERVER=0 takes one more argument at most")
        return Server(False, close_all=bool(optional(tokens, 1, switch, 0)))
    if len(tokens) > 4:
        raise bad("too many arguments")
    port = optional(tokens, 1, port_number, 333)
    kind_name = optional(tokens, 2, kind, "TCP")
    if kind_name == "UDP":
        raise bad("a server is TCP or SSL")
    ca = optional(tokens, 3, switch, 0)
    return Server(True, port, kind_name == "SSL", ca)


def saves(called_as: str) -> bool:
    """1.7: a `_CUR` name changes only what is current; `_DEF` and the plain
    name save it too (as AT+SYSSTORE=1 does, E30)."""
    return not called_as.endswith("_CUR")
