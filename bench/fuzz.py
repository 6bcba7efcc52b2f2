"""Long fuzz run of the sans-IO AT core (framer + argument parsers), per dialect.

    python bench/fuzz.py [--dialect skt|cip|esp-at|all] [--inputs 1000000] [--seconds N]
                         [--esp-at-version 2.4|1.7|both] [--seed S] [--out DIR]
    python bench/fuzz.py --replay FILE

A fast generator (plain ``random``) builds mutated inputs: random bytes,
valid command lines with mutated arguments, counted-payload heads with random
counts and payloads, transparent bursts with escapes inside, escapes alone and
near misses, clock advances and links going away, chunked and timed at
random. They run through bridge/testing/fuzz_model.py's ``Harness``: the real
``Framer`` configured as the dialect configures it, the real argument parsers
reacting as the dialect does, and a reference model checking every event and
the state after every drain (the same invariants as tests/test_fuzz_core.py).

An input is one generated input (a line, a payload command, a burst, an
escape, a silence, a lost link). Inputs run in sessions of up to
``SESSION_INPUTS`` on a fresh harness, each session with its own seed and
configuration (guard, line limit, payload limit; for ESP-AT the profile, 2.4
or 1.7, at random unless ``--esp-at-version`` names one). A session that raises is a
crash (any exception other than the model's Violation) or a violation; the
first ``KEEP`` of each distinct kind are saved as self-contained reproducers
(``python FILE`` replays one), the first of them shrunk (greedy removal of
actions).

With ``--dialect all`` the dialects run in parallel, one process each. The
last line per dialect is ``<dialect>: <n> inputs, <c> crashes, <v> violations
in <t> s``; the exit status is 1 on any crash or violation.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pprint
import random
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from queue import Empty

from bridge.testing.fuzz_model import TICK, Harness, Violation, replay

SESSION_INPUTS = (20, 120)  # inputs per session: uniform in this range
KEEP = 3  # reproducers saved per distinct failure
SHRINK_SECONDS = 20.0

# -- vocabulary -----------------------------------------------------------------------

SPECIAL = [b"\r", b"\n", b"\r\n", b"\x00", b":", b"AT+", b"----", b"+++", b"-", b"+", b"\xff",
           b",", b'"', b" ", b"AT+SKTSEND=3,1:", b"AT+SKTTT=1\r\n", b"AT+CIPSEND\r\n", b"\r\r",
           b"\n\n", b"AT\r\n", b"--", b"++", b"----\r\n", b"=", b"?"]
NUMBERS = [b"0", b"1", b"-1", b"2", b"5", b"9", b"10", b"255", b"1460", b"2047", b"2048",
           b"2049", b"4096", b"4097", b"7200", b"7201", b"65535", b"65536", b"2147483647",
           b"9999999999", b"10000000000", b"12", b"13", b"-12", b"-13", b"+5", b"05", b"0x10",
           b"1e3", b"", b" ", b"\xb2", b"00000000001"]
TOKENS = [b",", b'"', b" ", b"=", b"?", b":", b"\x00", b"AT+", b'""', b",,", b"TCP", b"udp",
          b"SSL", b'"DTLS"', b"4", b"1.2.3.4", b"::1", b"fe80::1%eth0", b"256.1.1.1",
          b"example.com", b"-host", b".host", b"a" * 60, b"\xff\xfe", b"\t", b"AT"]

SKT_TEMPLATES = [
    b"AT+SKTSTATE", b"AT+SKTCLIENT=0,127.0.0.1,5000", b"AT+SKTCLIENT=1,example.com,53,4000",
    b'AT+SKTCLIENT=2, "host.example" , 443', b"AT+SKTSERVER=0,5000", b"AT+SKTSERVER=1,6000",
    b"AT+SKTSERVER=2,443", b"AT+SKTDEL=1", b"AT+SKTDEL=0", b"AT+SKTREAD=1,1500",
    b"AT+SKTREAD=3,2048", b"AT+SKTRECVCFG=1", b"AT+SKTRECVCFG=0", b"AT+SKTTT=1",
    b"AT+SKTSEND=5,1", b"AT+ SKTSEND=5,1", b"AT+SKTTT?", b"AT+SKTSTATE=?",
]
CIP_TEMPLATES = [
    b"AT", b"ATE0", b"ATE1", b"AT+GMR", b"AT+RST", b"AT+CIPMUX=0", b"AT+CIPMUX=1",
    b"AT+CIPMUX?", b"AT+CIPMODE=0", b"AT+CIPMODE=1", b"AT+CIPMODE?", b"AT+CIPMODE",
    b'AT+CIPSTART="TCP","192.168.1.2",8080', b'AT+CIPSTART=0,"TCP","example.com",80,60',
    b'AT+CIPSTART="UDP","10.0.0.1",5000,6000', b'AT+CIPSTART=1,"DTLS","10.0.0.1",5684',
    b'AT+CIPSTART=2,"TCP","0.0.0.0",0,0,8081,"0.0.0.0"', b'AT+CIPSTART="SSL","h.example",443',
    b'AT+CIPSTART=3,1,"10.0.0.3",9,"7","10.0.0.1"', b"AT+CIPSEND=5", b"AT+CIPSEND=0,5",
    b'AT+CIPSEND=0,5,"10.0.0.9",53', b"AT+CIPSEND", b"AT+CIPCLOSE", b"AT+CIPCLOSE=0",
    b"AT+CIPCLOSE=5", b"AT+CIPSTATUS?", b'AT+CIPDNS=1,"8.8.8.8","8.8.4.4"', b"AT+CIPDNS=0",
    b"AT+CIPDNS=1", b"AT+CIPDNS?", b'AT+CIPDOMAIN="example.com"', b'AT+PING="1.1.1.1"',
    b'AT+CIPSNTPCFG=1,8,"pool.ntp.org","a.example","b.example"', b"AT+CIPSNTPCFG=0,-12",
    b"AT+CIPSNTPTIME?", b"AT+SYSSTORE=0", b"AT+SYSSTORE?", b'AT+CIPSSLCPSK="k","h"',
]


ESP_TEMPLATES = [
    b"AT", b"ATE0", b"ATE1", b"AT+GMR", b"AT+RST", b"AT+RESTORE", b"AT+GSLP=100",
    b'AT+CWJAP="ssid","pw"', b'AT+CWJAP="a\\,b","p\\"w",,1', b"AT+CWQAP", b"AT+CWMODE=1",
    b"AT+CWMODE=0,1", b"AT+CWMODE?", b"AT+CWLAP", b'AT+CWLAP="ssid"', b"AT+CWSTATE?",
    b"AT+CIPMUX=0", b"AT+CIPMUX=1", b"AT+CIPMUX?", b"AT+CIPMODE=0", b"AT+CIPMODE=1",
    b'AT+CIPSTART="TCP","192.168.1.2",8080', b'AT+CIPSTART=0,"SSL","example.com",443,60',
    b'AT+CIPSTART="UDP","0.0.0.0",0,5000,2', b'AT+CIPSTART=1,"UDP","10.0.0.1",53,,1',
    b'AT+CIPSTARTEX="TCP","10.0.0.1",80', b"AT+CIPSEND=5", b"AT+CIPSEND=0,5",
    b'AT+CIPSEND=0,5,"10.0.0.9",53', b"AT+CIPSEND", b"AT+CIPSENDEX=5", b"AT+CIPSENDEX=0,8",
    b"AT+CIPCLOSE", b"AT+CIPCLOSE=0", b"AT+CIPCLOSE=5", b"AT+CIPCLOSEMODE=0,1",
    b"AT+CIPSTATUS", b"AT+CIPSTATE?", b"AT+CIPRECVMODE=1", b"AT+CIPRECVTYPE=0,1",
    b"AT+CIPRECVDATA=0,64", b"AT+CIPRECVLEN?", b"AT+CIPDINFO=1", b"AT+CIPSERVER=1,8080",
    b'AT+CIPSERVER=1,443,"SSL",0', b"AT+CIPSERVER=0,1", b"AT+CIPSERVER?",
    b"AT+CIPSERVERMAXCONN=2", b"AT+CIPSTO=10", b"AT+CIPSSLCCONF=0,3,0,0", b"AT+CIPSSLCCONF?",
    b'AT+CIPSSLCSNI=0,"sni.example"', b'AT+CIPSSLCALPN=0,2,"h2","http/1.1"',
    b'AT+CIPDOMAIN="example.com"', b'AT+PING="1.1.1.1"', b'AT+CIPDNS=1,"1.1.1.1",,"8.8.8.8"',
    b'AT+CIPSNTPCFG=1,8,"pool.ntp.org"', b"AT+CIPSNTPTIME?", b"AT+SYSTIMESTAMP?",
    b"AT+UART_CUR=115200,8,1,0,0", b"AT+UART_DEF?", b"AT+SYSSTORE=0", b"AT+SYSLOG=1",
    b"AT+CWLAPOPT=1,31", b'AT+CWHOSTNAME="dev"', b"AT+CIPTCPOPT=0,-1,1,0,60", b"?",
    # 1.7's names (ERROR in 2.4)
    b'AT+CWJAP_CUR="ssid","pw"', b'AT+CWJAP_DEF="a","b"', b"AT+CWMODE_CUR=1",
    b"AT+CWMODE_DEF=0", b"AT+CWMODE_CUR?", b"AT+CIPSTA_CUR?", b'AT+CIPSTA_DEF="10.0.0.2"',
    b"AT+CIPSTAMAC_CUR?", b"AT+CWDHCP_CUR=1,1", b'AT+CIPDNS_DEF=1,"1.1.1.1"',
    b"AT+CIPDNS_CUR?", b"AT+SYSMSG_CUR=1", b"AT+UART=115200,8,1,0,0", b"AT+CIPSSLSIZE=4096",
]


class Generator:
    """Builds one session's actions, input by input, from the harness's state."""

    def __init__(self, rng: random.Random, harness: Harness) -> None:
        self.rng = rng
        self.h = harness
        self.templates = {"skt": SKT_TEMPLATES, "cip": CIP_TEMPLATES,
                          "esp-at": ESP_TEMPLATES}[harness.dialect]
        guard = harness.guard_ticks
        self.below = max(0, int(guard - 0.5))
        self.at = -int(-guard // 1)

    # -- pieces --------------------------------------------------------------------------

    def data(self, size: int = 24) -> bytes:
        rng = self.rng
        parts = []
        for _ in range(rng.randint(0, size // 2)):
            roll = rng.random()
            if roll < 0.45:
                parts.append(rng.choice(SPECIAL))
            elif roll < 0.9:
                parts.append(rng.randbytes(rng.randint(1, 6)))
            else:
                parts.append(rng.randbytes(rng.randint(6, 200)))
        return b"".join(parts)

    def gap(self, kind: str = "any") -> int:
        rng = self.rng
        roll = rng.random()
        if kind == "short" or roll < 0.6:
            return rng.randint(0, 3) if rng.random() < 0.7 else rng.randint(0, self.below)
        if kind == "silence" or roll < 0.95:
            return rng.choice([self.below, self.at, self.at + 1, self.at * 2, self.at * 6])
        return rng.choice([int(1 / TICK), int(30 / TICK)])

    def pieces(self, data: bytes, kind: str = "any", lead: int = 0) -> list[tuple[int, bytes]]:
        rng = self.rng
        if not data:
            return [(lead, b"")]
        roll = rng.random()
        if roll < 0.4:
            cuts = []
        elif roll < 0.9:
            cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(1, 5)))
        else:
            cuts = list(range(1, len(data)))[:64]  # byte by byte (up to 64)
        chunks, start = [], 0
        for cut in cuts:
            chunks.append(data[start:cut])
            start = cut
        chunks.append(data[start:])
        return [(lead if i == 0 else self.gap(kind), chunk) for i, chunk in enumerate(chunks)]

    def feed(self, data: bytes, kind: str = "any", lead: int = 0,
             batch: bool | None = None) -> tuple:
        if batch is None:
            batch = self.rng.random() < 0.15
        return ("feed", self.pieces(data, kind, lead), batch)

    def terminator(self) -> bytes:
        return self.rng.choice([b"\r\n", b"\r\n", b"\r", b"\n", b"\r\n\r\n", b""])

    def mutate(self, line: bytes) -> bytes:
        rng = self.rng
        out = bytearray(line)
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.3:  # a number -> a boundary value
                numbers = [m.span() for m in re.finditer(rb"-?\d+", bytes(out))]
                if numbers:
                    start, end = rng.choice(numbers)
                    out[start:end] = rng.choice(NUMBERS)
                    continue
            at = rng.randint(0, len(out))
            if roll < 0.55:
                out[at:at] = rng.choice(TOKENS)
            elif roll < 0.7:
                out[at:at + rng.randint(1, 6)] = b""
            elif roll < 0.8:
                out[at:at + 1] = bytes([rng.randrange(256)])
            elif roll < 0.9:  # an argument twice, or cut short
                comma = out.rfind(b",")
                out = out + out[comma:] if comma > 0 and rng.random() < 0.5 else out[:at]
            else:
                out = bytearray(out.swapcase() if rng.random() < 0.5 else out.replace(b'"', b""))
        return bytes(out)

    # -- inputs -------------------------------------------------------------------------------

    def next_input(self) -> list[tuple]:
        """One input: the actions that feed it (with declarations where the
        outcome is known without the model)."""
        h, rng = self.h, self.rng
        roll = rng.random()
        if h.transparent:
            if roll < 0.35:
                return [self.feed(self.data(), "short", lead=self.gap())]
            if roll < 0.5:
                return self.escape_alone()
            if roll < 0.65:
                return self.near_miss()
            if roll < 0.75:
                return [("advance", self.gap("silence"))]
            if roll < 0.85:
                return [("lose", rng.random() < 0.5), self.feed(self.data(), "short",
                                                                  lead=self.gap())]
            if roll < 0.93:
                return [self.feed(rng.randbytes(rng.randint(0, 300)))]
            return [self.feed(self.mutate(rng.choice(self.templates)) + self.terminator())]
        if roll < 0.12:
            return self.line(rng.choice(self.templates) + self.terminator())
        if roll < 0.32:
            return [self.feed(self.mutate(rng.choice(self.templates)) + self.terminator())]
        if roll < 0.42:
            line = self.data().replace(b"\r", b"").replace(b"\n", b"")
            return self.line(line + self.terminator())
        if roll < 0.47:
            return self.long_line()
        if roll < 0.65:
            if h.skt:
                return self.skt_send()
            if h.dialect == "esp-at" and rng.random() < 0.3:
                return self.esp_send_ex()
            return self.cip_send()
        if roll < 0.75:
            return self.enter()
        if roll < 0.85:
            return [self.feed(rng.randbytes(rng.randint(0, 200)) if rng.random() < 0.5
                              else self.data(60))]
        if roll < 0.95:
            return [("advance", self.gap())]
        return [("lose", False)]

    def line(self, data: bytes) -> list[tuple]:
        """A line with its terminator, declared when fed from a clean state."""
        h = self.h
        body = data.rstrip(b"\r\n")
        plain = body and b"\r" not in body and b"\n" not in body and len(body) < len(data)
        if h.skt and body.startswith(b"AT+SKTSEND=") and b":" in body:
            plain = False
        if not (plain and h.clean_command()):
            return [self.feed(data)]
        expected = ("too_long",) if len(body) > h.line_limit else ("line", body)
        return [("declare", [expected]), self.feed(data), ("declared",)]

    def long_line(self) -> list[tuple]:
        rng, h = self.rng, self.h
        size = h.line_limit + rng.choice([-1, 0, 1, 2, rng.randint(3, 3 * h.line_limit)])
        prefix = rng.choice([b"", b"AT+X=", b"AT+SKTSEND=", b"AT+SKTSEND=5,1", b"AT+CIPSEND="])
        body = bytearray(prefix + b"y" * max(0, size - len(prefix)))
        if rng.random() < 0.5 and body:
            at = min(max(h.line_limit + rng.randint(-2, 2), len(prefix)), len(body) - 1)
            body[at] = ord(":")
        return self.line(bytes(body) + self.terminator())

    def skt_send(self) -> list[tuple]:
        rng, h = self.rng, self.h
        roll = rng.random()
        n = rng.randint(1, 40) if roll < 0.8 else rng.randint(1, h.payload_limit)
        count = str(n).encode() if rng.random() < 0.85 else rng.choice(NUMBERS)
        args = rng.choice([b",1", b",9", b",0", b",x", b"", b",1,10.0.0.1,5000",
                           b', 1 , "1.2.3.4" ,80', b",1,2", b",1,::1,53"])
        head = b"AT+SKTSEND=" + count + args
        valid = count.isdigit() and len(count) <= 10 and h.reactions.send_accepted(int(count))
        size = int(count) if valid else rng.randint(0, 40)
        if rng.random() < 0.1:
            size = max(0, size + rng.randint(-3, 3))  # too few or too many bytes
        payload = (self.data(size + 8) + rng.randbytes(size))[:size]
        after = rng.choice([b"", b"\r\n", b"AT\r\n", b""])
        data = head + b":" + payload + after
        if valid and size == int(count) and len(head) <= h.line_limit and b":" not in head \
                and h.clean_command():
            return [("declare", [("head", head), ("payload", payload)]), self.feed(data),
                    ("declared",)]
        return [self.feed(data)]

    def send_setup(self) -> list[tuple]:
        """Half the time from a clean state, the lines that open link 0 first."""
        h = self.h
        if self.rng.random() < 0.5 and h.clean_command():
            setup = h.reactions.send_setup()
            if setup:
                return [self.feed(setup)]
        return []

    def cip_send(self) -> list[tuple]:
        rng, h = self.rng, self.h
        actions = self.send_setup()
        n = rng.randint(1, 40) if rng.random() < 0.9 else rng.randint(1, 2100)
        form = rng.choice(["n", "n", "0,n", "1,n", "n,host", "0,n,host", "0", "", "n,", "0,0"])
        args = form.replace("n", str(n)).replace("host", '"10.0.0.2",7000').encode()
        if rng.random() < 0.15:
            args = self.mutate(args)
        line = b"AT+CIPSEND=" + args
        payload = (self.data(n + 8) + rng.randbytes(n))[:n]
        end = rng.choice([b"\r\n", b"\r", b"\n"])
        data = line + end + payload
        if end == b"\r" and payload.startswith(b"\n"):
            pass  # G1: that LF belongs to the line end, the payload is a byte short
        elif form in ("n", "0,n") and args == form.replace("n", str(n)).encode() \
                and not actions and h.reactions.send_accepted(n, form) and h.clean_command():
            return [("declare", [("line", line), ("payload", payload)]), self.feed(data),
                    ("declared",)]
        return actions + [self.feed(data)]

    def esp_send_ex(self) -> list[tuple]:
        """E22: AT+CIPSENDEX: the data ends at the count or at the terminator."""
        rng = self.rng
        actions = self.send_setup()
        n = rng.randint(1, 60) if rng.random() < 0.9 else rng.randint(1, 8300)
        form = rng.choice(["n", "0,n", "1,n"])
        line = b"AT+CIPSENDEX=" + form.replace("n", str(n)).encode()
        parts = [rng.choice([b"\\", b"0", b"\\0", b"\\\\0", b"\\\\", b"x", b"\r\n"])
                 for _ in range(rng.randint(0, 12))]
        payload = (b"".join(parts) + self.data(n) + rng.randbytes(n))[:rng.randint(0, n + 4)]
        return actions + [self.feed(line + b"\r\n" + payload
                                    + rng.choice([b"", b"\r\n", b"AT\r\n"]))]

    def enter(self) -> list[tuple]:
        rng, h = self.rng, self.h
        prefix = b"p" * h.left if h.sub == "payload" else b""
        data = prefix + b"\r\n" + h.reactions.enter_sequence()
        if rng.random() < 0.3:  # data queued right behind it while the port was busy
            return [self.feed(data + self.data(), batch=True)]
        return [self.feed(data)]

    def escape_alone(self) -> list[tuple]:
        """G5: silence, the escape (SKT: any gaps, maybe a line end), silence."""
        rng, h = self.rng, self.h
        actions: list[tuple] = [("advance", self.gap("silence") if rng.random() < 0.5
                                 else self.at)]
        escape = b"----" + rng.choice([b"", b"\r", b"\n", b"\r\n"]) if h.skt else b"+++"
        feed = ("feed", self.pieces(escape, "any" if h.skt else "short"), False)
        actions += [feed, ("advance", rng.choice([self.at, self.at + 1, self.gap("silence")]))]
        return actions

    def near_miss(self) -> list[tuple]:
        """G5: an escape whose silence before, between or after may fall short."""
        rng, h = self.rng, self.h
        escape = b"----" if h.skt else b"+++"
        if rng.random() < 0.3:
            escape = escape[:rng.randint(1, len(escape))] * rng.randint(1, 3)
        actions = [("feed", self.pieces(escape, "any", lead=self.gap()), False)]
        if rng.random() < 0.7:
            actions.append(self.feed(self.data(8), "short", lead=self.gap()))
        return actions


# -- running ----------------------------------------------------------------------------


def signature(exc: BaseException) -> str:
    """What makes two failures the same kind (numbers and byte strings left out)."""
    if isinstance(exc, Violation):
        text = str(exc)
        text = re.sub(r"b(['\"]).*?(?<!\\)\1", "b'..'", text)
        text = re.sub(r"\d+(\.\d+)?", "N", text)
        return "violation: " + text[:120]
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "/bridge/" in f.filename] or frames
    where = f"{Path(inside[-1].filename).name}:{inside[-1].lineno}" if inside else "?"
    return f"crash: {type(exc).__name__} at {where}"


def run_actions(dialect: str, config: dict, actions: list[tuple]) -> BaseException | None:
    try:
        replay(dialect, config, actions)
    except Exception as exc:  # noqa: BLE001 - every exception is a finding
        return exc
    return None


def shrink(dialect: str, config: dict, actions: list[tuple], sig: str) -> list[tuple]:
    """Greedy: drop blocks of actions, halving the block size, while the same
    kind of failure still happens."""
    stop = time.monotonic() + SHRINK_SECONDS
    block = max(1, len(actions) // 2)
    while block >= 1 and time.monotonic() < stop:
        start, changed = 0, False
        while start < len(actions) and time.monotonic() < stop:
            trial = actions[:start] + actions[start + block:]
            exc = run_actions(dialect, config, trial)
            if exc is not None and signature(exc) == sig:
                actions, changed = trial, True
            else:
                start += block
        if not changed:
            block //= 2
    return actions


def save(out: Path, dialect: str, seed: int, config: dict, actions: list[tuple],
         exc: BaseException) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    kind = "violation" if isinstance(exc, Violation) else "crash"
    path = out / f"{dialect}-{kind}-{seed}.py"
    trace = "".join(traceback.format_exception(exc, chain=False)).rstrip()
    path.write_text(
        f'"""at-bridge fuzz reproducer: {dialect}, session seed {seed}.\n\n'
        f"{signature(exc)}\n\nReplay: python {path}\n\"\"\"\n\n"
        "from bridge.testing.fuzz_model import replay\n\n"
        f"CONFIG = {config!r}\n"
        f"ACTIONS = {pprint.pformat(actions, width=100)}\n\n"
        f"replay({dialect!r}, CONFIG, ACTIONS)\n\n"
        + "".join(f"# {line}\n" for line in trace.splitlines()))
    return path


def fuzz(dialect: str, inputs: int, seconds: float | None, seed: int, out: Path,
         esp_at_versions: tuple[str, ...] = ("2.4", "1.7")) -> tuple[str, int]:
    """Run one dialect; returns its summary line and its number of failures."""
    master = random.Random(f"{seed}-{dialect}")
    start = time.monotonic()
    stop = start + seconds if seconds else None
    done = crashes = violations = sessions = 0
    kinds: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    next_report = start + 30
    while done < inputs and (stop is None or time.monotonic() < stop):
        session_seed = master.getrandbits(48)
        rng = random.Random(session_seed)
        config = {"line_limit": rng.choice([64, 64, 100, 4096]),
                  "guard": rng.choice([1 / 64, 0.02, 0.02, 0.05]),
                  "payload_limit": 8192 if dialect == "esp-at" else rng.choice([2048, 4096])}
        if dialect == "esp-at":
            config["esp_at_version"] = rng.choice(esp_at_versions)
            stats[f"profile {config['esp_at_version']}"] += 1
        harness = Harness(dialect, **config)
        generator = Generator(rng, harness)
        actions: list[tuple] = []
        count = min(rng.randint(*SESSION_INPUTS), inputs - done)
        try:
            for _ in range(count):
                for action in generator.next_input():
                    actions.append(action)
                    harness.run(action)
                done += 1
            harness.finish()
        except Exception as exc:  # noqa: BLE001 - every exception is a finding
            done += 1
            sig = signature(exc)
            if isinstance(exc, Violation):
                violations += 1
            else:
                crashes += 1
            kinds[sig] += 1
            if kinds[sig] <= KEEP:
                small = shrink(dialect, config, actions, sig) if kinds[sig] == 1 else actions
                again = run_actions(dialect, config, small)
                path = save(out, dialect, session_seed, config, small, again or exc)
                print(f"{dialect}: {sig}\n    reproducer: {path} ({len(small)} actions)",
                      flush=True)
        sessions += 1
        stats.update(harness.stats)
        now = time.monotonic()
        if now >= next_report:
            next_report = now + 30
            print(f"{dialect}: ... {done} inputs, {crashes} crashes, {violations} violations "
                  f"in {now - start:.0f} s", flush=True)
    elapsed = time.monotonic() - start
    seen = ", ".join(f"{key} {stats[key]}" for key in (
        "CommandLine", "CommandHead", "Payload", "LineTooLong", "enter", "TransparentData",
        "EscapeSeen", "lose", "lose_mid_drain", "deadlines", "bytes")) + "".join(
        f", {key} sessions {stats[key]}" for key in sorted(stats) if key.startswith("profile"))
    print(f"{dialect}: {sessions} sessions; events and actions: {seen}", flush=True)
    for sig, number in kinds.most_common():
        print(f"{dialect}:   {number} x {sig}", flush=True)
    line = (f"{dialect}: {done} inputs, {crashes} crashes, {violations} violations "
            f"in {elapsed:.1f} s")
    return line, crashes + violations


def worker(queue: multiprocessing.Queue, *args: object) -> None:
    queue.put(fuzz(*args))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialect", choices=["skt", "cip", "esp-at", "all"], default="all")
    parser.add_argument("--inputs", type=int, default=1_000_000,
                        help="inputs per dialect (default 1000000)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop a dialect after this long even if --inputs is not reached")
    parser.add_argument("--esp-at-version", choices=["2.4", "1.7", "both"], default="both",
                        help="the ESP-AT profile each session runs (default: either, at random)")
    parser.add_argument("--seed", type=int, default=None, help="master seed (default: random)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/at-bridge-fuzz"),
                        help="where reproducers go (default /tmp/at-bridge-fuzz)")
    parser.add_argument("--replay", type=Path, default=None,
                        help="run a saved reproducer and show what it raises")
    args = parser.parse_args(argv)
    if args.replay is not None:
        os.execv(sys.executable, [sys.executable, str(args.replay)])
    seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    dialects = ["skt", "cip", "esp-at"] if args.dialect == "all" else [args.dialect]
    print(f"fuzz: seed {seed}, {args.inputs} inputs per dialect"
          + (f", at most {args.seconds:g} s" if args.seconds else "")
          + f", reproducers in {args.out}", flush=True)
    versions = ("2.4", "1.7") if args.esp_at_version == "both" else (args.esp_at_version,)
    if len(dialects) == 1:
        results = [fuzz(dialects[0], args.inputs, args.seconds, seed, args.out, versions)]
        failed = 0
    else:
        queue: multiprocessing.Queue = multiprocessing.Queue()
        workers = [multiprocessing.Process(target=worker, args=(queue, d, args.inputs,
                                                                args.seconds, seed, args.out,
                                                                versions))
                   for d in dialects]
        for each in workers:
            each.start()
        results = []
        while len(results) < len(workers):
            try:
                results.append(queue.get(timeout=1.0))
            except Empty:
                if not any(each.is_alive() for each in workers) and queue.empty():
                    break
        for each in workers:
            each.join()
        failed = sum(1 for each in workers if each.exitcode) + len(workers) - len(results)
    by_dialect = {line.split(":")[0]: (line, bad) for line, bad in results}
    for dialect in dialects:
        if dialect in by_dialect:
            print(by_dialect[dialect][0])
        else:
            print(f"{dialect}: the fuzzing process died")
    failed += sum(bad for _, bad in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
