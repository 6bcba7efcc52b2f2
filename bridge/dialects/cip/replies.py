"""The CIP dialect's reply bytes (NOTES C1-C11), built without I/O."""

from __future__ import annotations

from ...net.psk import Psk

OK = b"OK\r\n"
ERROR = b"ERROR\r\n"
SEND_ERROR = b"CMDRSP:ERROR\r\n"  # C1: every AT+CIPSEND failure
SEND_OK = b"SEND OK\r\n"
PROMPT = b"\r\n>"  # C9, C10
READY = b"\r\nready\r\n"  # C1
QUIT = b"+QUIT\r\n"  # C10
NO_LINKS = b"+BIPSTATUS:ALL disconnect\r\n"  # C11


def echo(line: bytes) -> bytes:
    """C1 (firmware): the line without its terminator, then CR LF CR LF."""
    return line + b"\r\n\r\n"


def value(name: str, number: int) -> bytes:
    """A query's answer: ``+NAME:<n>`` then OK."""
    return b"+%s:%d\r\n" % (name.encode(), number) + OK


def notice(word: bytes, link_id: int, multiple: bool) -> bytes:
    """C5, C6, C8: ``[<id>,]CONNECT`` / ``[<id>,]CLOSED``, the id only with CIPMUX=1."""
    return (b"%d," % link_id if multiple else b"") + word + b"\r\n"


def received(link_id: int, data: bytes) -> bytes:
    """C7: ``\\r\\n+IPD(<id>),<len>:<data>``, id always present, no CR LF after."""
    return b"\r\n+IPD(%d),%d:" % (link_id, len(data)) + data


def status_line(kind: int, remote: tuple[str, int], local_port: int, server: bool) -> bytes:
    """C11: ``+BIPSTATUS:<type>,<remote ip>,<remote port>,<local port>,<0|1>``."""
    return b"+BIPSTATUS:%d,%s,%d,%d,%d\r\n" % (kind, remote[0].encode(), remote[1],
                                              local_port, server)


def quoted_list(values: tuple[str, ...] | list[str]) -> bytes:
    return b"".join(b',"%s"' % v.encode() for v in values)


def dns_config(enable: bool, servers: tuple[str, ...]) -> bytes:
    """C12: ``+CIPDNS:<enable>[,"<ip>"...]`` then OK."""
    return b"+CIPDNS:%d%s\r\n" % (enable, quoted_list(servers)) + OK


def domain(address: str) -> bytes:
    """C12: ``+CIPDOMAIN:"<ipv4>"`` then OK."""
    return b'+CIPDOMAIN:"%s"\r\n' % address.encode() + OK


def ping(milliseconds: int | None) -> bytes:
    """C13: ``+PING:<ms>`` then OK, or ``+PING:TIMEOUT`` then ERROR."""
    if milliseconds is None:
        return b"+PING:TIMEOUT\r\n" + ERROR
    return b"+PING:%d\r\n" % milliseconds + OK


def sntp_config(enable: bool, timezone: int, servers: tuple[str, ...]) -> bytes:
    """C14: ``+CIPSNTPCFG:<enable>,<tz>,"<server>"...`` then OK."""
    return b"+CIPSNTPCFG:%d,%d%s\r\n" % (enable, timezone, quoted_list(servers)) + OK


def sntp_time(text: str) -> bytes:
    """C14: ``+CIPSNTPTIME:YYYY-MM-DD HH:MM:SS`` then OK."""
    return b"+CIPSNTPTIME:%s\r\n" % text.encode() + OK


def psk_config(keys: dict[int, Psk], empty_id: int) -> bytes:
    """C15: ``+CIPSSLCPSK:<id>,"<psk>","<hint>"`` per key set, then OK."""
    lines = [b'+CIPSSLCPSK:%d,"%s","%s"\r\n' % (number, psk.key, psk.identity)
             for number, psk in sorted(keys.items())]
    if not lines:
        lines = [b'+CIPSSLCPSK:%d,"",""\r\n' % empty_id]
    return b"".join(lines) + OK
