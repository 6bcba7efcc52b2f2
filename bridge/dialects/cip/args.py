"""Argument forms of the CIP commands that carry a link id (sans-IO).

NOTES C3: with CIPMUX=1 the link id leads; with CIPMUX=0 it is omitted
(link 0) and, if given, must be 0. Every function raises ArgError for a
form that does not fit; the dialect answers it with the command's failure
word (ERROR, or CMDRSP:ERROR for AT+CIPSEND).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...at.args import ArgError, exactly, host, int_in, ip_address, port_number, unquote

TCP, UDP, TLS, DTLS = 0, 1, 2, 3
TYPE_NAMES = {"TCP": TCP, "UDP": UDP, "TLS": TLS, "SSL": TLS, "DTLS": DTLS}
ALL_LINKS = 5  # C2: AT+CIPCLOSE=5 when link 5 is not open closes every link
MAX_SEND = 2048  # C9

link_id = int_in(0, 5)
keepalive_seconds = int_in(0, 7200)
switch = int_in(0, 1)
send_length = int_in(1, MAX_SEND)


def bad(why: str) -> ArgError:
    return ArgError(0, why)  # CIP has no error numbers: the word says it


def link_type(token: str) -> int:
    """C4: a type name in any case, quoted or not, or one of the digits 0..3."""
    name = unquote(token).upper()
    if name in TYPE_NAMES:
        return TYPE_NAMES[name]
    if name in ("0", "1", "2", "3"):
        return int(name)
    raise ValueError(f"not a link type: {token!r}")


def is_link_type(token: str) -> bool:
    try:
        link_type(token)
    except ValueError:
        return False
    return True


def quoted_port(token: str) -> int:
    """The spec's syntax quotes "localport"; its examples do not: both work."""
    return port_number(unquote(token))


def bind(tokens: Sequence[str], *parsers: Callable[[str], Any]) -> list[Any]:
    """Exactly one token per parser, each parsed, or ArgError."""
    return exactly(*parsers).bind(tokens)


def split_link_id(tokens: Sequence[str], *, multiple: bool,
                  has_id: bool) -> tuple[int, list[str]]:
    """The link id (C3) and the arguments after it."""
    if not has_id:
        if multiple:
            raise bad("a link id is needed with CIPMUX=1")
        return 0, list(tokens)
    (number,) = bind(tokens[:1], link_id)
    if not multiple and number != 0:
        raise bad("only link 0 with CIPMUX=0")
    return number, list(tokens[1:])


@dataclass(frozen=True)
class Start:
    """AT+CIPSTART, parsed (C4): a client, or a TCP, TLS or DTLS server when
    ``listen``."""

    link_id: int
    kind: int
    host: str
    port: int
    keepalive: int = 0
    local_port: int = 0
    local_ip: str | None = None
    listen: bool = False


def parse_start(tokens: Sequence[str], *, multiple: bool) -> Start:
    """C4: the first argument is a link id iff the second is a type."""
    number, rest = split_link_id(tokens, multiple=multiple,
                                 has_id=len(tokens) >= 2 and is_link_type(tokens[1]))
    if len(rest) < 3:
        raise bad("type, host and port are needed")
    kind, remote_host, remote_port = bind(rest[:3], link_type, host, port_number)
    extra = rest[3:]
    if kind in (TCP, TLS) or (kind == DTLS and len(extra) == 3):  # DTLS servers: as TCP's
        if len(extra) not in (0, 1, 3):
            raise bad("TCP takes keepalive, or keepalive, localport and localip")
        (keepalive,) = bind(extra[:1], keepalive_seconds) if extra else (0,)
        if len(extra) == 3:
            local_port, local_ip = bind(extra[1:], quoted_port, ip_address)
            return Start(number, kind, remote_host, remote_port, keepalive, local_port,
                         local_ip, listen=True)
        return Start(number, kind, remote_host, remote_port, keepalive)
    if len(extra) > 2:
        raise bad("UDP takes localport and localip")
    local = bind(extra, *(quoted_port, ip_address)[:len(extra)])
    return Start(number, kind, remote_host, remote_port, 0, *local)


@dataclass(frozen=True)
class Send:
    """AT+CIPSEND=[<id>,]<len>[,<host>,<port>], parsed (C9)."""

    link_id: int
    length: int
    dest: tuple[str, int] | None = None


def parse_send(tokens: Sequence[str], *, multiple: bool) -> Send:
    """With CIPMUX=0 an id is present only in the 2- and 4-argument forms."""
    has_id = multiple or len(tokens) in (2, 4)
    number, rest = split_link_id(tokens, multiple=multiple, has_id=has_id)
    if len(rest) == 1:
        (length,) = bind(rest, send_length)
        return Send(number, length)
    length, dest_host, dest_port = bind(rest, send_length, host, port_number)
    return Send(number, length, (dest_host, dest_port))


def parse_close(tokens: Sequence[str], *, multiple: bool) -> int:
    """C2: AT+CIPCLOSE=<id>, or bare AT+CIPCLOSE for link 0 with CIPMUX=0."""
    if not tokens:
        if multiple:
            raise bad("a link id is needed with CIPMUX=1")
        return 0
    (number,) = bind(tokens, link_id)
    if not multiple and number not in (0, ALL_LINKS):
        raise bad("only link 0 with CIPMUX=0")
    return number


MAX_SERVERS = 3  # C12, C14
MAX_NAME = 253


def ipv4(token: str) -> str:
    return str(ipaddress.IPv4Address(unquote(token)))


def name(token: str) -> str:
    """A host name or address, quoted in the CIP commands' examples."""
    value = unquote(token)
    if not value or len(value) > MAX_NAME:
        raise ValueError(f"not a name: {token!r}")
    return host(value)


def parse_dns(tokens: Sequence[str]) -> tuple[bool, tuple[str, ...]]:
    """C12: AT+CIPDNS=<enable>[,<ip>[,<ip>[,<ip>]]]: distinct IPv4 servers,
    only with enable 1."""
    if not 1 <= len(tokens) <= 1 + MAX_SERVERS:
        raise bad(f"{len(tokens)} arguments")
    (enable,) = bind(tokens[:1], switch)
    servers = tuple(bind(tokens[1:], *[ipv4] * (len(tokens) - 1)))
    if servers and not enable:
        raise bad("servers are for CIPDNS=1")
    if len(set(servers)) != len(servers):
        raise bad("the same server twice")
    return bool(enable), servers


timezone_hours = int_in(-12, 12)


def parse_sntp_config(tokens: Sequence[str]) -> tuple[bool, int, tuple[str, ...]]:
    """C14: AT+CIPSNTPCFG=<enable>,<timezone>[,<server>...] (up to three;
    with enable 1 at least one)."""
    if not 2 <= len(tokens) <= 2 + MAX_SERVERS:
        raise bad(f"{len(tokens)} arguments")
    enable, timezone = bind(tokens[:2], switch, timezone_hours)
    servers = tuple(bind(tokens[2:], *[name] * (len(tokens) - 2)))
    if enable and not servers:
        raise bad("CIPSNTPCFG=1 needs a server")
    return bool(enable), timezone, servers


def parse_name(tokens: Sequence[str]) -> str:
    """AT+CIPDOMAIN="<name>", AT+PING="<host>"."""
    (value,) = bind(tokens, name)
    return value
