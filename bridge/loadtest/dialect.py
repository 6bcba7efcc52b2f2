"""What a virtual device says in each dialect and what it makes of the
replies, sans-IO: the commands as bytes to write and the reply lines that end
them, the notices that are no command's reply, the parser for the port.

Both hosts use it: ``at-bridge loadtest`` (Trio, device.py) and
``at-bridge locust`` (gevent, bridge/locust/port.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..testing.wire import CipWire, EspWire, OnData, OnLine, SktWire
from .options import MAX_LINKS

PROMPT = b">"  # the line a prompt counts as in a reply (CIP's "\r\n>")


@dataclass(frozen=True)
class Step:
    """Bytes to write, then the reply: lines until one starts with ``done``
    (or, with ``prompt``, the prompt); it succeeded if that last line starts
    with ``ok``."""

    data: bytes
    done: tuple[bytes, ...]
    ok: bytes
    prompt: bool = False


@dataclass(frozen=True)
class Command:
    """One AT command as the host reports it: one step, or two for CIP's
    AT+CIPSEND (the prompt, then the data). ``counted`` is link data that the
    last step writes: its echo is owed from then."""

    name: str
    steps: tuple[Step, ...]
    counted: bytes = b""


def line(name: str, text: bytes, done: tuple[bytes, ...], ok: bytes) -> Command:
    return Command(name, (Step(text + b"\r\n", done, ok),))


Wire = CipWire | EspWire | SktWire


class Dialect:
    name: str
    opens: str  # the name of the command that opens a link
    greets = False  # the module prints a greeting at start and after its reset

    @property
    def max_links(self) -> int:
        return MAX_LINKS[self.name]

    def wire(self, on_line: OnLine, on_prompt: Callable[[], None], on_data: OnData) -> Wire:
        raise NotImplementedError

    def greeting(self, line: bytes) -> bool:
        return False

    def gone(self, line: bytes) -> int | None:
        """The link id a notice says the module closed, else None."""
        raise NotImplementedError

    def reset(self) -> Command:
        """Closes every link of a port that was already running."""
        raise NotImplementedError

    def setup(self) -> tuple[Command, ...]:
        raise NotImplementedError

    def open_link(self, slot: int, proto: str, host: str, port: int) -> Command:
        raise NotImplementedError

    def opened(self, slot: int, lines: list[bytes]) -> int:
        """The new link's id from the open command's reply; ValueError if it has none."""
        raise NotImplementedError

    def send(self, link_id: int, message: bytes) -> Command:
        raise NotImplementedError

    def close(self, link_id: int) -> Command:
        raise NotImplementedError


class Cip(Dialect):
    """ESP-AT style: AT+CIPMUX=1, AT+CIPSTART, AT+CIPSEND with a prompt, +IPD."""

    name = "cip"
    opens = "CIPSTART"
    greets = True  # "ready" (NOTES C1)
    TYPES = {"tcp": b"TCP", "udp": b"UDP", "tls": b"SSL"}
    END = (b"OK", b"ERROR")
    PROMPT_END = (b"ERROR", b"CMDRSP:ERROR", b"busy")
    SEND_END = (b"SEND OK", b"SEND FAIL", b"CMDRSP:ERROR", b"ERROR")
    SETUP = (line("ATE0", b"ATE0", END, b"OK"), line("CIPMUX", b"AT+CIPMUX=1", END, b"OK"))

    def wire(self, on_line: OnLine, on_prompt: Callable[[], None], on_data: OnData) -> Wire:
        return CipWire(on_line, on_prompt, on_data)

    def greeting(self, line: bytes) -> bool:
        return line == b"ready"

    def gone(self, line: bytes) -> int | None:
        if line.endswith(b",CLOSED"):  # C8
            try:
                return int(line[:-7])
            except ValueError:
                return None
        return None

    def reset(self) -> Command:  # AT+RST closes every link and greets again (C1, E7)
        return line("RST", b"AT+RST", self.END, b"OK")

    def setup(self) -> tuple[Command, ...]:
        return self.SETUP

    def open_link(self, slot: int, proto: str, host: str, port: int) -> Command:
        text = b'AT+CIPSTART=%d,"%s","%s",%d' % (slot, self.TYPES[proto], host.encode(), port)
        return line(self.opens, text, self.END, b"OK")

    def opened(self, slot: int, lines: list[bytes]) -> int:
        if b"%d,CONNECT" % slot not in lines:
            raise ValueError(f"no CONNECT in {lines!r}")
        return slot

    def send(self, link_id: int, message: bytes) -> Command:
        prompt = Step(b"AT+CIPSEND=%d,%d\r\n" % (link_id, len(message)), self.PROMPT_END,
                      PROMPT, prompt=True)
        return Command("CIPSEND", (prompt, Step(message, self.SEND_END, b"SEND OK")), message)

    def close(self, link_id: int) -> Command:
        return line("CIPCLOSE", b"AT+CIPCLOSE=%d" % link_id, self.END, b"OK")


class Esp(Cip):
    """ESP-AT, either profile (MUX 1, active receive): joined first (E9),
    ``+IPD,<id>,`` frames, the prompt after the OK line (EspWire knows both
    forms), ``Recv <n> bytes`` before SEND OK; 1.7's ``\\r\\r\\n`` echo of ATE0
    is one more line of its reply."""

    name = "esp-at"
    SETUP = (line("ATE0", b"ATE0", Cip.END, b"OK"),
             line("CWJAP", b'AT+CWJAP="at-bridge","loadtest"', Cip.END, b"OK"),
             line("CIPMUX", b"AT+CIPMUX=1", Cip.END, b"OK"))

    def wire(self, on_line: OnLine, on_prompt: Callable[[], None], on_data: OnData) -> Wire:
        return EspWire(on_line, on_prompt, on_data)


class Skt(Dialect):
    """Ameba style: AT+SKTCLIENT, auto-receive (AT+SKTRECVCFG=1), AT+SKTSEND."""

    name = "skt"
    opens = "SKTCLIENT"
    MODES = {"tcp": 0, "udp": 1, "tls": 2}
    LOST = b"+SKTREAD:ERROR:"  # S7: +SKTREAD:ERROR:<n>,<con_id>
    CON_ID = b"+SKTCLIENT:con_id="
    SEND_END = (b"+SKTSEND:OK", b"+SKTSEND:ERROR")

    def wire(self, on_line: OnLine, on_prompt: Callable[[], None], on_data: OnData) -> Wire:
        return SktWire(on_line, on_data)

    def gone(self, line: bytes) -> int | None:
        if line.startswith(self.LOST):
            try:
                return int(line[len(self.LOST):].partition(b",")[2])
            except ValueError:
                return None
        return None

    @staticmethod
    def _line(name: str, text: bytes) -> Command:
        ok = b"+%s:OK" % name.encode()
        return line(name, text, (ok, b"+%s:ERROR" % name.encode()), ok)

    def reset(self) -> Command:  # AT+SKTDEL=0 closes every link (S10)
        return self._line("SKTDEL", b"AT+SKTDEL=0")

    def setup(self) -> tuple[Command, ...]:
        return (self._line("SKTRECVCFG", b"AT+SKTRECVCFG=1"),)

    def open_link(self, slot: int, proto: str, host: str, port: int) -> Command:
        text = b"AT+SKTCLIENT=%d,%s,%d" % (self.MODES[proto], host.encode(), port)
        return line(self.opens, text, (self.CON_ID, b"+SKTCLIENT:ERROR"), self.CON_ID)

    def opened(self, slot: int, lines: list[bytes]) -> int:
        try:
            return int(lines[-1][len(self.CON_ID):])
        except ValueError:
            raise ValueError(f"no con_id in {lines!r}") from None

    def send(self, link_id: int, message: bytes) -> Command:
        data = b"AT+SKTSEND=%d,%d:" % (len(message), link_id) + message
        return Command("SKTSEND", (Step(data, self.SEND_END, b"+SKTSEND:OK"),), message)

    def close(self, link_id: int) -> Command:
        return self._line("SKTDEL", b"AT+SKTDEL=%d" % link_id)


DIALECTS: dict[str, Dialect] = {dialect.name: dialect for dialect in (Cip(), Esp(), Skt())}
