"""The real command, end to end: ``at-bridge run`` and ``at-bridge check-config``
as subprocesses, a real pty as the UART and real sockets as the peers.

Every wait is bounded (``trio.fail_after``) and every process started here is
killed in a ``finally``, so a broken daemon fails a test instead of hanging or
leaking into the rest of the suite.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import termios
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from conftest import WAIT, Device, Peer, TcpServer, open_skt_client, plug_serial_device, unplug

MODULE = [sys.executable, "-m", "bridge"]
EXIT_WITHIN = 5.0  # seconds from SIGTERM/SIGINT to the process's exit
STATE = b"AT+SKTSTATE"
STATE_OK = b"\r\n+SKTSTATE:OK\r\n"
PTS = re.compile(r"/dev/pts/\d+")


def script() -> list[str]:
    """The ``at-bridge`` console script installed next to this interpreter."""
    path = Path(sys.executable).parent / "at-bridge"
    if not path.exists():
        pytest.fail(f"{path} is missing: install the package (pip install -e .)")
    return [str(path)]


def environment(tmp_path: Path) -> dict[str, str]:
    """The test's environment, with persisted state kept inside tmp_path."""
    env = {key: value for key, value in os.environ.items() if key != "STATE_DIRECTORY"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


class Bridge:
    """A running ``at-bridge run``: its stdout read line by line, its stderr in a file."""

    def __init__(self, process: trio.Process, stderr_path: Path) -> None:
        self.process = process
        self.stderr_path = stderr_path
        self.stdout = bytearray()  # everything read from stdout so far
        self._unread = 0  # offset of the first byte line() has not returned

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def line(self, timeout: float = WAIT) -> str:
        """The next line on stdout, without its newline."""
        assert self.process.stdout is not None
        with trio.fail_after(timeout):
            while b"\n" not in self.stdout[self._unread:]:
                data = await self.process.stdout.receive_some(65536)
                assert data, (f"stdout closed after {bytes(self.stdout)!r}; "
                              f"exit {self.process.poll()}; stderr:\n{self.stderr()}")
                self.stdout += data
        end = self.stdout.index(b"\n", self._unread)
        line = bytes(self.stdout[self._unread:end]).decode()
        self._unread = end + 1
        return line

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``; the exit code, which must come within EXIT_WITHIN s."""
        self.process.send_signal(signum)
        with trio.fail_after(EXIT_WITHIN):
            return await self.process.wait()

    async def all_stdout(self) -> bytes:
        """Everything the process wrote on stdout (call once it has exited)."""
        assert self.process.stdout is not None
        with trio.fail_after(WAIT):
            while data := await self.process.stdout.receive_some(65536):
                self.stdout += data
        return bytes(self.stdout)


@asynccontextmanager
async def running(tmp_path: Path, *args: str, command: list[str] | None = None
                  ) -> AsyncIterator[Bridge]:
    """``at-bridge run ARGS`` for the duration of the block; killed on the way out."""
    stderr_path = tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}.txt"
    with open(stderr_path, "wb") as stderr:
        process = await trio.lowlevel.open_process(
            [*(command or MODULE), "run", *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr, cwd=tmp_path, env=environment(tmp_path))
    try:
        yield Bridge(process, stderr_path)
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                with trio.move_on_after(WAIT):
                    await process.wait()
            assert process.stdout is not None
            await process.stdout.aclose()


async def run_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """A command that must finish by itself (check-config, or a run that fails)."""
    with trio.fail_after(WAIT):
        return await trio.run_process(
            [*MODULE, *args], stdin=subprocess.DEVNULL, capture_stdout=True,
            capture_stderr=True, check=False, cwd=tmp_path, env=environment(tmp_path))


class Terminal(Device):
    """conftest.Device without its own tty.setraw: the line settings the
    daemon left on the pty are the ones a terminal program finds."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.attributes = termios.tcgetattr(fd)
        self.stream = trio.lowlevel.FdStream(fd)
        self.pending = bytearray()


def assert_raw(attributes: list) -> None:
    """What tty.setraw / cfmakeraw clear: no echo, no line editing, no signals,
    no CR/NL translation either way."""
    iflag, oflag, _cflag, lflag = attributes[:4]
    assert not lflag & (termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG
                        | termios.IEXTEN)
    assert not oflag & termios.OPOST
    assert not iflag & (termios.ICRNL | termios.INLCR | termios.IGNCR | termios.IXON
                        | termios.ISTRIP)


# --- at-bridge run ---------------------------------------------------------------


async def test_run_prints_a_raw_pty_that_answers_and_survives_reopen(tmp_path: Path) -> None:
    """``at-bridge run``: one line, /dev/pts/N; raw before it is printed (G8),
    so no echo and no newline translation; a terminal can close and reopen."""
    async with running(tmp_path, command=script()) as bridge:
        path = await bridge.line()
        assert PTS.fullmatch(path), path

        terminal = Terminal(path)
        assert_raw(terminal.attributes)
        await terminal.command(STATE, STATE_OK)
        await terminal.expect_silence()  # nothing more: in particular no echo of the command
        await terminal.aclose()

        for _ in range(2):  # a terminal program comes and goes; the daemon stays
            terminal = Terminal(path)
            assert_raw(terminal.attributes)
            await terminal.command(STATE, STATE_OK)
            await terminal.aclose()
        device = Device(path)
        await device.command(STATE, STATE_OK)
        await device.expect_silence()
        await device.aclose()

        assert await bridge.stop() == 0, bridge.stderr()
        assert await bridge.all_stdout() == (path + "\n").encode()


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale-link"])
async def test_run_pty_link_removed_on_sigterm(tmp_path: Path, stale: bool) -> None:
    """``run --pty LINK --dialect skt``: LINK -> the slave, printed, answers;
    SIGTERM exits 0 within 5 s and removes LINK. A stale link left by a crash
    is replaced."""
    link = tmp_path / "uart"
    if stale:
        os.symlink("/dev/pts/nonexistent", link)
    async with running(tmp_path, "--pty", str(link), "--dialect", "skt") as bridge:
        assert await bridge.line() == str(link)
        assert link.is_symlink()
        target = os.readlink(link)
        assert PTS.fullmatch(target), target

        device = Device(str(link))
        assert os.ttyname(device.stream.fileno()) == target
        await device.command(STATE, STATE_OK)
        await device.expect_silence()
        await device.aclose()

        assert await bridge.stop(signal.SIGTERM) == 0, bridge.stderr()
        assert not os.path.lexists(link)
        assert await bridge.all_stdout() == f"{link}\n".encode()


@pytest.mark.parametrize("version, gmr", [(None, b"AT version:2.4.0.0("),
                                           ("1.7", b"AT version:1.7.4.0(")])
async def test_run_pty_esp_at_with_its_profile(tmp_path: Path, version: str | None,
                                               gmr: bytes) -> None:
    """``run --pty LINK --dialect esp-at [--esp-at-version V]``: the greeting
    (E7) and the profile's version line (E2)."""
    link = tmp_path / "esp"
    extra = ["--esp-at-version", version] if version else []
    async with running(tmp_path, "--pty", str(link), "--dialect", "esp-at", *extra) as bridge:
        assert await bridge.line() == str(link)
        device = Device(str(link))
        await device.expect(b"\r\nready\r\n")
        await device.send(b"ATE0\r\nAT+GMR\r\n")
        await device.read_until(rb"ATE0\r+\n\r\nOK\r\n")
        await device.expect(gmr)
        await device.aclose()
        assert await bridge.stop(signal.SIGTERM) == 0, bridge.stderr()


async def test_esp_at_version_needs_the_esp_at_dialect(tmp_path: Path) -> None:
    result = await run_command(tmp_path, "run", "--pty", str(tmp_path / "x"),
                               "--esp-at-version", "1.7")
    assert_one_error_line(result, "--esp-at-version applies only with --dialect esp-at")


@asynccontextmanager
async def bridge_with_link(tmp_path: Path, tcp_server: TcpServer, *args: str,
                           payload: bytes) -> AsyncIterator[tuple[Bridge, Peer, Path]]:
    """``run --pty LINK ARGS`` with a TCP link open that has carried ``payload``."""
    link = tmp_path / "uart"
    async with running(tmp_path, "--pty", str(link), *args) as bridge:
        assert await bridge.line() == str(link)
        device = Device(str(link))
        peer = await open_skt_client(device, tcp_server)
        try:
            await device.send(b"AT+SKTSEND=%d,1:" % len(payload) + payload)
            await peer.expect(payload)
            await device.expect(b"\r\n+SKTSEND:OK\r\n")
            yield bridge, peer, link
        finally:
            await peer.aclose()
            await device.aclose()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_signal_closes_links_and_exits_0(tmp_path: Path, tcp_server: TcpServer,
                                               signum: int) -> None:
    """SIGINT or SIGTERM with a TCP link open: the peer sees the link close, exit 0."""
    async with bridge_with_link(tmp_path, tcp_server, payload=b"hi") as (bridge, peer, link):
        bridge.process.send_signal(signum)
        await peer.expect_eof()
        with trio.fail_after(EXIT_WITHIN):
            code = await bridge.process.wait()
        assert code == 0, bridge.stderr()
        assert not os.path.lexists(link)


def two_port_config(tmp_path: Path) -> Path:
    config = tmp_path / "two.toml"
    config.write_text(
        "[daemon]\n"
        'log_level = "warning"\n'
        "\n"
        "[[port]]\n"
        'name = "a"\n'
        f'device = "pty:{tmp_path}/a"\n'
        'bind_address = "127.0.0.1"\n'
        "\n"
        "[[port]]\n"
        'name = "b"\n'
        f'device = "pty:{tmp_path}/b"\n'
        'bind_address = "127.0.0.1"\n')
    return config


async def test_run_config_with_two_ports(tmp_path: Path) -> None:
    """``run --config FILE``: both links printed, both answer, both removed on SIGTERM."""
    links = {f"{tmp_path}/a", f"{tmp_path}/b"}
    async with running(tmp_path, "--config", str(two_port_config(tmp_path))) as bridge:
        printed = {await bridge.line(), await bridge.line()}
        assert printed == links
        devices = [Device(path) for path in sorted(links)]
        try:
            assert len({os.readlink(path) for path in links}) == 2  # two distinct ptys
            for device in devices:
                await device.command(STATE, STATE_OK)
            for device in reversed(devices):
                await device.command(STATE, STATE_OK)
                await device.expect_silence(0.1)
        finally:
            for device in devices:
                await device.aclose()
        assert await bridge.stop() == 0, bridge.stderr()
        assert not any(os.path.lexists(path) for path in links)
        stdout = (await bridge.all_stdout()).decode()
        assert stdout.endswith("\n") and set(stdout.splitlines()) == links
        assert len(stdout.splitlines()) == 2


async def test_version_and_license(tmp_path: Path) -> None:
    """``at-bridge --version``; the installed metadata says MIT and ships LICENSE."""
    with trio.fail_after(WAIT):
        result = await trio.run_process([*script(), "--version"], capture_stdout=True,
                                        capture_stderr=True)
    version = importlib.metadata.version("at-bridge")
    assert (result.stdout, result.stderr) == (f"at-bridge {version}\n".encode(), b"")
    metadata = importlib.metadata.metadata("at-bridge")
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert "MIT License" in (Path(__file__).parent.parent / "LICENSE").read_text()


# --- at-bridge check-config ------------------------------------------------------

# Every key and its default, as README.md documents them (state_dir has none).
DAEMON_DEFAULTS = {"log_format": "console", "log_level": "info", "trace": False}
PORT_DEFAULTS = {
    "dialect": "skt", "baudrate": 115200, "flow_control": "none", "guard_ms": 20,
    "line_limit": 4096, "payload_limit": 4096, "link_buffer": 65536, "uart_buffer": 65536,
    "connect_timeout": 10.0, "bind_address": "0.0.0.0", "dns_server_timeout": 5.0,
    "dns_timeout": 15.0, "ping_timeout": 5.0, "sntp_timeout": 5.0, "sntp_interval": 3600.0,
    "tls_verify": True, "tls_handshake_timeout": 10.0, "esp_at_version": "2.4",
    "wifi_networks": [], "boot_joined": False, "ipd_chunk": 1460, "urc_gap_ms": 20,
    "ready_ms": 300, "dtls_idle_timeout": 60.0,
}

MINIMAL = '[[port]]\nname = "meter1"\ndevice = "pty:"\n'


async def check_config(tmp_path: Path, text: str, name: str = "config.toml"
                       ) -> subprocess.CompletedProcess[bytes]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return await run_command(tmp_path, "check-config", str(path))


async def test_check_config_prints_every_default(tmp_path: Path) -> None:
    result = await check_config(tmp_path, MINIMAL)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    printed = result.stdout.decode()
    assert "baudrate = 115200\n" in printed
    data = tomllib.loads(printed)
    assert data == {"daemon": DAEMON_DEFAULTS,
                    "port": [{"name": "meter1", "device": "pty:", **PORT_DEFAULTS}]}


ROUND_TRIPS = {
    "defaults": MINIMAL,
    "non-defaults": (
        "[daemon]\n"
        "state_dir = '/var/lib/at \"bridge\" \\ é'\n"
        'log_format = "json"\n'
        "trace = true\n"
        "\n"
        "[[port]]\n"
        'name = "meter1"\n'
        'device = "/dev/serial/by-id/usb-FTDI_x"\n'
        'baudrate = 9600\n'
        'flow_control = "rtscts"\n'
        "guard_ms = 0\n"
        "connect_timeout = 3\n"
        "\n"
        "[[port]]\n"
        'name = "pty.2"\n'
        'device = "pty:/run/at-bridge/x"\n'
        "connect_timeout = 0.00001\n"
        'bind_address = "127.0.0.1"\n'),
    # Valid strings (any path may hold them) that TOML must escape when printed.
    "control-characters": (
        "[[port]]\n"
        'name = "odd"\n'
        'device = "/dev/odd\\nname\\u0001\\u007f\\ttab"\n'),
}


@pytest.mark.parametrize("text", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
async def test_check_config_output_round_trips(tmp_path: Path, text: str) -> None:
    """The printed config is TOML, means the same as the input plus the
    defaults, and checking it again prints it unchanged."""
    first = await check_config(tmp_path, text)
    assert first.returncode == 0, first.stderr
    printed = first.stdout.decode()
    data = tomllib.loads(printed)
    given = tomllib.loads(text)
    assert data["daemon"] == {**DAEMON_DEFAULTS, **given.get("daemon", {})}
    assert data["port"] == [{**PORT_DEFAULTS, **port} for port in given["port"]]

    second = await check_config(tmp_path, printed, "printed.toml")
    assert second.returncode == 0, second.stderr
    assert second.stdout.decode() == printed


# (id, file text or None for no file, text the error line must contain)
BAD_CONFIGS = [
    ("daemon-unknown-key", '[daemon]\nbogus = 1\n' + MINIMAL, "daemon.bogus"),
    ("port-unknown-key", MINIMAL + "bogus = 1\n", "port[0].bogus"),
    ("top-unknown-key", "bogus = 1\n" + MINIMAL, "bogus"),
    ("wrong-type", MINIMAL + 'baudrate = "fast"\n', "port[0].baudrate"),
    ("daemon-wrong-type", '[daemon]\ntrace = "yes"\n' + MINIMAL, "daemon.trace"),
    ("baudrate-too-low", MINIMAL + "baudrate = 10\n", "port[0].baudrate"),
    ("guard-negative", MINIMAL + "guard_ms = -1\n", "port[0].guard_ms"),
    ("timeout-zero", MINIMAL + "connect_timeout = 0\n", "port[0].connect_timeout"),
    ("second-port", MINIMAL + MINIMAL.replace("meter1", "meter2") + "baudrate = 5000000\n",
     "port[1].baudrate"),
    ("bad-flow-control", MINIMAL + 'flow_control = "maybe"\n', "port[0].flow_control"),
    ("bad-dialect", MINIMAL + 'dialect = "xyz"\n', "port[0].dialect"),
    ("bad-log-level", '[daemon]\nlog_level = "loud"\n' + MINIMAL, "daemon.log_level"),
    ("bad-name", '[[port]]\nname = "a b"\ndevice = "pty:"\n', "port[0].name"),
    ("missing-device", '[[port]]\nname = "meter1"\n', "port[0].device"),
    ("missing-name", '[[port]]\ndevice = "pty:"\n', "port[0].name"),
    ("duplicate-names", MINIMAL + MINIMAL, "port[1].name"),
    ("invalid-toml", MINIMAL + "[[port]\n", "config.toml"),
    ("not-utf-8", None, "config.toml"),
    ("missing-file", None, "config.toml"),
    ("no-port", '[daemon]\nlog_level = "debug"\n', "port"),
    ("empty-file", "", "port"),
    ("empty-port-list", "port = []\n", "port"),
    ("port-not-a-table", "port = 3\n", "port"),
]


def write_bad_config(tmp_path: Path, case: str, text: str | None) -> Path:
    path = tmp_path / "config.toml"
    if case == "not-utf-8":
        path.write_bytes(MINIMAL.encode().replace(b"meter1", b"meter\xff"))
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    return path


def assert_one_error_line(result: subprocess.CompletedProcess[bytes], naming: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr containing ``naming``
    (for a key, followed by a colon: "at-bridge: port[0].baudrate: expected ...")."""
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert naming in stderr, stderr
    assert result.stdout == b""


@pytest.mark.parametrize(("case", "text", "key"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
async def test_check_config_rejects_with_one_line(tmp_path: Path, case: str, text: str | None,
                                                  key: str) -> None:
    path = write_bad_config(tmp_path, case, text)
    result = await run_command(tmp_path, "check-config", str(path))
    assert_one_error_line(result, (str(path) if key == "config.toml" else key) + ":")


RUN_BAD = ["port-unknown-key", "baudrate-too-low", "invalid-toml", "not-utf-8", "missing-file",
           "no-port"]


@pytest.mark.parametrize(("case", "text", "key"), [c for c in BAD_CONFIGS if c[0] in RUN_BAD],
                         ids=RUN_BAD)
async def test_run_rejects_bad_config_with_one_line(tmp_path: Path, case: str, text: str | None,
                                                    key: str) -> None:
    """``run --config bad.toml`` exits 2 at once with the same one line."""
    path = write_bad_config(tmp_path, case, text)
    result = await run_command(tmp_path, "run", "--config", str(path))
    assert_one_error_line(result, (str(path) if key == "config.toml" else key) + ":")


# What check-config can know besides types and ranges: (id, extra text for
# the second half of a config whose first port is MINIMAL's, the exact line)
REFUSED = [
    ("same-device", '[[port]]\nname = "a"\ndevice = "/dev/null"\n'
     '[[port]]\nname = "b"\ndevice = "/dev/../dev/null"\n',
     "port[2].device: /dev/../dev/null is port[1]'s device too"),
    ("same-pty-link", '[[port]]\nname = "a"\ndevice = "pty:uart"\n'
     '[[port]]\nname = "b"\ndevice = "pty:./uart"\n',
     "port[2].device: pty:./uart is port[1]'s device too"),
    ("not-a-character-device", '[[port]]\nname = "a"\ndevice = "/"\n',
     "port[1].device: / is not a character device"),
    ("pty-link-over-a-file", '[[port]]\nname = "a"\ndevice = "pty:config.toml"\n',
     "port[1].device: config.toml exists and is not a symbolic link "
     "(a pty link replaces only a link)"),
    ("tls-file-missing", 'tls_ca_file = "/nonexistent/ca.pem"\n',
     "port[0].tls_ca_file: cannot read /nonexistent/ca.pem: No such file or directory"),
    ("tls-file-unreadable", 'tls_server_key_file = "/"\n',
     "port[0].tls_server_key_file: cannot read /: Is a directory"),
    ("bind-address-name", 'bind_address = "localhost"\n',
     "port[0].bind_address: 'localhost' is not an IP address"),
    ("bind-address-range", 'bind_address = "10.0.0.256"\n',
     "port[0].bind_address: '10.0.0.256' is not an IP address"),
    ("enum-dialect", 'dialect = "xyz"\n',
     """port[0].dialect: invalid value 'xyz', expected "cip", "esp-at" or "skt\""""),
    ("enum-flow-control", 'flow_control = "maybe"\n',
     """port[0].flow_control: invalid value 'maybe', expected "none", "rtscts" or "xonxoff\""""),
]


@pytest.mark.parametrize("command", ["check-config", "run"])
@pytest.mark.parametrize(("case", "extra", "line"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_config_refusals_name_the_key(tmp_path: Path, command: str, case: str,
                                            extra: str, line: str) -> None:
    """check-config and ``run --config`` refuse what can be known before
    running: exit 2, this exact line, nothing opened or printed."""
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL + extra)
    args = ["check-config", str(path)] if command == "check-config" else [
        "run", "--config", str(path)]
    result = await run_command(tmp_path, *args)
    assert (result.returncode, result.stdout, result.stderr.decode()) \
        == (2, b"", f"at-bridge: {line}\n")
    assert not os.path.lexists(tmp_path / "uart")


async def test_check_config_accepts_what_may_come_later(tmp_path: Path) -> None:
    """An absent device, an IPv6 bind address, TLS files that exist, "pty:"
    ports (no link) side by side, and a stale pty link are fine."""
    (tmp_path / "ca.pem").write_text("any text: it is read when a link needs it\n")
    os.symlink("/dev/pts/nonexistent", tmp_path / "stale")
    result = await check_config(tmp_path, MINIMAL + 'bind_address = "::1"\n'
                                f'tls_ca_file = "{tmp_path / "ca.pem"}"\n'
                                '[[port]]\nname = "b"\ndevice = "pty:"\n'
                                '[[port]]\nname = "c"\ndevice = "/dev/no-such-tty"\n'
                                '[[port]]\nname = "d"\ndevice = "pty:stale"\n')
    assert (result.returncode, result.stderr) == (0, b"")


async def test_run_config_with_pty_is_rejected(tmp_path: Path) -> None:
    """--pty and --dialect describe the one port of a config-less run."""
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL)
    result = await run_command(tmp_path, "run", "--config", str(path), "--pty",
                               str(tmp_path / "uart"))
    assert_one_error_line(result, "--pty")
    assert not os.path.lexists(tmp_path / "uart")


async def test_trace_logs_traffic_as_hex_and_text_with_port_and_con_id(
        tmp_path: Path, tcp_server: TcpServer) -> None:
    """--trace logs every byte moved, as hex and as escaped text beside it, one
    JSON event per line, with the port and (for link traffic) the con_id bound."""
    async with bridge_with_link(tmp_path, tcp_server, "--trace", "--log-format", "json",
                                payload=b"\x00\xffA\\") as (bridge, _, _):
        assert await bridge.stop() == 0
    events = [json.loads(line) for line in bridge.stderr().splitlines()]
    assert {"event": "link_tx", "con_id": 1, "hex": "00ff415c", "text": "\\x00\\xffA\\\\",
            "port": "uart"}.items() <= next(e for e in events if e["event"] == "link_tx").items()
    uart_rx = [e for e in events if e["event"] == "uart_rx"]
    assert b"AT+SKTSEND=4,1:\x00\xffA\\".hex() in "".join(e["hex"] for e in uart_rx)
    assert "AT+SKTSEND=4,1:\\x00\\xffA\\\\" in "".join(e["text"] for e in uart_rx)
    uart_tx = [e for e in events if e["event"] == "uart_tx"]
    assert b"\r\n+SKTSEND:OK\r\n".hex() in "".join(e["hex"] for e in uart_tx)
    assert "\\r\\n+SKTSEND:OK\\r\\n" in "".join(e["text"] for e in uart_tx)
    assert all(e.get("port") == "uart" for e in uart_rx + uart_tx)


# --- operational failures: one line, and the right outcome ------------------------


def assert_refused(result: subprocess.CompletedProcess[bytes], line: str) -> None:
    assert (result.returncode, result.stdout, result.stderr.decode()) \
        == (2, b"", f"at-bridge: {line}\n")


async def test_pty_link_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    link = tmp_path / "nodir" / "uart"
    result = await run_command(tmp_path, "run", "--pty", str(link))
    assert_refused(result, f"port uart: cannot link the pty at {link}: "
                           f"directory {tmp_path / 'nodir'} does not exist")


async def test_pty_link_never_replaces_a_file(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("mine\n")
    result = await run_command(tmp_path, "run", "--pty", str(mine))
    assert_refused(result, f"port[0].device: {mine} exists and is not a symbolic link "
                           "(a pty link replaces only a link)")
    assert mine.read_text() == "mine\n"


async def test_second_daemon_leaves_the_first_ones_pty_link_alone(tmp_path: Path) -> None:
    """A second daemon naming a pty link the first holds refuses to start,
    and the link still leads to the first daemon's terminal."""
    link = tmp_path / "uart"
    async with running(tmp_path, "--pty", str(link)) as first:
        assert await first.line() == str(link)
        target = os.readlink(link)
        config = tmp_path / "second.toml"
        config.write_text(f'[[port]]\nname = "other"\ndevice = "pty:{tmp_path}/other"\n'
                          f'[[port]]\nname = "same"\ndevice = "pty:{link}"\n')
        result = await run_command(tmp_path, "run", "--config", str(config))
        assert_refused(result, f"port same: pty link {link} is served by another at-bridge "
                               f"(pid {first.process.pid})")
        assert not os.path.lexists(tmp_path / "other")  # nothing was opened
        assert os.readlink(link) == target
        device = Device(str(link))
        await device.command(STATE, STATE_OK)
        await device.aclose()
        assert await first.stop() == 0, first.stderr()
    assert not os.path.lexists(link) and not os.path.lexists(f"{link}.lock")
    async with running(tmp_path, "--pty", str(link)) as third:  # free again
        assert await third.line() == str(link)


async def test_second_daemon_refuses_a_device_the_first_holds(tmp_path: Path) -> None:
    device, host = tmp_path / "ttyUSB0", tmp_path / "host"
    socat = await plug_serial_device(device, host)
    try:
        config = tmp_path / "usb.toml"
        config.write_text(f'[[port]]\nname = "usb"\ndevice = "{device}"\n')
        async with running(tmp_path, "--config", str(config)) as first:
            assert await first.line() == str(device)
            result = await run_command(tmp_path, "run", "--config", str(config))
            assert_refused(result, f"port usb: device {device} is locked by another process "
                                   "(another at-bridge, or a terminal program)")
            assert await first.stop() == 0, first.stderr()
    finally:
        unplug(socat)


async def test_metrics_address_in_use_exits_2_before_opening_a_port(tmp_path: Path) -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "metrics.toml"
        config.write_text(f'[daemon]\nmetrics_address = "127.0.0.1:{port}"\n'
                          f'[[port]]\nname = "m"\ndevice = "pty:{tmp_path}/m"\n')
        result = await run_command(tmp_path, "run", "--config", str(config))
    assert_refused(result, f"daemon.metrics_address: cannot listen on 127.0.0.1:{port}: "
                           "Address already in use")
    assert not os.path.lexists(tmp_path / "m")


async def test_device_that_is_not_a_terminal_is_retried_with_one_line(tmp_path: Path) -> None:
    """/dev/null is a character device but no terminal: one warning, no
    traceback, and the port keeps retrying (debug lines) with backoff."""
    config = tmp_path / "null.toml"
    config.write_text('[daemon]\nlog_format = "json"\nlog_level = "debug"\n'
                      '[[port]]\nname = "null"\ndevice = "/dev/null"\n')
    async with running(tmp_path, "--config", str(config)) as bridge:
        with trio.fail_after(WAIT):
            while bridge.stderr().count('"port_still_retrying"') < 3:
                await trio.sleep(0.05)
        assert await bridge.stop() == 0
    events = [json.loads(line) for line in bridge.stderr().splitlines()]
    assert [(e["event"], e["why"]) for e in events if e["level"] != "debug"
            and e["event"] != "stopping"] == [("port_failed", "/dev/null is not a terminal")]
    retries = [e for e in events if e["event"] == "port_still_retrying"]
    assert {e["why"] for e in retries} == {"/dev/null is not a terminal"}
