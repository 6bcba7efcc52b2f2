"""The SKT dialect's reply bytes (NOTES S1-S11), built without I/O."""

from __future__ import annotations

TT_EXIT = b"\r\n#\r\n"  # NOTES S9: printed when transparent mode ends


def ok(command: str) -> bytes:
    return b"\r\n+%s:OK\r\n" % command.encode()


def error(command: str, number: int) -> bytes:
    return b"\r\n+%s:ERROR:%d\r\n" % (command.encode(), number)


def opened(command: str, con_id: int) -> bytes:
    """NOTES S3: OK, then the con_id line."""
    return ok(command) + b"+%s:con_id=%d\r\n" % (command.encode(), con_id)


def read_data(con_id: int, data: bytes, source: tuple[str, int] | None = None) -> bytes:
    """NOTES S6: ``+SKTREAD:OK,<len>,<con_id>[,<ip>,<port>]:<data>`` and CR LF."""
    where = b",%s,%d" % (source[0].encode(), source[1]) if source else b""
    return b"+SKTREAD:OK,%d,%d%s:%s\r\n" % (len(data), con_id, where, data)


def read_lost(con_id: int, number: int) -> bytes:
    """NOTES S7: the one notice auto-receive gives for a lost connection."""
    return b"+SKTREAD:ERROR:%d,%d\r\n" % (number, con_id)


def state_line(con_id: int, role: str, proto: str, address: tuple[str, int], socket: int) -> bytes:
    """NOTES S11, exactly the spec's form with no spaces."""
    return b"con_id:%d,%s,%s,address:%s,port:%d,socket:%d\r\n" % (
        con_id, role.encode(), proto.encode(), address[0].encode(), address[1], socket)


def seed_connected(server_id: int, con_id: int, proto: str, address: tuple[str, int],
                   socket: int) -> bytes:
    """NOTES S4: the firmware's notice, with its spaces."""
    return (b"\r\n+SKTSERVER: A client connected to server[%d]\r\n"
            b"con_id:%d, seed, %s, address:%s, port:%d, socket:%d\r\n" % (
                server_id, con_id, proto.encode(), address[0].encode(), address[1], socket))
