"""Command-line and argument parsing (bridge/at/args.py).

NOTES items: G1 (case-sensitive names, spaces after commas and around
quoted strings, `AT+ SKTSEND` is not a command), G7 (wrong arguments are
answered at once, with the spec's error number), S2 (con_id ranges).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.at.args import (
    ArgError,
    Command,
    NotANumber,
    Param,
    Signature,
    host,
    int_in,
    integer,
    ip_address,
    parse_command,
    port_number,
    split_args,
    unquote,
)

FAST = settings(max_examples=300, deadline=None)


# -- parse_command -----------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"AT+SKTSEND=5,1", Command("SKTSEND", "=", "5,1", True)),
        (b"AT+SKTCLIENT=0, 127.0.0.1, 80", Command("SKTCLIENT", "=", "0, 127.0.0.1, 80", True)),
        (b"AT+SKTSEND=", Command("SKTSEND", "=", "", True)),
        (b"AT+SKTSTATE?", Command("SKTSTATE", "?", "", True)),
        (b"AT+CIPMUX=?", Command("CIPMUX", "=?", "", True)),
        (b"AT+SKTSTATE", Command("SKTSTATE", "", "", True)),
        (b"AT+RST", Command("RST", "", "", True)),
        (b"AT+CIP_X1=1", Command("CIP_X1", "=", "1", True)),
        (b"ATE0", Command("E0", "", "", False)),
        (b"ATE1", Command("E1", "", "", False)),
        (b"AT", Command("", "", "", False)),
        (b'AT+CIPDOMAIN="a,b"', Command("CIPDOMAIN", "=", '"a,b"', True)),
    ],
)
def test_parse_command_forms(line, expected):
    """AT+NAME=args, AT+NAME?, AT+NAME=?, AT+NAME and basic ATE0."""
    assert parse_command(line) == expected


def test_parse_command_args_keep_raw_bytes():
    """Arguments are decoded byte for byte (latin-1): nothing is lost (NOTES G3 spirit)."""
    command = parse_command(b"AT+X=\x00\xff\x80")
    assert command == Command("X", "=", "\x00\xff\x80", True)
    assert command.args.encode("latin-1") == b"\x00\xff\x80"


@pytest.mark.parametrize(
    "line",
    [
        b"at+sktstate",      # NOTES G1: case-sensitive
        b"At+SKTSTATE",
        b"aT+SKTSTATE",
        b"AT+sktstate",
        b"AT+SktState?",
        b"AT+ SKTSEND=5,1",  # NOTES G1: a typo in the spec, not a form to accept
        b"AT+ SKTSTATE",
        b"AT +SKTSTATE",
        b" AT+SKTSTATE",
        b"XAT+SKTSTATE",
        b"",
        b"A",
        b"AT+SKT-SEND=1",
        b"AT+SKTSTATE?x",    # junk after a query
        b"AT+SKTSTATE=?1",   # junk after a test form
        b"AT+SKTSTATEx",     # lower-case tail is not part of a name
    ],
)
def test_parse_command_rejects(line):
    """Not AT commands at all: parse_command returns None (the dialect stays
    silent per S13 or answers ERROR per C1)."""
    assert parse_command(line) is None


# -- split_args (NOTES G1) -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", []),
        ("   ", []),
        ("1", ["1"]),
        ("0,127.0.0.1,80", ["0", "127.0.0.1", "80"]),
        ("0, 127.0.0.1, 80", ["0", "127.0.0.1", "80"]),     # spaces after commas
        (" 0 ,  1 ", ["0", "1"]),
        ('"TCP","a.b",80', ['"TCP"', '"a.b"', "80"]),        # quotes are kept
        ('1, "TCP" , "a.b" ,80', ["1", '"TCP"', '"a.b"', "80"]),  # spaces around quoted
        ('"a,b",2', ['"a,b"', "2"]),                          # comma inside quotes
        ('"a, b" , "c"', ['"a, b"', '"c"']),                 # inner spaces kept
        ("a,", ["a", ""]),
        (",a", ["", "a"]),
        (",", ["", ""]),
        ("a,,b", ["a", "", "b"]),
        ('"unterminated,still one', ['"unterminated,still one']),
        ('"x"y",z', ['"x"y",z']),  # the third quote reopens: one token
    ],
)
def test_split_args(text, expected):
    assert split_args(text) == expected


@FAST
@given(st.text())
def test_property_split_args_never_raises(text):
    """split_args returns stripped strings on any text, never an exception."""
    items = split_args(text)
    assert isinstance(items, list)
    assert all(isinstance(item, str) and item == item.strip() for item in items)


@FAST
@given(st.text(alphabet=st.characters(blacklist_characters='"')))
def test_property_split_args_without_quotes_is_split_and_strip(text):
    """Without quotes, split_args is comma split with each item stripped."""
    expected = [item.strip() for item in text.split(",")] if text.strip() else []
    assert split_args(text) == expected


@FAST
@given(st.lists(st.text(alphabet="abc ,0123.", max_size=8), min_size=1, max_size=5))
def test_property_split_args_quoted_items_survive(items):
    """Quoted items (commas and spaces inside) come back whole, quotes kept."""
    quoted = [f'"{item}"' for item in items]
    assert split_args(" , ".join(quoted)) == quoted


# -- integers (NOTES G7, S2) -----------------------------------------------------------


@pytest.mark.parametrize("token, value", [("0", 0), ("9", 9), ("+5", 5), ("-3", -3),
                                          ("007", 7), ("2147483647", 2147483647)])
def test_integer_accepts_decimal(token, value):
    assert integer(token) == value
    assert type(integer(token)) is int


@pytest.mark.parametrize("token", ["", " ", "a", "1a", "0x10", "1.0", "1e3", " 1", "1 ",
                                   "+", "-", "--1", "\u0661", "１", "1_000", '"1"'])
def test_integer_rejects_non_numbers(token):
    """Not a decimal integer at all: NotANumber (a ValueError)."""
    with pytest.raises(NotANumber):
        integer(token)


def test_int_in_bounds_inclusive():
    """int_in(lo, hi) accepts lo..hi inclusive, e.g. con_id 1..9 (NOTES S2)."""
    con_id = int_in(1, 9)
    assert [con_id(str(v)) for v in range(1, 10)] == list(range(1, 10))
    for token in ("0", "10", "-1", "100"):
        with pytest.raises(ValueError) as info:
            con_id(token)
        assert not isinstance(info.value, NotANumber)
    with pytest.raises(NotANumber):
        con_id("x")


def test_int_in_single_value():
    """AT+SKTTT=1: int_in(1, 1) accepts only 1."""
    only_one = int_in(1, 1)
    assert only_one("1") == 1
    for token in ("0", "2"):
        with pytest.raises(ValueError):
            only_one(token)


def test_port_number_range():
    assert port_number("1") == 1
    assert port_number("65535") == 65535
    for token in ("0", "65536", "-80"):
        with pytest.raises(ValueError):
            port_number(token)


def _decimal(value: int, zeros: int, plus: bool) -> str:
    """``value`` in decimal, with leading zeros and an optional ``+`` (<= 10 digits)."""
    sign = "-" if value < 0 else ("+" if plus else "")
    return sign + "0" * zeros + str(abs(value))


@FAST
@given(lo=st.integers(-10**6, 10**6), span=st.integers(0, 10**6),
       value=st.integers(-2 * 10**6, 3 * 10**6), zeros=st.integers(0, 3), plus=st.booleans())
def test_property_int_in_accepts_exactly_the_range(lo, span, value, zeros, plus):
    """int_in(lo, hi) accepts a decimal integer iff it lies in [lo, hi]; out
    of range it raises ValueError but not NotANumber (the per-param error)."""
    hi = lo + span
    token = _decimal(value, zeros, plus)
    parse = int_in(lo, hi)
    if lo <= value <= hi:
        assert parse(token) == value
    else:
        with pytest.raises(ValueError) as info:
            parse(token)
        assert not isinstance(info.value, NotANumber)


@FAST
@given(token=st.text(max_size=12), lo=st.integers(-100, 100), span=st.integers(0, 200))
def test_property_int_in_rejects_non_decimal_text(token, lo, span):
    """On arbitrary text int_in accepts exactly the ASCII decimal integers in
    range; anything else that is not such an integer is NotANumber."""
    parse = int_in(lo, lo + span)
    decimal = re.fullmatch(r"[+-]?[0-9]{1,10}", token, re.ASCII) is not None
    if decimal and lo <= int(token) <= lo + span:
        assert parse(token) == int(token)
    elif decimal:
        with pytest.raises(ValueError) as info:
            parse(token)
        assert not isinstance(info.value, NotANumber)
    else:
        with pytest.raises(NotANumber):
            parse(token)


# -- Signature.bind: the spec's error numbers (NOTES G7) ---------------------------------

# shaped like AT+SKTCLIENT=<mode>,<host>,<port>[,<local port>] (errors 17, 6, 3, 11)
CLIENT = Signature(
    required=(Param(int_in(0, 2), 17), Param(host, 6), Param(port_number, 3)),
    optional=(Param(port_number, 11),),
    count_error=1,
)


def _code(signature: Signature, tokens) -> int:
    with pytest.raises(ArgError) as info:
        signature.bind(tokens)
    return info.value.code


def test_bind_returns_parsed_values():
    assert CLIENT.bind(["0", "127.0.0.1", "80"]) == [0, "127.0.0.1", 80]
    assert CLIENT.bind(["2", '"example.com"', "443", "5000"]) == [2, "example.com", 443, 5000]


def test_bind_from_split_args():
    """G1: spaces after commas and around quoted strings are tolerated."""
    assert CLIENT.bind(split_args('1 , "example.com" , 53')) == [1, "example.com", 53]


@pytest.mark.parametrize("tokens", [[], ["0"], ["0", "h"], ["0", "h", "1", "2", "3"]])
def test_bind_count_error(tokens):
    """A wrong number of arguments: the signature's count_error."""
    assert _code(CLIENT, tokens) == 1


@pytest.mark.parametrize(
    "tokens, code",
    [
        (["3", "h", "80"], 17),          # mode out of range: its own error
        (["0", "-bad", "80"], 6),        # host not a host
        (["0", "h", "0"], 3),            # port out of range
        (["0", "h", "65536"], 3),
        (["0", "h", "80", "70000"], 11),  # optional param's own error
        (["3", "-bad", "0"], 17),        # the first bad parameter decides
    ],
)
def test_bind_per_param_error(tokens, code):
    assert _code(CLIENT, tokens) == code


@pytest.mark.parametrize(
    "tokens",
    [["x", "h", "80"], ["0", "h", "eighty"], ["0", "h", "80", "1.5"], ["", "h", "80"]],
)
def test_bind_not_a_number_is_count_error(tokens):
    """A token that is not a number where one is due: count_error, not the
    param's error (the specs' "error parameter")."""
    assert _code(CLIENT, tokens) == 1


def test_bind_count_error_is_configurable():
    signature = Signature(required=(Param(int_in(0, 9), 5),), count_error=7)
    assert _code(signature, []) == 7
    assert _code(signature, ["a"]) == 7
    assert _code(signature, ["10"]) == 5
    assert signature.bind(["9"]) == [9]


def test_bind_optional_all_or_none():
    """Optional parameters come all or none (the specs' bracket forms)."""
    signature = Signature(required=(Param(integer, 2),),
                          optional=(Param(integer, 3), Param(integer, 4)))
    assert signature.bind(["1"]) == [1]
    assert signature.bind(["1", "2", "3"]) == [1, 2, 3]
    assert _code(signature, ["1", "2"]) == 1


def test_arg_error_is_a_value_error_with_code():
    error = ArgError(4, "why")
    assert isinstance(error, ValueError)
    assert error.code == 4
    assert str(error) == "why"


# -- host() and ip_address() ---------------------------------------------------------------


@pytest.mark.parametrize(
    "token, expected",
    [
        ("192.168.1.10", "192.168.1.10"),
        ('"192.168.1.10"', "192.168.1.10"),
        ("example.com", "example.com"),
        ('"example.com"', "example.com"),
        ("my-host_1.local", "my-host_1.local"),
        ("localhost", "localhost"),
        ("::1", "::1"),
        ("x" * 253, "x" * 253),
    ],
)
def test_host_accepts(token, expected):
    assert host(token) == expected


@pytest.mark.parametrize(
    "token",
    ["", '""', '"', "-bad", ".bad", "has space", "a/b", "a,b", "x" * 254, "é.com",
     '"unbalanced', "a\x00b"],
)
def test_host_rejects(token):
    with pytest.raises(ValueError) as info:
        host(token)
    # not NotANumber: a bad host is the param's own error in bind (e.g. SKT 6)
    assert not isinstance(info.value, NotANumber)


@pytest.mark.parametrize(
    "token, expected",
    [
        ("10.0.0.1", "10.0.0.1"),
        ('"10.0.0.1"', "10.0.0.1"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),  # normalised
    ],
)
def test_ip_address_accepts(token, expected):
    assert ip_address(token) == expected


@pytest.mark.parametrize(
    "token",
    ["", "example.com", "256.1.1.1", "1.2.3", "1.2.3.4.5", " 10.0.0.1", "10.0.0.1 ",
     "010.0.0.1", '"10.0.0.1', "::g"],
)
def test_ip_address_rejects(token):
    with pytest.raises(ValueError):
        ip_address(token)


def test_unquote():
    assert unquote('"abc"') == "abc"
    assert unquote('""') == ""
    assert unquote('"') == '"'
    assert unquote('"abc') == '"abc'
    assert unquote("abc") == "abc"
