"""Drive Adafruit's ESP-AT host stack, unmodified, against an at-bridge port.

    drive.py PTY_PATH HTTP_PORT HTTPS_PORT ECHO_PORT [options]

adafruit_espatcontrol 0.11.7 and adafruit_requests 4.1.17 (requirements.txt)
run on CPython with a pyserial Serial on the port's pseudo-terminal as their
UART; the stand-in modules beside this file take the place of CircuitPython's
digitalio, busio and micropython, and espat_cpython.py mends the library's two
CPython bugs. The peers live on 127.0.0.1: HTTP_PORT an HTTP/1.1 keep-alive
server, HTTPS_PORT the same over TLS with a certificate for "localhost" (the
port verifies it against its tls_ca_file, as a module verifies on the module:
the host never sees a CA), ECHO_PORT a TCP echo server.

Each step prints one line, "OK <step> <details>", on stdout; the first failure
prints "FAIL <step>: <reason>" and exits 1. Everything the library prints
itself goes to stderr. Every step is bounded by --step-timeout seconds, since
the library's own loops can retry for minutes (begin() alone gives up only
after about 75 s of silence, and then without an error).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import signal
import sys
import time
from collections.abc import Callable

import adafruit_connection_manager
import adafruit_requests
import serial
from adafruit_espatcontrol import adafruit_espatcontrol_socket as pool
from espat_cpython import CPythonESP_ATcontrol

BAUDRATE = 115200
ECHO_PAYLOAD = bytes(range(256)) * 16  # every byte value, in frames of 1460, 1460 and 1176
ECHO_TIMEOUT = 2  # seconds of silence before the library's recv gives up (and its close waits)
HTTPS_HOST = "localhost"  # what the certificate names, and what SNI carries


class StepFailed(Exception):
    pass


class StepTimeout(Exception):
    pass


def check(condition: bool, reason: str) -> None:
    if not condition:
        raise StepFailed(reason)


def describe(body: bytes) -> str:
    return f"{len(body)} {hashlib.sha256(body).hexdigest()[:16]}"


class Drive:
    def __init__(self, args: argparse.Namespace, report: Callable[[str], None]) -> None:
        self.args = args
        self.report = report
        self.uart: serial.Serial | None = None
        self.esp: CPythonESP_ATcontrol | None = None
        self.session: adafruit_requests.Session | None = None
        self.kept_socket: object | None = None

    def step_open(self) -> str:
        # The library polls in_waiting before every read, so the timeout only
        # bounds a read that the pty would answer at once anyway.
        self.uart = serial.Serial(self.args.pty, BAUDRATE, timeout=1)
        self.esp = CPythonESP_ATcontrol(self.uart, BAUDRATE, reset_pin=None,
                                        debug=self.args.debug)
        pool.set_interface(self.esp)  # the socket API talks through this module
        return self.args.pty

    def step_begin(self) -> str:
        self.esp.begin()
        # begin() swallows its last failure; this flag is its only outcome.
        check(self.esp._initialized, "begin() never initialised the module")
        return self.esp.version or "(no version)"

    def step_connect(self) -> str:
        self.esp.connect({"ssid": self.args.ssid, "password": self.args.password})
        return self.args.ssid

    def step_remote_ap(self) -> str:
        ap = self.esp.remote_AP
        check(ap[0] == self.args.ssid, f"remote_AP is {ap!r}")
        return " ".join(str(field) for field in ap[:4])

    def step_is_connected(self) -> str:
        check(self.esp.is_connected, "is_connected is False")
        return "True"

    def step_ip(self) -> str:
        ip = self.esp.local_ip
        address = ipaddress.IPv4Address(ip)
        check(not address.is_unspecified, f"local_ip is {ip}")
        return ip

    def step_nslookup(self) -> str:
        ip = self.esp.nslookup(HTTPS_HOST)
        check(ip == "127.0.0.1", f"nslookup({HTTPS_HOST}) is {ip!r}")
        return f"{HTTPS_HOST} {ip}"

    def step_scan(self) -> str:
        networks = self.esp.scan_APs()
        check(networks is not None, "scan_APs gave up")
        check(any(self.args.ssid in network for network in networks),
              f"{self.args.ssid} not in {networks!r}")
        return str(len(networks))

    def step_ping(self) -> str:
        ms = self.esp.ping("127.0.0.1")
        check(ms is not None, "ping failed")
        return f"{ms}ms"

    def step_echo(self) -> str:
        # Through the library's socket API, one send then reads (its recv
        # gives one +IPD frame at a time); the connection manager would
        # resolve and pick TCP by itself, a bare socket is told.
        link = pool.socket()
        link.settimeout(ECHO_TIMEOUT)
        link.connect(("127.0.0.1", self.args.echo_port), self.esp.TYPE_TCP)
        link.send(ECHO_PAYLOAD)
        received = b""
        while len(received) < len(ECHO_PAYLOAD):
            chunk = link.recv(len(ECHO_PAYLOAD) - len(received))
            check(bool(chunk), f"no echo after {len(received)} bytes")
            received += chunk
        check(received == ECHO_PAYLOAD, f"echo differs: {describe(received)}")
        link.close()
        return describe(received)

    def get(self, url: str) -> tuple[int, bytes, object]:
        if self.session is None:
            context = adafruit_connection_manager.create_fake_ssl_context(pool, self.esp)
            self.session = adafruit_requests.Session(pool, context)
        response = self.session.get(url, timeout=10)
        link = response.socket  # .text closes the response and forgets it
        body = response.content
        check(response.status_code == 200, f"status {response.status_code}")
        return response.status_code, body, link

    def step_http1(self) -> str:
        # The library picks TCP from the port only for 80 and 1883.
        self.esp.conntype = self.esp.TYPE_TCP
        status, body, self.kept_socket = self.get(
            f"http://127.0.0.1:{self.args.http_port}/first")
        return f"{status} {describe(body)}"

    def step_http2(self) -> str:
        status, body, link = self.get(f"http://127.0.0.1:{self.args.http_port}/second")
        check(link is self.kept_socket, "the second GET opened a new link")
        return f"{status} {describe(body)} same-link"

    def step_https(self) -> str:
        status, body, _ = self.get(f"https://{HTTPS_HOST}:{self.args.https_port}/secure")
        return f"{status} {describe(body)}"

    def step_disconnect(self) -> str:
        self.esp.disconnect()
        check(not self.esp.is_connected, "still connected after disconnect()")
        return "False"

    def run(self) -> int:
        steps = [
            ("open", self.step_open),
            ("begin", self.step_begin),
            ("connect", self.step_connect),
            ("remote_AP", self.step_remote_ap),
            ("is_connected", self.step_is_connected),
            ("ip", self.step_ip),
            ("nslookup", self.step_nslookup),
            ("scan", self.step_scan),
            ("ping", self.step_ping),
            ("http1", self.step_http1),
            ("http2", self.step_http2),
            ("https", self.step_https),
            ("echo", self.step_echo),
            ("disconnect", self.step_disconnect),
        ]
        try:
            for name, step in steps:
                signal.setitimer(signal.ITIMER_REAL, self.args.step_timeout)
                started = time.monotonic()
                try:
                    details = step()
                except StepTimeout:
                    self.report(f"FAIL {name}: no result within {self.args.step_timeout} s")
                    return 1
                except Exception as error:  # the library raises many kinds
                    self.report(f"FAIL {name}: {type(error).__name__}: {error}")
                    return 1
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    print(f"step {name} took {time.monotonic() - started:.2f} s", file=sys.stderr)
                self.report(f"OK {name} {details}")
            return 0
        finally:
            if self.uart is not None:
                self.uart.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pty")
    parser.add_argument("http_port", type=int)
    parser.add_argument("https_port", type=int)
    parser.add_argument("echo_port", type=int)
    parser.add_argument("--ssid", default="at-bridge")
    parser.add_argument("--password", default="at-bridge-password")
    parser.add_argument("--step-timeout", type=float, default=30.0)
    parser.add_argument("--debug", action="store_true",
                        help="the library's own trace (it then also sends AT+CIPSTATUS)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    out = sys.stdout

    def report(line: str) -> None:
        print(line, file=out, flush=True)

    def on_alarm(signum: int, frame: object) -> None:
        raise StepTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    with contextlib.redirect_stdout(sys.stderr):
        return Drive(args, report).run()


if __name__ == "__main__":
    sys.exit(main())
