"""A real host library, unmodified: Adafruit's adafruit_espatcontrol with
adafruit_requests drives an esp-at port (profile 2.4) as it drives an ESP32.

The daemon runs as a user runs it (``at-bridge run --config``); the library
runs on CPython in a subprocess (tests/adafruit_host/drive.py: it is
synchronous and blocking), with pyserial on the port's pseudo-terminal as its
UART. The peers are real servers on 127.0.0.1: Python's http.server speaking
HTTP/1.1 keep-alive, the same over TLS with a certificate for "localhost"
from a trustme CA that is the port's tls_ca_file, and a TCP echo server.
tests/adafruit_host/requirements.txt pins the libraries (installed with
--no-deps); espat_cpython.py there mends the library's two CPython bugs and
nothing else.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import trio
import trustme
from conftest import StartPort, TcpServer

from bridge import __version__
from bridge.output import HOST_READ_WAIT
from bridge.testing.spawn import TomlText, write_config
from bridge.testing.trio_daemon import Daemon

DRIVE = Path(__file__).parent / "adafruit_host" / "drive.py"
DRIVE_LIMIT = 120.0  # seconds for the whole drive; it takes about 15 on an idle machine
STEP_LIMIT = 30.0  # seconds for one step (the library's own retries can run for minutes)
SSID, PASSWORD, BSSID = "workshop", "pass phrase", "02:00:5e:10:00:01"
NETWORK = TomlText(f'[{{ssid = "{SSID}", password = "{PASSWORD}", bssid = "{BSSID}", '
                   'channel = 11, rssi = -42}]')
ECHO_PAYLOAD = bytes(range(256)) * 16  # as drive.py sends it

# Bodies of a few KiB: each answer spans several +IPD frames.
PAGES = {path: (f"{path} ".encode() + bytes(range(32, 127))) * 40
         for path in ("/first", "/second", "/secure")}


def describe(body: bytes) -> str:
    """As drive.py reports a body: its length and the start of its SHA-256."""
    return f"{len(body)} {hashlib.sha256(body).hexdigest()[:16]}"


def board_address() -> str:
    """The IPv4 address the kernel gives the board on its default route (a
    UDP connect sends nothing; it only picks the route and the source)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))  # TEST-NET-2: off-link, via the default route
        return probe.getsockname()[0]


class Pages(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, with a Content-Length on every answer
    server: Site

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body = PAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # pytest shows what matters: the drive's lines and the counts


class Site(http.server.ThreadingHTTPServer):
    """http.server on 127.0.0.1, over TLS when given a context; it counts
    the connections it accepted and the paths it was asked for."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Pages)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.connections = 0
        self.requests: list[str] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


@contextmanager
def serving(site: Site) -> Iterator[Site]:
    thread = threading.Thread(target=site.serve_forever, name=f"site-{site.port}")
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        thread.join()
        site.server_close()


class Echo:
    """A TCP echo server; it keeps what it received to compare."""

    def __init__(self) -> None:
        self.received = bytearray()

    async def handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            async for data in stream:
                self.received += data
                await stream.send_all(data)


async def test_adafruit_espatcontrol_drives_the_port(nursery: trio.Nursery,
                                                    tmp_path: Path) -> None:
    """Issue's host-library test over E2, E4, E9-E12, E14, E16-E19, E21,
    E24, E26, E28, E29: begin, join, address, name, scan, ping, two GETs on
    one keep-alive link, HTTPS, an echo of every byte value, disconnect."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(tls)

    echo = Echo()
    listeners = await nursery.start(partial(trio.serve_tcp, echo.handle, 0, host="127.0.0.1"))
    echo_port = listeners[0].socket.getsockname()[1]

    link = str(tmp_path / "esp")
    config = write_config(tmp_path / "at-bridge.toml", {"state_dir": str(tmp_path / "state")}, [
        {"name": "esp", "device": f"pty:{link}", "dialect": "esp-at",
         "bind_address": "127.0.0.1", "tls_ca_file": str(ca_file), "wifi_networks": NETWORK}])
    daemon = await Daemon.start(config, tmp_path / "daemon.log")
    try:
        await daemon.wait_ready([link], timeout=10)
        with serving(Site()) as plain, serving(Site(tls)) as secure:
            started = time.monotonic()
            with trio.fail_after(DRIVE_LIMIT):
                drive = await trio.run_process(
                    [sys.executable, str(DRIVE), link, str(plain.port),
                     str(secure.port), str(echo_port), "--ssid", SSID, "--password", PASSWORD,
                     "--step-timeout", str(STEP_LIMIT)],
                    capture_stdout=True, capture_stderr=True, check=False)
            took = time.monotonic() - started
    finally:
        stopped = await daemon.stop()

    lines = drive.stdout.decode().splitlines()
    print(f"drive took {took:.1f} s\n{drive.stderr.decode()}\n{drive.stdout.decode()}")
    assert drive.returncode == 0, f"{lines}\n{daemon.log_tail()}"
    assert lines[:8] == [
        f"OK open {link}",
        f"OK begin AT version:2.4.0.0(at-bridge {__version__} - esp-at 2.4)",
        f"OK connect {SSID}",
        f"OK remote_AP {SSID} {BSSID} 11 -42",
        "OK is_connected True",
        f"OK ip {board_address()}",
        "OK nslookup localhost 127.0.0.1",
        "OK scan 1",
    ]
    assert re.fullmatch(r"OK ping \d+ms", lines[8])
    assert lines[9:] == [
        f"OK http1 200 {describe(PAGES['/first'])}",
        f"OK http2 200 {describe(PAGES['/second'])} same-link",
        f"OK https 200 {describe(PAGES['/secure'])}",
        f"OK echo {describe(ECHO_PAYLOAD)}",
        "OK disconnect False",
    ]
    assert (plain.connections, plain.requests) == (1, ["/first", "/second"])
    assert (secure.connections, secure.requests) == (1, ["/secure"])
    assert echo.received == ECHO_PAYLOAD
    assert stopped.returncode == 0 and not stopped.killed


async def test_a_frame_after_a_reply_waits_until_the_host_read_it(
        start_port: StartPort, tcp_server: TcpServer) -> None:
    """E26 on a pty: the first unsolicited frame after a command's final
    reply waits, beyond urc_gap_ms, until the host has read the reply (what
    adafruit_espatcontrol needs when the scheduler runs it late: it reads
    SEND OK in chunks and drops a read that ends with anything else), and
    no longer than HOST_READ_WAIT for a host that does not read."""
    device = await start_port(dialect="esp-at")
    await device.expect(b"\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    await device.command(b'AT+CWJAP="net","pw"', b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")
    await device.send(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % tcp_server.port)
    peer = await tcp_server.accept()
    await peer.send(b"late")
    await trio.sleep(0.2)  # ten gaps of 20 ms, the host reading nothing
    await device.expect(b"CONNECT\r\n\r\nOK\r\n")
    assert device.pending == b""  # one read took all there was: the reply alone
    await device.expect(b"\r\n+IPD,4:late")

    await device.send(b"AT\r\n")
    await trio.sleep(0.1)
    await peer.send(b"unread")
    await trio.sleep(HOST_READ_WAIT + 0.3)
    await device.expect(b"\r\nOK\r\n")
    assert device.pending == b"\r\n+IPD,6:unread"  # written without waiting for the host
