"""The ESP-AT command tables: one per profile (2.4 and 1.7), rows of the
dialect's handlers and its components' (``on=``), and the settings it only
stores and shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from ...at.args import Param, Signature, int_in, unquote
from ...at.commands import Action, CommandTable, Row, Setting, row
from .args import (
    Send,
    Server,
    Start,
    bad,
    parse,
    parse_close,
    parse_id_and,
    parse_send,
    parse_server,
    parse_start,
    string,
    switch,
)
from .dialect import EspDialect
from .net import EspNetwork
from .server import EspServer
from .wifi import SOFTAP_ADDRESSES

# -- arguments -------------------------------------------------------------------------------


def esp(*required: Param, optional: tuple[Param, ...] = ()) -> Signature:
    """E3: any leading part of the optional parameters, each may be left empty."""
    return Signature(required, optional, count_error=0, all_or_none=False, empty_optional=True)


def number(low: int, high: int, default: Any = None) -> Param:
    return Param(int_in(low, high), default=default)


def text(default: Any = None) -> Param:
    return Param(string, default=default)


def any_text(default: Any = None) -> Param:
    """A string, quoted or not (what ESP-AT accepts for names)."""
    return Param(unquote, default=default)


def start_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Start]:
    return (parse_start(tokens, multiple=dialect.multiple),)


def start_any_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Start]:
    return (parse_start(tokens, multiple=dialect.multiple, has_id=False),)


def send_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Send]:
    return (parse_send(tokens, multiple=dialect.multiple, most=dialect.profile.max_send),)


def close_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int]:
    return (parse_close(tokens, multiple=dialect.multiple),)


def recv_data_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int, int]:
    """E25: ``[<id>,]<max>``, max up to 0x7fffffff as the firmware takes it."""
    return parse_id_and(tokens, multiple=dialect.multiple, parser=int_in(1, 0x7FFFFFFF))


def id_and_switch(tokens: Sequence[str], dialect: Any) -> tuple[int, int]:
    return parse_id_and(tokens, multiple=dialect.multiple, parser=switch)


def server_arguments(tokens: Sequence[str], dialect: Any) -> tuple[Server]:
    return (parse_server(tokens),)


def with_link_id(signature: Signature) -> Any:
    """``[<id>,]<...>``: the id leads with CIPMUX=1 (0 otherwise)."""

    def bind(tokens: Sequence[str], dialect: Any) -> tuple[Any, ...]:
        link = 0
        if dialect.multiple:
            if not tokens:
                raise bad("a link id is needed with CIPMUX=1")
            link, tokens = parse(int_in(0, 4), tokens[0]), tokens[1:]
        return (link, *signature.bind(tokens))

    return bind


def alpn_arguments(tokens: Sequence[str], dialect: Any) -> tuple[int, tuple[str, ...]]:
    """``[<id>,]<count>[,"<protocol>"...]``."""
    link = 0
    if dialect.multiple:
        if not tokens:
            raise bad("a link id is needed with CIPMUX=1")
        link, tokens = parse(int_in(0, 4), tokens[0]), tokens[1:]
    count = parse(int_in(0, 6), tokens[0]) if tokens else 0
    rest = tokens
    names = tuple(parse(string, token) for token in rest[1:])
    if len(names) != count:
        raise bad("ALPN count and names differ")
    return link, names


def uart_signature() -> Signature:
    """E29: baud 80..5000000, 5-8 data bits, stop bits 1-3, parity 0-2, flow 0-3."""
    return esp(number(80, 5_000_000), number(5, 8), number(1, 3), number(0, 2), number(0, 3))


def render_text(values: Sequence[Any]) -> str:
    """A stored string shown as the module shows it: unquoted."""
    return str(values[0])


def _network(handler: Any, arguments: Any = None, slow: bool = False) -> Action:
    return Action(handler, arguments, slow=slow, on="network")


SERVERS = (any_text(""), any_text(""), any_text(""))  # up to three, any left empty

# -- the table -------------------------------------------------------------------------------

D = EspDialect

ROWS = [
    # basics (E2, E4, E6, E7, E30, E31)
    row("", basic=True, execute=Action(D.attention)),
    row("E0", basic=True, execute=Action(D.echo_off)),
    row("E1", basic=True, execute=Action(D.echo_on)),
    row("RST", execute=Action(D.reset)),
    row("GMR", execute=Action(D.version)),
    row("RESTORE", execute=Action(D.restore)),
    row("GSLP", set=Action(D.deep_sleep, esp(number(0, 2**31 - 1)))),
    row("SYSLOG", set=Action(D.set_syslog, esp(Param(switch))), query=Action(D.query_syslog)),
    # the virtual station (E8-E14)
    row("CWMODE", set=Action(D.set_mode, esp(number(0, 3), optional=(number(0, 1),))),
        query=Action(D.query_mode)),
    row("CWJAP", set=Action(D.join, slow=True, arguments=esp(text(), text(), optional=(
        text(), number(0, 1), number(0, 7200), number(1, 100), number(0, 1),
        number(3, 600), number(0, 3)))), query=Action(D.query_join)),
    row("CWQAP", execute=Action(D.quit)),
    row("CWLAP", execute=Action(D.scan), set=Action(D.scan, esp(optional=(
        any_text(), any_text(), number(0, 14), number(0, 1), number(0, 1500),
        number(0, 1500))))),
    row("CIFSR", execute=Action(D.addresses)),
    row("CIPSTA", query=Action(D.query_station),
        set=Action(D.store_only, esp(text(), optional=(text(), text())))),
    row("CIPSTAMAC", query=Action(D.query_mac), set=Action(D.store_only, esp(text()))),
    # SoftAP (E8): stored and shown; no station ever joins the virtual SoftAP
    row("CIPAP", query=Action(D.query_softap_addresses), set=Action(D.set_softap_addresses, esp(
        text(), optional=(text(SOFTAP_ADDRESSES[1]), text(SOFTAP_ADDRESSES[2]))))),
    row("CWLIF", execute=Action(D.attention)),
    row("CWDHCP", set=Action(D.set_dhcp, esp(number(0, 1), number(0, 3))),
        query=Action(D.query_dhcp)),
    # links (E15-E20)
    row("CIPMUX", set=Action(D.set_mux, esp(Param(switch))), query=Action(D.query_mux)),
    row("CIPSTART", set=Action(D.start, start_arguments, slow=True)),
    row("CIPSTARTEX", set=Action(D.start_any, start_any_arguments, slow=True)),
    row("CIPSTATUS", execute=Action(D.status)),
    row("CIPCLOSE", execute=Action(D.close, close_arguments),
        set=Action(D.close, close_arguments)),
    row("CIPCLOSEMODE", set=Action(D.set_close_mode, id_and_switch)),
    # sending (E21-E23)
    row("CIPSEND", set=Action(D.send, send_arguments), execute=Action(D.passthrough)),
    row("CIPSENDEX", set=Action(D.send_ex, send_arguments)),
    row("CIPMODE", set=Action(D.set_transfer_mode, esp(Param(switch))),
        query=Action(D.query_transfer_mode)),
    # receiving (E24, E25)
    row("CIPDINFO", set=Action(D.set_dinfo, esp(Param(switch))), query=Action(D.query_dinfo)),
    row("CIPRECVMODE", set=Action(D.set_recv_mode, esp(Param(switch))),
        query=Action(D.query_recv_mode)),
    row("CIPRECVTYPE", set=Action(D.set_recv_type, id_and_switch),
        query=Action(D.query_recv_type)),
    row("CIPRECVDATA", set=Action(D.recv_data, recv_data_arguments)),
    row("CIPRECVLEN", query=Action(D.query_recv_lengths)),
    # the server (E27)
    row("CIPSERVER", set=Action(EspServer.set, server_arguments, on="server"),
        query=Action(EspServer.query, on="server")),
    row("CIPSERVERMAXCONN", set=Action(EspServer.set_max_conn, esp(number(1, 5)), on="server"),
        query=Action(EspServer.query_max_conn, on="server")),
    row("CIPSTO", set=Action(EspServer.set_timeout, esp(number(0, 7200)), on="server"),
        query=Action(EspServer.query_timeout, on="server")),
    # SSL (E17)
    row("CIPSSLCCONF", set=Action(D.set_ssl_config, with_link_id(esp(
        number(0, 3), optional=(number(0, 255, 0), number(0, 255, 0))))),
        query=Action(D.query_ssl_config)),
    row("CIPSSLSIZE", set=Action(D.ssl_size, esp(number(2048, 16384)))),
    row("CIPSSLCSNI", set=Action(D.set_sni, with_link_id(esp(text()))),
        query=Action(D.query_sni)),
    row("CIPSSLCALPN", set=Action(D.set_alpn, alpn_arguments), query=Action(D.query_alpn)),
    # services (E13, E28, E29)
    row("CIPDOMAIN", set=_network(EspNetwork.domain, esp(any_text(), optional=(number(1, 3),)),
                                  slow=True)),
    row("PING", set=_network(EspNetwork.ping, esp(any_text()), slow=True)),
    row("CIPDNS", set=_network(EspNetwork.set_dns, esp(Param(switch), optional=SERVERS)),
        query=_network(EspNetwork.query_dns)),
    row("CIPSNTPCFG", set=_network(EspNetwork.set_sntp, esp(Param(switch), number(-12, 14),
                                                           optional=SERVERS)),
        query=_network(EspNetwork.query_sntp)),
    row("CIPSNTPTIME", query=_network(EspNetwork.sntp_time)),
    row("SYSTIMESTAMP", query=_network(EspNetwork.timestamp)),
    row("UART_CUR", set=Action(D.set_uart_current, uart_signature()),
        query=Action(D.query_uart)),
    row("UART_DEF", set=Action(D.set_uart_default, uart_signature()),
        query=Action(D.query_uart_default)),
    row("CIPTCPOPT", set=Action(D.set_tcp_options, with_link_id(esp(
        number(-1, 3600), number(0, 1), number(0, 60000), optional=(number(0, 7200, 0),)))),
        query=Action(D.query_tcp_options)),
    row("SYSMSG", set=Action(D.set_sysmsg, esp(number(0, 7))), query=Action(D.query_sysmsg)),
    row("CWCOUNTRY", set=Action(D.set_country, esp(number(0, 1), text(), number(1, 14),
                                                   number(1, 14))),
        query=Action(D.query_country)),
]

#: 2.4 only (1.7 answers them ERROR)
ROWS_2_4 = [
    row("CWSTATE", query=Action(D.query_state)),
    row("CIPSTATE", query=Action(D.query_state_links)),
    row("SYSSTORE", set=Action(D.set_sysstore, esp(Param(switch))),
        query=Action(D.query_sysstore)),
]

#: E13, E31 and SoftAP (E8): stored, answered OK, shown in their queries
SETTINGS = [
    Setting("CWHOSTNAME", esp(any_text()), default=("espressif",), render=render_text),
    Setting("CWAUTOCONN", esp(number(0, 1)), default=(1,), persisted=True),
    Setting("CWLAPOPT", esp(number(0, 1), number(0, 2047), optional=(
        number(-100, 40, -100), number(0, 0xFFFF, 0xFFFF))), default=(0, 2047, -100, 0xFFFF)),
    Setting("SLEEP", esp(number(0, 3)), default=(1,)),
    Setting("CWSAP", esp(text(), text(), number(1, 14), number(0, 4), optional=(
        number(1, 10, 10), number(0, 1, 0))), default=("", "", 1, 0, 10, 0), persisted=True),
    Setting("CIPV6", esp(number(0, 1)), default=(0,)),
    Setting("CIPRECONNINTV", esp(number(1, 36000)), default=(1,)),
    Setting("SAVETRANSLINK", esp(number(0, 1), optional=(any_text(""), number(0, 65535, 0),
                                                         any_text("TCP"), number(0, 7200, 0))),
            default=(0, "", 0, "TCP", 0), persisted=True),
    Setting("TRANSINTVL", esp(number(0, 1000)), default=(20,)),
    Setting("MDNS", esp(number(0, 1), optional=(any_text(""), any_text(""),
                                                number(0, 65535, 0))),
            default=(0, "", "", 0)),
    Setting("CIPSSLCCN", esp(number(0, 4), text()), default=(0, "")),
]


def under_name(command: Row, suffix: str) -> Row:
    """``command`` under the name ``<NAME><suffix>``, each handler told that name."""
    name = command.name + suffix
    return Row(name, {form: replace(action, handler=partial(action.handler, called_as=name))
                      for form, action in command.forms.items()})


#: 1.7 names each of these also `<NAME>_CUR` (not saved) and `<NAME>_DEF` (saved)
#: (E8-E13, E31); AT+UART= is AT+UART_DEF= (E29)
SUFFIXED = ("CWMODE", "CWJAP", "CIPSTA", "CIPSTAMAC", "CWDHCP", "CIPDNS", "SYSMSG", "CWCOUNTRY")
ROWS_1_7 = [
    row("UART", set=Action(D.set_uart_default, uart_signature())),
    *(under_name(command, suffix) for command in ROWS if command.name in SUFFIXED
      for suffix in ("_CUR", "_DEF")),
]

TABLES = {
    "2.4": CommandTable(ROWS + ROWS_2_4, SETTINGS, escapes=True),
    "1.7": CommandTable(ROWS + ROWS_1_7, SETTINGS, escapes=True),
}
COMMANDS = TABLES["2.4"]
