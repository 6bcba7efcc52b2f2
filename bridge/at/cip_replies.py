"""The CIP dialect's reply bytes (NOTES C1-C11), built without I/O."""

from __future__ import annotations

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
