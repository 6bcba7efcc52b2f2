"""Argument forms of AT+CIPSTART / AT+CIPSEND / AT+CIPCLOSE (bridge/dialects/cip/args.py).

NOTES items: C2 (link ids 0..5; AT+CIPCLOSE=<id>, =5 for all, bare for link 0),
C3 (the link id leads iff CIPMUX=1; with CIPMUX=0 it is omitted and, if given,
must be 0), C4 (the first AT+CIPSTART argument is a link id iff the second is
a type; type names in any case, quoted or not, or digits 0..3; TCP/TLS 5th
argument keepalive 0..7200, 6th/7th localport/localip make a server; UDP/DTLS
5th local port, 6th local ip; DTLS with all three makes a server, as TCP),
C9 (AT+CIPSEND length 1..2048, optional host,port), G1 (spaces after commas
and around quoted strings), G7 (a bad form is answered at once: ArgError).
"""

from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.at.args import ArgError, parse_command, split_args
from bridge.dialects.cip.args import (
    DTLS,
    MAX_SEND,
    TCP,
    TLS,
    UDP,
    Send,
    Start,
    is_link_type,
    link_type,
    parse_close,
    parse_send,
    parse_start,
)

FAST = settings(max_examples=100, deadline=None)

HOST = "192.168.0.103"
LOCAL = "192.168.0.107"


def args_of(line: str) -> list[str]:
    """The argument tokens of a full command line, as the dialect gets them."""
    command = parse_command(line.encode("latin-1"))
    assert command is not None and command.op == "="
    return split_args(command.args)


# -- the spec's own examples (C4) -----------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        # example 1: TCP client, id 0, keepalive 1800
        ('AT+CIPSTART=0,"tcp","192.168.0.103",20108,1800',
         Start(0, TCP, HOST, 20108, keepalive=1800)),
        # example 2: TCP server; the comment says id 1 but the command uses 2 (C4)
        ('AT+CIPSTART=2,"tcp","192.168.0.103",20108,1800, 5637, "192.168.0.107"',
         Start(2, TCP, HOST, 20108, 1800, 5637, LOCAL, listen=True)),
        # example 3: UDP client, id 1
        ('AT+CIPSTART=1,"udp","192.168.0.103",20108',
         Start(1, UDP, HOST, 20108)),
        # example 4: UDP with local port 5637 and local ip
        ('AT+CIPSTART=1,"udp","192.168.0.103",20108,5637, "192.168.0.107"',
         Start(1, UDP, HOST, 20108, 0, 5637, LOCAL)),
    ],
)
def test_start_spec_examples(line, expected):
    """C4: the spec's four AT+CIPSTART examples, with CIPMUX=1 (C3: id leads)."""
    assert parse_start(args_of(line), multiple=True) == expected


def test_start_spec_example_1_single_connection():
    """C3: with CIPMUX=0 a given id must be 0, so example 1 still parses (link 0)."""
    tokens = args_of('AT+CIPSTART=0,"tcp","192.168.0.103",20108,1800')
    assert parse_start(tokens, multiple=False) == Start(0, TCP, HOST, 20108, keepalive=1800)


@pytest.mark.parametrize(
    "line",
    [
        'AT+CIPSTART=2,"tcp","192.168.0.103",20108,1800, 5637, "192.168.0.107"',
        'AT+CIPSTART=1,"udp","192.168.0.103",20108',
        'AT+CIPSTART=1,"udp","192.168.0.103",20108,5637, "192.168.0.107"',
    ],
)
def test_start_spec_examples_with_nonzero_id_fail_single_connection(line):
    """C3: with CIPMUX=0 an id other than 0 is an error."""
    with pytest.raises(ArgError):
        parse_start(args_of(line), multiple=False)


# -- AT+CIPSTART forms (C3, C4) -------------------------------------------------------


@pytest.mark.parametrize(
    "text, multiple, expected",
    [
        # C3: CIPMUX=0, id omitted -> link 0
        ('"TCP","example.com",80', False, Start(0, TCP, "example.com", 80)),
        ('"UDP","10.0.0.1",53', False, Start(0, UDP, "10.0.0.1", 53)),
        # C3: CIPMUX=0, id given as 0
        ('0,"TCP","example.com",80', False, Start(0, TCP, "example.com", 80)),
        # C4: type names in any case, quoted or not
        ('3,tcp,example.com,80', True, Start(3, TCP, "example.com", 80)),
        ('3,"Tcp",example.com,80', True, Start(3, TCP, "example.com", 80)),
        ('3,UdP,"example.com",80', True, Start(3, UDP, "example.com", 80)),
        ('3,"tls","example.com",443', True, Start(3, TLS, "example.com", 443)),
        ('3,"SSL","example.com",443', True, Start(3, TLS, "example.com", 443)),
        ('3,ssl,"example.com",443', True, Start(3, TLS, "example.com", 443)),
        ('3,"dtls","example.com",4433', True, Start(3, DTLS, "example.com", 4433)),
        # C4: the digits 0..3, quoted or not
        ('4,0,"example.com",80', True, Start(4, TCP, "example.com", 80)),
        ('4,"1","example.com",80', True, Start(4, UDP, "example.com", 80)),
        ('4,2,"example.com",443', True, Start(4, TLS, "example.com", 443)),
        ('4,"3","example.com",4433', True, Start(4, DTLS, "example.com", 4433)),
        # C4 with CIPMUX=0: a digit first and a host second is a type, not an id
        ('0,"example.com",80', False, Start(0, TCP, "example.com", 80)),
        ('1,"example.com",80', False, Start(0, UDP, "example.com", 80)),
        ('3,"example.com",80', False, Start(0, DTLS, "example.com", 80)),
        # C4 with CIPMUX=0: a digit first and a type second: id 0 then type
        ('0,1,"example.com",80', False, Start(0, UDP, "example.com", 80)),
        # C2: ids 0..5
        ('5,"TCP","example.com",80', True, Start(5, TCP, "example.com", 80)),
        ('0,"TCP","example.com",80', True, Start(0, TCP, "example.com", 80)),
        # C4: TCP keepalive bounds 0..7200
        ('1,"TCP","h",1,0', True, Start(1, TCP, "h", 1, keepalive=0)),
        ('1,"TCP","h",65535,7200', True, Start(1, TCP, "h", 65535, keepalive=7200)),
        ('"TCP","h",80,1', False, Start(0, TCP, "h", 80, keepalive=1)),
        # C4: TLS is TCP-like: keepalive, and 6th/7th make a server
        ('1,"TLS","h",443,60', True, Start(1, TLS, "h", 443, keepalive=60)),
        ('1,"TLS","h",443,0,8443,"127.0.0.1"', True,
         Start(1, TLS, "h", 443, 0, 8443, "127.0.0.1", listen=True)),
        # C4: TCP server without an id under CIPMUX=0
        ('"TCP","h",80,0,5637,"192.168.0.107"', False,
         Start(0, TCP, "h", 80, 0, 5637, LOCAL, listen=True)),
        # local ip quoted or not, IPv6 normalised
        ('1,"TCP","h",80,0,5637,192.168.0.107', True,
         Start(1, TCP, "h", 80, 0, 5637, LOCAL, listen=True)),
        ('1,"TCP","h",80,0,5637,"0:0::1"', True,
         Start(1, TCP, "h", 80, 0, 5637, "::1", listen=True)),
        # C4: UDP/DTLS 5th local port, 6th local ip
        ('1,"UDP","h",53,5000', True, Start(1, UDP, "h", 53, 0, 5000)),
        ('1,"UDP","h",53,5000,"10.1.2.3"', True, Start(1, UDP, "h", 53, 0, 5000, "10.1.2.3")),
        ('1,"DTLS","h",4433,5000', True, Start(1, DTLS, "h", 4433, 0, 5000)),
        ('1,"DTLS","h",4433,5000,"10.1.2.3"', True,
         Start(1, DTLS, "h", 4433, 0, 5000, "10.1.2.3")),
        ('"UDP","h",53,5000', False, Start(0, UDP, "h", 53, 0, 5000)),
        # C4/C6: DTLS with keepalive, localport and localip is a server, as TCP/TLS
        ('1,"DTLS","h",4433,0,5684,"127.0.0.1"', True,
         Start(1, DTLS, "h", 4433, 0, 5684, "127.0.0.1", listen=True)),
        ('"3","h",1,60,5684,"0.0.0.0"', False,
         Start(0, DTLS, "h", 1, 60, 5684, "0.0.0.0", listen=True)),
        # G1: spaces after commas and around quoted strings
        (' 1 , "tcp" , "h" , 80 , 10 ', True, Start(1, TCP, "h", 80, keepalive=10)),
        # host: IPv6 and names
        ('1,"TCP","::1",80', True, Start(1, TCP, "::1", 80)),
        ('1,"TCP","a-b.example_x.org",80', True, Start(1, TCP, "a-b.example_x.org", 80)),
    ],
)
def test_start_forms(text, multiple, expected):
    """C3, C4: valid AT+CIPSTART argument forms and their exact values."""
    assert parse_start(split_args(text), multiple=multiple) == expected


@pytest.mark.parametrize(
    "text, multiple",
    [
        # C3: CIPMUX=1 needs the id
        ('"TCP","example.com",80', True),
        ('"UDP","example.com",80,5000', True),
        # C3: CIPMUX=0, a given id must be 0
        ('1,"TCP","example.com",80', False),
        ('5,"UDP","example.com",80', False),
        # C2: ids 0..5
        ('6,"TCP","example.com",80', True),
        ('-1,"TCP","example.com",80', True),
        ('x,"TCP","example.com",80', True),
        # C4: unknown types
        ('1,"FTP","example.com",80', True),
        ('1,4,"example.com",80', True),
        ('"FTP","example.com",80', False),
        ('4,"example.com",80', False),
        # too few arguments
        ('', False),
        ('', True),
        ('1', True),
        ('1,"TCP"', True),
        ('1,"TCP","example.com"', True),
        ('"TCP","example.com"', False),
        # bad host / port
        ('1,"TCP","",80', True),
        ('1,"TCP","-bad",80', True),
        ('1,"TCP",".bad",80', True),
        ('1,"TCP","a b",80', True),
        ('1,"TCP","example.com",0', True),
        ('1,"TCP","example.com",65536', True),
        ('1,"TCP","example.com",http', True),
        ('1,"TCP","example.com",', True),
        # C4: TCP keepalive 0..7200
        ('1,"TCP","h",80,7201', True),
        ('1,"TCP","h",80,-1', True),
        ('1,"TCP","h",80,x', True),
        ('1,"TCP","h",80,', True),
        # C4: TCP takes host and port, then keepalive, or keepalive, localport, localip
        ('1,"TCP","h",80,0,5637', True),
        ('1,"TCP","h",80,0,5637,"192.168.0.107",1', True),
        # C4: TCP server needs a port and an address
        ('1,"TCP","h",80,0,0,"192.168.0.107"', True),
        ('1,"TCP","h",80,0,65536,"192.168.0.107"', True),
        ('1,"TCP","h",80,0,5637,"example.com"', True),
        ('1,"TCP","h",80,0,5637,"192.168.0.256"', True),
        ('1,"TLS","h",80,0,5637', True),
        # C4: UDP takes at most localport and localip
        ('1,"UDP","h",53,5000,"10.1.2.3",1', True),
        ('1,"UDP","h",53,0', True),
        ('1,"UDP","h",53,65536', True),
        ('1,"UDP","h",53,5000,"not-an-ip"', True),
        ('1,"DTLS","h",53,5000,"10.1.2.3",1', True),
        # C4/C6: a DTLS server needs keepalive, a port and an address
        ('1,"DTLS","h",53,7201,5684,"10.1.2.3"', True),
        ('1,"DTLS","h",53,0,0,"10.1.2.3"', True),
        ('1,"DTLS","h",53,0,5684,"example.com"', True),
        ('1,"UDP","h",53,0,5684,"10.1.2.3"', True),
    ],
)
def test_start_bad_forms(text, multiple):
    """C3, C4, G7: a form that does not fit is an ArgError."""
    with pytest.raises(ArgError):
        parse_start(split_args(text), multiple=multiple)


@pytest.mark.parametrize(
    "token, expected",
    [("TCP", TCP), ('"tcp"', TCP), ("uDp", UDP), ('"Tls"', TLS), ("ssl", TLS),
     ('"SSL"', TLS), ("DTLS", DTLS), ('"dtls"', DTLS),
     ("0", TCP), ('"1"', UDP), ("2", TLS), ('"3"', DTLS)],
)
def test_link_type_names_and_digits(token, expected):
    """C4: a type name in any case, quoted or not, or one of the digits 0..3."""
    assert link_type(token) == expected
    assert is_link_type(token)


@pytest.mark.parametrize("token", ["4", "-1", "00", "+1", "FTP", "", '""', "TCPX", "'tcp'"])
def test_not_link_types(token):
    """C4: anything else is not a type (so the first argument is not an id)."""
    assert not is_link_type(token)
    with pytest.raises(ValueError):
        link_type(token)


# -- AT+CIPSEND forms (C3, C9) --------------------------------------------------------


@pytest.mark.parametrize(
    "text, multiple, expected",
    [
        # C3: CIPMUX=0, id omitted -> link 0
        ("5", False, Send(0, 5)),
        ('5,"10.0.0.1",53', False, Send(0, 5, ("10.0.0.1", 53))),
        # C3: CIPMUX=0, id given as 0 (2- and 4-argument forms)
        ("0,5", False, Send(0, 5)),
        ('0,5,"10.0.0.1",53', False, Send(0, 5, ("10.0.0.1", 53))),
        # C3: CIPMUX=1, id leads; C2: ids 0..5
        ("0,1", True, Send(0, 1)),
        ("5,2048", True, Send(5, 2048)),
        ('3,100,"example.com",8080', True, Send(3, 100, ("example.com", 8080))),
        ("3,100,example.com,8080", True, Send(3, 100, ("example.com", 8080))),
        # C9: bounds 1..2048
        ("1", False, Send(0, 1)),
        ("2048", False, Send(0, 2048)),
        # G1: spaces
        (' 2 , 10 , "h" , 9 ', True, Send(2, 10, ("h", 9))),
    ],
)
def test_send_forms(text, multiple, expected):
    """C3, C9: AT+CIPSEND=[<id>,]<len>[,<host>,<port>]."""
    assert parse_send(split_args(text), multiple=multiple) == expected


@pytest.mark.parametrize(
    "text, multiple",
    [
        # C9: length 1..2048
        ("0", False),
        ("2049", False),
        ("-1", False),
        ("1,0", True),
        ("1,2049", True),
        ("0,0", False),
        ("0,2049", False),
        ('0,"h",80', False),
        ('2049,"h",80', False),
        ("x", False),
        ("1,x", True),
        # C3: CIPMUX=1 needs the id; CIPMUX=0 only id 0
        ("5", True),
        ('5,"h",80', True),
        ("1,5", False),
        ('1,5,"h",80', False),
        # C2: ids 0..5
        ("6,5", True),
        ("-1,5", True),
        # wrong counts
        ("", False),
        ("", True),
        ("1,5,6", True),
        ("1,5,6,7,8", True),
        ("1,5,6,7,8", False),
        ('1,5,"h"', True),
        # bad destination
        ('1,5,"h",0', True),
        ('1,5,"h",65536', True),
        ('1,5,"",80', True),
        ('1,5,"a b",80', True),
        ('5,"-h",80', False),
    ],
)
def test_send_bad_forms(text, multiple):
    """C3, C9, G7: a bad AT+CIPSEND form is an ArgError (CMDRSP:ERROR, no `>`)."""
    with pytest.raises(ArgError):
        parse_send(split_args(text), multiple=multiple)


# -- AT+CIPCLOSE forms (C2, C3) -------------------------------------------------------


@pytest.mark.parametrize(
    "text, multiple, expected",
    [
        ("", False, 0),  # C2: bare AT+CIPCLOSE closes link 0 with CIPMUX=0
        ("0", False, 0),  # C3: a given id must be 0
        ("5", False, 5),  # C2: 5 means all
        ("0", True, 0),
        ("3", True, 3),
        (" 4 ", True, 4),
        ("5", True, 5),  # C2: 5 means all (or link 5 if it is open)
    ],
)
def test_close_forms(text, multiple, expected):
    """C2, C3: AT+CIPCLOSE=<id>, =5, and bare AT+CIPCLOSE with CIPMUX=0."""
    assert parse_close(split_args(text), multiple=multiple) == expected


def test_close_bare_command_line():
    """C2: `AT+CIPCLOSE` has no arguments at all (op ''), link 0 with CIPMUX=0."""
    command = parse_command(b"AT+CIPCLOSE")
    assert command is not None and command.op == ""
    assert parse_close(split_args(command.args), multiple=False) == 0


@pytest.mark.parametrize(
    "text, multiple",
    [
        ("", True),  # C3: CIPMUX=1 needs an id
        ("6", True),
        ("-1", True),
        ("x", True),
        ("1,2", True),
        ("1", False),  # C3: only link 0 (or 5, all) with CIPMUX=0
        ("4", False),
        ("6", False),
        ("0,0", False),
        (",", False),
    ],
)
def test_close_bad_forms(text, multiple):
    """C2, C3, G7: a bad AT+CIPCLOSE form is an ArgError."""
    with pytest.raises(ArgError):
        parse_close(split_args(text), multiple=multiple)


def test_arg_error_is_value_error_with_code_zero():
    """CIP has no error numbers (C1): ArgError's code is 0, and it is a ValueError."""
    with pytest.raises(ArgError) as info:
        parse_send(["0"], multiple=False)
    assert isinstance(info.value, ValueError)
    assert info.value.code == 0


# -- properties -------------------------------------------------------------------------

TYPE_SPELLINGS = {TCP: ["TCP", "0"], UDP: ["UDP", "1"], TLS: ["TLS", "SSL", "2"],
                  DTLS: ["DTLS", "3"]}

spaces = st.text(alphabet=" ", max_size=2)


@st.composite
def mixed_case(draw, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flips, strict=True))


@st.composite
def quoted_or_not(draw, text: str) -> str:
    return f'"{text}"' if draw(st.booleans()) else text


@st.composite
def type_token(draw, kind: int) -> str:
    spelling = draw(st.sampled_from(TYPE_SPELLINGS[kind]))
    return draw(quoted_or_not(draw(mixed_case(spelling))))


label = st.from_regex(r"[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,10}[a-zA-Z0-9_])?", fullmatch=True)
dns_name = st.lists(label, min_size=1, max_size=3).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
# a host that cannot be taken for a type (C4 decides by the second argument)
remote_host = st.one_of(ipv4, ipv6, dns_name).filter(lambda h: not is_link_type(h))
ports = st.integers(1, 65535)
VALID_LENGTHS = st.integers(1, MAX_SEND)


def render(tokens: list[str], draw) -> str:
    """Join tokens with commas and random spaces around each (G1)."""
    return ",".join(draw(spaces) + token + draw(spaces) for token in tokens)


@st.composite
def start_cases(draw) -> tuple[str, bool, Start]:
    multiple = draw(st.booleans())
    if multiple:
        number = draw(st.integers(0, 5))
        id_tokens = [str(number)]
    else:
        number = 0
        id_tokens = draw(st.sampled_from([[], ["0"]]))
    kind = draw(st.sampled_from([TCP, UDP, TLS, DTLS]))
    remote = draw(remote_host)
    port = draw(ports)
    tokens = [*id_tokens, draw(type_token(kind)), draw(quoted_or_not(remote)), str(port)]
    if kind != UDP and draw(st.booleans()):  # a server (DTLS too: C6)
        keepalive, local_port = draw(st.integers(0, 7200)), draw(ports)
        local_ip = draw(st.one_of(ipv4, ipv6))
        tokens += [str(keepalive), str(local_port), draw(quoted_or_not(local_ip))]
        expected = Start(number, kind, remote, port, keepalive, local_port, local_ip,
                         listen=True)
    elif kind in (TCP, TLS):
        if draw(st.booleans()):
            expected = Start(number, kind, remote, port)
        else:
            keepalive = draw(st.integers(0, 7200))
            tokens.append(str(keepalive))
            expected = Start(number, kind, remote, port, keepalive)
    else:
        extra = draw(st.integers(0, 2))
        local_port = draw(ports) if extra >= 1 else 0
        local_ip = draw(st.one_of(ipv4, ipv6)) if extra == 2 else None
        if extra >= 1:
            tokens.append(str(local_port))
        if extra == 2:
            assert local_ip is not None
            tokens.append(draw(quoted_or_not(local_ip)))
        expected = Start(number, kind, remote, port, 0, local_port, local_ip)
    return render(tokens, draw), multiple, expected


@FAST
@given(start_cases())
def test_start_round_trip(case):
    """C3, C4, G1: a generated valid AT+CIPSTART line parses to exactly its values."""
    text, multiple, expected = case
    tokens = args_of(f"AT+CIPSTART={text}")
    assert parse_start(tokens, multiple=multiple) == expected


@st.composite
def send_cases(draw, lengths=VALID_LENGTHS) -> tuple[str, bool, Send]:
    multiple = draw(st.booleans())
    if multiple:
        number = draw(st.integers(0, 5))
        id_tokens = [str(number)]
    else:
        number = 0
        id_tokens = draw(st.sampled_from([[], ["0"]]))
    length = draw(lengths)
    tokens = [*id_tokens, str(length)]
    dest = None
    if draw(st.booleans()):
        dest = (draw(st.one_of(ipv4, dns_name)), draw(ports))
        tokens += [draw(quoted_or_not(dest[0])), str(dest[1])]
    return render(tokens, draw), multiple, Send(number, length, dest)


@FAST
@given(send_cases())
def test_send_round_trip(case):
    """C3, C9, G1: a generated valid AT+CIPSEND line parses to exactly its values."""
    text, multiple, expected = case
    assert parse_send(args_of(f"AT+CIPSEND={text}"), multiple=multiple) == expected


@FAST
@given(send_cases(lengths=st.sampled_from([0, 2049])))
def test_send_lengths_0_and_2049_always_rejected(case):
    """C9: whatever the rest of the form, lengths 0 and 2049 are ArgError."""
    text, multiple, _ = case
    with pytest.raises(ArgError):
        parse_send(args_of(f"AT+CIPSEND={text}"), multiple=multiple)


@FAST
@given(st.booleans(), st.integers(0, 5), spaces, spaces)
def test_close_round_trip(multiple, number, before, after):
    """C2, C3: AT+CIPCLOSE=<id> gives the id; with CIPMUX=0 only 0 and 5 (all)."""
    tokens = args_of(f"AT+CIPCLOSE={before}{number}{after}")
    if multiple or number in (0, 5):
        assert parse_close(tokens, multiple=multiple) == number
    else:
        with pytest.raises(ArgError):
            parse_close(tokens, multiple=multiple)


PARSERS = [parse_start, parse_send, parse_close]
arg_text = st.one_of(
    st.text(alphabet=string.digits + ',"- .:' + "TtCcPpUuDdLlSsx", max_size=40),
    st.text(max_size=40),
)


def returns_or_arg_error(parse, tokens, multiple):
    try:
        result = parse(tokens, multiple=multiple)
    except ArgError:
        return
    assert isinstance(result, Start | Send | int)


@FAST
@given(st.sampled_from(PARSERS), arg_text, st.booleans())
def test_arbitrary_text_returns_or_raises_arg_error(parse, text, multiple):
    """G7: for any argument text, a value or ArgError, never another exception."""
    returns_or_arg_error(parse, split_args(text), multiple)


@FAST
@given(st.sampled_from(PARSERS), st.lists(st.one_of(arg_text, ipv6, ports.map(str)),
                                          max_size=8), st.booleans())
def test_arbitrary_tokens_return_or_raise_arg_error(parse, tokens, multiple):
    """G7: the same for any token list, even ones split_args would not make."""
    returns_or_arg_error(parse, tokens, multiple)


def test_ipv6_local_ip_is_normalised():
    """C4: the local ip is normalised (the value the listener binds)."""
    long_form = "0000:0000:0000:0000:0000:0000:0000:0001"
    start = parse_start(split_args(f'1,"tcp","h",80,0,5637,"{long_form}"'), multiple=True)
    assert start.local_ip == str(ipaddress.ip_address(long_form)) == "::1"
