"""``at-bridge loadtest``: small real runs (a daemon subprocess, ptys, the
built-in echo server on 127.0.0.1) whose JSON report must add up, and the
parsers and checks it relies on, byte by byte.

Every run is bounded (``trio.fail_after``); the loadtest runs in its own
process group, killed whole (with the daemon it started) if it overruns.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from bridge.loadtest import cli as loadtest_cli
from bridge.loadtest import plot
from bridge.loadtest.check import DatagramCheck, StreamCheck
from bridge.loadtest.options import Options, OptionsError
from bridge.loadtest.progress import Progress
from bridge.loadtest.run import run
from bridge.loadtest.stats import Stats
from bridge.testing.wire import CipWire, EspWire, SktWire

RUN_WITHIN = 30.0  # seconds one small run may take on a loaded 2-core machine


async def loadtest(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """``python -m bridge loadtest ARGS --json``: exit code, report, stdout."""
    report = tmp_path / "report.json"

    async def kill_group(process: trio.Process) -> None:
        os.killpg(process.pid, signal.SIGKILL)

    with trio.fail_after(RUN_WITHIN):
        result = await trio.run_process(
            [sys.executable, "-m", "bridge", "loadtest", *args, "--json", str(report),
             "--quiet", "--settle", "0", "--timeout", "5", "--drain", "5"],
            stdin=subprocess.DEVNULL, capture_stdout=True, capture_stderr=True, check=False,
            start_new_session=True, deliver_cancel=kill_group, cwd=tmp_path)
    stdout = result.stdout.decode(errors="replace")
    assert report.exists(), f"no report; exit {result.returncode}\n{stdout}\n" \
                            f"{result.stderr.decode(errors='replace')}"
    return result.returncode, json.loads(report.read_text()), stdout


def assert_adds_up(report: dict[str, Any], ports: int, links: int) -> None:
    """Every byte came back, and the counts agree with each other."""
    assert report["errors"] == {}, report["error_examples"]
    assert report["links"] == {"requested": ports * links, "opened": ports * links, "failed": 0}
    assert report["ports"] == {"requested": ports, "ready": ports}
    messages, data = report["messages"], report["bytes"]
    assert messages["sent"] > 0
    assert messages["sent"] == messages["echoed"]
    assert data["sent"] == data["echoed"] == data["received"]
    assert data["sent"] == messages["sent"] * report["config"]["size"]
    assert data["lost"] == 0
    assert report["ok"] and report["every_byte_back"]
    assert report["latency"]["echo"]["count"] == messages["echoed"]
    assert sum(report["timeline"]["sent_bytes"]) == data["sent"]
    assert sum(report["timeline"]["echoed_bytes"]) == data["echoed"]
    assert report["daemon"]["exit_code"] == 0
    assert report["daemon"]["rss_kib"]["links_open"] > 0


@pytest.mark.parametrize("dialect, send, opened", [("cip", "CIPSEND", "CIPSTART"),
                                                    ("skt", "SKTSEND", "SKTCLIENT"),
                                                    ("esp-at", "CIPSEND", "CIPSTART")])
async def test_tcp_run_every_byte_back(tmp_path: Path, dialect: str, send: str,
                                       opened: str) -> None:
    code, report, stdout = await loadtest(
        tmp_path, "--echo", "--dialect", dialect, "--ports", "4", "--links", "3",
        "--duration", "2", "--size", "100")
    assert code == 0, stdout
    assert_adds_up(report, ports=4, links=3)
    commands = report["latency"]["command"]
    assert commands[send]["count"] == report["messages"]["sent"]
    assert commands[opened]["count"] == 12
    assert "PASS: every byte came back" in stdout


async def test_esp_at_17_run(tmp_path: Path) -> None:
    """ESP-AT 1.7 (E4, E21): the `\\r\\r\\n` echo and the `> ` prompt, 2048-byte
    messages (its largest send)."""
    code, report, stdout = await loadtest(
        tmp_path, "--echo", "--dialect", "esp-at", "--port-setting", 'esp_at_version="1.7"',
        "--ports", "2", "--links", "2", "--duration", "1", "--size", "2048")
    assert code == 0, stdout
    assert_adds_up(report, ports=2, links=2)
    assert report["latency"]["command"]["CIPSEND"]["count"] == report["messages"]["sent"]


async def test_udp_run_counted_messages(tmp_path: Path) -> None:
    """UDP, a message count instead of a duration, two messages in flight."""
    code, report, stdout = await loadtest(
        tmp_path, "--echo", "--dialect", "skt", "--proto", "udp", "--ports", "2",
        "--links", "3", "--messages", "150", "--window", "2", "--size", "512")
    assert code == 0, stdout
    assert_adds_up(report, ports=2, links=3)
    assert report["messages"]["sent"] == 2 * 3 * 150


async def test_tls_run_trusts_the_generated_ca(tmp_path: Path) -> None:
    """TLS to the built-in echo: the daemon verifies it with the CA in its config."""
    code, report, stdout = await loadtest(
        tmp_path, "--echo", "--dialect", "cip", "--proto", "tls", "--ports", "2",
        "--links", "2", "--messages", "50", "--size", "2048")
    assert code == 0, stdout
    assert_adds_up(report, ports=2, links=2)


async def test_lost_bytes_fail_the_run(tmp_path: Path) -> None:
    """An "echo" that drops a byte: the report says lost bytes, the exit is 1."""
    seen = 0

    async def lossy(stream: trio.SocketStream) -> None:
        nonlocal seen
        while data := await stream.receive_some(65536):
            seen += 1
            await stream.send_all(data[:-1] if seen == 20 else data)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, lossy, 0)
        port = listeners[0].socket.getsockname()[1]
        options = Options(dialect="cip", ports=1, links=2, target=("127.0.0.1", port),
                          messages=40, quiet=True, settle=0, timeout=1.0, drain=1.0)
        with trio.fail_after(RUN_WITHIN):
            report = await run(options.validate())
        nursery.cancel_scope.cancel()
    assert not report["ok"] and not report["every_byte_back"]
    assert report["bytes"]["lost"] >= 1
    assert report["errors"].get("corrupt_data", 0) + report["errors"].get("echo_timeout", 0) >= 1
    assert report["bytes"]["sent"] == report["bytes"]["echoed"] + report["bytes"]["lost"]


# -- the parsers: any split of the stream gives the same replies and frames -------------


def cip_stream() -> tuple[bytes, list[tuple[str, object]]]:
    payload = b"\r\n+IPD(1),3:\r\nOK\r\n>"  # frame syntax inside the data itself
    stream = (b"\r\nready\r\n" b"ATE0\r\n\r\nOK\r\n" b"0,CONNECT\r\nOK\r\n"
              b"\r\n>" + b"\r\n+IPD(0),%d:" % len(payload) + payload + b"SEND OK\r\n"
              b"\r\n+IPD(5),1:\n" b"3,CLOSED\r\n")
    events = [("line", b"ready"), ("line", b"ATE0"), ("line", b"OK"), ("line", b"0,CONNECT"),
              ("line", b"OK"), ("prompt", None), ("data", (0, payload)),
              ("line", b"SEND OK"), ("data", (5, b"\n")), ("line", b"3,CLOSED")]
    return stream, events


def esp_stream() -> tuple[bytes, list[tuple[str, object]]]:
    """ESP-AT with CIPMUX=1 (E16, E21, E24): the prompt after the OK line."""
    payload = b"\r\n+IPD,1,3:\r\nOK\r\n>"
    stream = (b"\r\nready\r\n" b"ATE0\r\n\r\nOK\r\n" b"0,CONNECT\r\n\r\nOK\r\n"
              b"\r\nOK\r\n\r\n>" + b"\r\n+IPD,0,%d:" % len(payload) + payload
              + b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n" b"\r\n+IPD,4,1:\n" b"3,CLOSED\r\n")
    events = [("line", b"ready"), ("line", b"ATE0"), ("line", b"OK"), ("line", b"0,CONNECT"),
              ("line", b"OK"), ("line", b"OK"), ("prompt", None), ("data", (0, payload)),
              ("line", b"Recv 5 bytes"), ("line", b"SEND OK"), ("data", (4, b"\n")),
              ("line", b"3,CLOSED")]
    return stream, events


def esp_17_stream() -> tuple[bytes, list[tuple[str, object]]]:
    """ESP-AT 1.7 (E4, E21): ATE0 echoed `\\r\\r\\n`, the prompt `\\r\\nOK\\r\\n> `."""
    payload = b"> \r\n+IPD,1,3:\r\nOK\r\n> "
    stream = (b"\r\nready\r\n" b"ATE0\r\r\n\r\nOK\r\n" b"0,CONNECT\r\n\r\nOK\r\n"
              b"\r\nOK\r\n> " + b"\r\n+IPD,0,%d:" % len(payload) + payload
              + b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n" b"\r\nOK\r\n> "
              b"\r\nRecv 1 bytes\r\n\r\nSEND OK\r\n" b"3,CLOSED\r\n")
    events = [("line", b"ready"), ("line", b"ATE0\r"), ("line", b"OK"),
              ("line", b"0,CONNECT"), ("line", b"OK"), ("line", b"OK"), ("prompt", None),
              ("data", (0, payload)), ("line", b"Recv 5 bytes"), ("line", b"SEND OK"),
              ("line", b"OK"), ("prompt", None), ("line", b"Recv 1 bytes"),
              ("line", b"SEND OK"), ("line", b"3,CLOSED")]
    return stream, events


def skt_stream() -> tuple[bytes, list[tuple[str, object]]]:
    payload = b"+SKTREAD:OK,2,1:\r\n\r\n+SKTSEND:OK\r\n"
    stream = (b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n"
              + b"+SKTREAD:OK,%d,1:" % len(payload) + payload + b"\r\n"
              b"\r\n+SKTSEND:OK\r\n" b"+SKTREAD:OK,1,9,127.0.0.1,5000:x\r\n"
              b"+SKTREAD:ERROR:7,2\r\n")
    events = [("line", b"+SKTCLIENT:OK"), ("line", b"+SKTCLIENT:con_id=1"),
              ("data", (1, payload)), ("line", b"+SKTSEND:OK"), ("data", (9, b"x")),
              ("line", b"+SKTREAD:ERROR:7,2")]
    return stream, events


def parse(dialect: str, stream: bytes, chunk: int) -> list[tuple[str, object]]:
    """Feed ``stream`` in pieces of ``chunk`` bytes; what the parser reported."""
    events: list[tuple[str, object]] = []

    def line(data: bytes) -> None:
        events.append(("line", data))

    def data(number: int, payload: bytes) -> None:
        events.append(("data", (number, payload)))

    def prompt() -> None:
        events.append(("prompt", None))

    wire: CipWire | SktWire = (SktWire(line, data) if dialect == "skt" else
                               (EspWire if dialect.startswith("esp-at") else CipWire)(
                                   line, prompt, data))
    for start in range(0, len(stream), chunk):
        wire.feed(stream[start:start + chunk])
    assert not wire.buffer
    return events


@pytest.mark.parametrize("dialect", ["cip", "skt", "esp-at", "esp-at 1.7"])
def test_wire_any_split(dialect: str) -> None:
    stream, expected = {"cip": cip_stream, "skt": skt_stream, "esp-at": esp_stream,
                        "esp-at 1.7": esp_17_stream}[dialect]()
    for chunk in (1, 2, 3, 5, 7, 64, len(stream)):
        assert parse(dialect, stream, chunk) == expected, chunk


# -- the checks ---------------------------------------------------------------------------


def test_stream_check_merged_and_split_echoes() -> None:
    stats = Stats()
    check = StreamCheck(stats, 0)
    check.expect(b"hello", 1.0)
    check.expect(b"world", 1.5)
    check.receive(b"hel", 2.0)
    assert check.in_flight == 2 and stats.messages_echoed == 0
    check.receive(b"lowo", 2.5)  # the end of one message and the start of the next
    assert check.in_flight == 1 and list(stats.echo) == [1.5]
    check.receive(b"rld", 3.0)
    assert check.in_flight == 0 and stats.bytes_echoed == 10 and check.owed() == 0


def test_stream_check_corrupt_byte_is_lost() -> None:
    stats = Stats()
    check = StreamCheck(stats, 0)
    check.expect(b"abcdef", 0.0)
    check.receive(b"abX", 1.0)
    assert check.failed and stats.errors["corrupt_data"] == 1
    assert check.owed() == 6 and stats.bytes_echoed == 0
    assert "stream byte 2" in stats.error_examples["corrupt_data"]


def test_datagram_check_lost_datagram() -> None:
    stats = Stats()
    check = DatagramCheck(stats, 0)
    for index, message in enumerate((b"one", b"two", b"three")):
        check.expect(message, float(index))
    check.receive(b"two", 5.0)  # "one" was lost
    assert stats.errors["datagram_lost"] == 1 and check.owed() == 3 + 5
    check.receive(b"three", 6.0)
    assert check.owed() == 3 and stats.messages_echoed == 2


# -- options and the command line --------------------------------------------------------


@pytest.mark.parametrize("settings, message", [
    ({"dialect": "cip", "links": 7}, "--links: 1..6"),
    ({"dialect": "skt", "links": 10}, "--links: 1..9"),
    ({"dialect": "cip", "size": 2049}, "--size: 1..2048"),
    ({"dialect": "skt", "size": 5000}, "--size: 1..4096"),
    ({"dialect": "esp-at", "size": 8193}, "--size: 1..8192"),
    ({"dialect": "esp-at", "size": 2049, "port_settings": (("esp_at_version", '"1.7"'),)},
     "--size: 1..2048"),
    ({"dialect": "esp-at", "port_settings": (("esp_at_version", '"1.5"'),)},
     'esp_at_version: "2.4" or "1.7"'),
])
def test_limits(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        Options(**settings).validate()


def test_plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(plot, "available", lambda: False)
    from bridge.cli import main

    assert main(["loadtest", "--echo", "--plot", "out.png"]) == loadtest_cli.EXIT_USAGE
    assert "pip install 'at-bridge[loadtest]'" in capsys.readouterr().err


def test_progress_without_tqdm_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """tqdm comes with the loadtest extra: without it the run goes on, bar-less,
    after one line saying what to install."""
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `from tqdm import ...` fails
    progress = Progress(Stats(), seconds=2.0, messages=None, enabled=True)
    progress.update(1.0)
    progress.close()
    assert capsys.readouterr().err == ("at-bridge loadtest: no progress bar: tqdm is not "
                                       "installed (pip install 'at-bridge[loadtest]')\n")


def test_progress_bar_shows_rates(capsys: pytest.CaptureFixture[str]) -> None:
    stats = Stats()
    stats.start_traffic(10.0)
    progress = Progress(stats, seconds=2.0, messages=None, enabled=True)
    progress.update(10.5)
    stats.messages_echoed, stats.bytes_echoed = 100, 1048576
    progress.update(11.0)
    progress.close()
    bar = capsys.readouterr().err
    assert "1.0/2.0 s" in bar and "200 msg/s 2.00 MiB/s errors 0" in bar, bar
