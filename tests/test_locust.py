"""``at-bridge locust``: real Locust processes (a local run, a master and
its workers), each worker with its own daemon on ptys, against real echo
servers on 127.0.0.1.

This process never imports Locust (it patches the standard library with
gevent, and Trio cannot run after that): the runs are subprocesses, each in
a session of its own with the daemon and echo server it starts, killed
whole if it overruns; every test checks that nothing of a session is left.
Every master gets a port of its own: workers that outlive a master join the
next one on the same port.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from bridge.loadtest.echo import EchoServer
from bridge.loadtest.options import OptionsError
from bridge.locust import command, settings

RUN_WITHIN = 40.0  # seconds a whole run may take on a loaded 2-core machine
GONE_WITHIN = 10.0  # seconds for a run's last processes (its daemons) to exit


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_session_gone(pgid: int) -> None:
    """Until no process of the session is left (the daemons it started)."""
    with trio.fail_after(GONE_WITHIN):
        while True:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            await trio.sleep(0.05)


async def locust_runs(cwd: Path, *runs: list[str]) -> list[Finished]:
    """``python -m bridge locust ARGS`` for each of ``runs``, all at once; each
    must be gone, with every process it started, by the end."""
    finished: list[Finished | None] = [None] * len(runs)

    async def drain(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
        while data := await stream.receive_some(65536):
            into += data

    async def one(index: int, args: list[str]) -> None:
        started = time.monotonic()
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "bridge", "locust", *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, cwd=cwd)
        out, err = bytearray(), bytearray()
        try:
            async with trio.open_nursery() as readers:
                assert process.stdout is not None and process.stderr is not None
                readers.start_soon(drain, process.stdout, out)
                readers.start_soon(drain, process.stderr, err)
                await process.wait()
        finally:
            with trio.CancelScope(shield=True):
                if process.returncode is None:  # overran: the whole session goes
                    os.killpg(process.pid, signal.SIGKILL)
                    await process.wait()
        seconds = time.monotonic() - started
        await wait_session_gone(process.pid)
        finished[index] = Finished(process.returncode, out.decode(errors="replace"),
                                   err.decode(errors="replace"), seconds)

    with trio.fail_after(RUN_WITHIN):
        async with trio.open_nursery() as nursery:
            for index, args in enumerate(runs):
                nursery.start_soon(one, index, args)
    return [run for run in finished if run is not None]


async def master_and_two_workers(cwd: Path, master: list[str],
                                 worker: list[str]) -> tuple[Finished, list[Finished]]:
    """A headless master and two workers on a port of their own."""
    port = str(free_port())
    runs = await locust_runs(cwd, ["--master", "--headless", "--expect-workers", "2",
                                   "--master-bind-port", port, "--atb-json", "summary.json",
                                   *master],
                             ["--worker", "--master-port", port, *worker],
                             ["--worker", "--master-port", port, *worker])
    return runs[0], runs[1:]


def summary_of(path: Path, run: Finished) -> dict[str, Any]:
    assert path.exists(), f"no summary; exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    return json.loads(path.read_text())


def request(summary: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found = [row for row in summary["requests"] if (row["type"], row["name"]) == (kind, name)]
    assert found, summary["requests"]
    return found[0]


def assert_every_byte_checked(summary: dict[str, Any]) -> None:
    messages, data = summary["messages"], summary["bytes"]
    assert summary["errors"] == {}, summary["error_examples"]
    assert messages["sent"] == messages["echoed"] > 0
    assert data["sent"] == data["echoed"] == data["received"] == messages["sent"] * 64
    assert data["lost"] == 0 and summary["every_byte_back"]
    assert summary["failures"] == 0 and summary["ok"]
    assert summary["verdict"] == "PASS: every byte came back"


@pytest.mark.parametrize("dialect, send", [("cip", "CIPSEND"), ("skt", "SKTSEND"),
                                           ("esp-at", "CIPSEND")])
async def test_local_run_checks_every_byte(tmp_path: Path, dialect: str, send: str) -> None:
    (run,) = await locust_runs(tmp_path, ["--headless", "-u", "6", "-r", "6", "-t", "3s",
                                          "--atb-echo", "--atb-dialect", dialect,
                                          "--atb-json", "summary.json"])
    summary = summary_of(tmp_path / "summary.json", run)
    assert run.returncode == 0, run.stdout + run.stderr
    assert_every_byte_checked(summary)
    echo = request(summary, "ECHO", f"{dialect}/tcp/64")
    assert echo["count"] > 0 and echo["failures"] == 0
    # each echo is one ECHO request; one may be cut short when the run stops
    assert summary["messages"]["echoed"] - 6 <= echo["count"] <= summary["messages"]["echoed"]
    assert request(summary, "AT", send)["count"] == summary["messages"]["sent"]
    # exact sub-millisecond percentiles, not Locust's whole milliseconds
    assert 0 < echo["p50_ms"] <= echo["p99_ms"] <= echo["max_ms"]
    assert any(echo[key] != int(echo[key]) for key in ("p50_ms", "p90_ms", "p99_ms"))
    (report,) = summary["workers"]
    assert report["links"] == {"opened": 6, "failed": 0}
    assert report["daemon"]["rss_kib"] > 0 and report["cpu_s"]["daemon"] > 0
    assert "PASS: every byte came back" in run.stdout


async def test_distributed_run_two_workers(tmp_path: Path) -> None:
    """One master, two workers each with its own daemon, one echo server."""
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(EchoServer("tcp", tmp_path).serve)
        master, workers = await master_and_two_workers(
            tmp_path, ["-u", "8", "-r", "8", "-t", "3s", "-H", f"tcp://{host}:{port}",
                       "--csv", "stats"], ["--atb-ports", "2"])
        nursery.cancel_scope.cancel()
    summary = summary_of(tmp_path / "summary.json", master)
    assert master.returncode == 0, master.stdout + master.stderr
    assert [run.returncode for run in workers] == [0, 0], [run.stderr for run in workers]
    assert_every_byte_checked(summary)
    assert len(summary["workers"]) == 2 and summary["missing"] == []
    for report in summary["workers"]:  # both contribute, each with its own daemon
        assert report["final"] and report["messages"]["echoed"] > 0
        assert report["links"]["opened"] == 4 and report["ports"] == 2
    assert len({report["daemon"]["pid"] for report in summary["workers"]}) == 2
    with open(tmp_path / "stats_stats.csv", newline="") as file:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(file)}
    echo = rows["ECHO", "skt/tcp/64"]
    assert int(echo["Request Count"]) > 0 and echo["Failure Count"] == "0"
    assert rows["AT", "SKTSEND"]["Failure Count"] == "0"


async def test_more_users_than_link_ids_fail_visibly(tmp_path: Path) -> None:
    """One CIP port has 6 link ids: 2 of 8 users fail, the 6 others run."""
    (run,) = await locust_runs(tmp_path, ["--headless", "-u", "8", "-r", "8", "-t", "2s",
                                          "--atb-echo", "--atb-dialect", "cip",
                                          "--atb-ports", "1", "--atb-json", "summary.json"])
    summary = summary_of(tmp_path / "summary.json", run)
    assert run.returncode == 1
    refused = request(summary, "AT", "CIPSTART")
    assert refused["failures"] == 2 and refused["count"] == 8
    assert summary["errors"] == {"no_free_link": 2}
    assert "all 1 ports x 6 link ids are taken" in summary["error_examples"]["no_free_link"]
    assert summary["workers"][0]["links"]["opened"] == 6
    assert summary["bytes"]["sent"] == summary["bytes"]["echoed"] > 0
    assert summary["verdict"] == "FAIL: every byte came back, but see above"
    assert "no free link id" in run.stdout + run.stderr


async def test_target_closing_links_mid_run(tmp_path: Path) -> None:
    """An echo server that closes every connection after 0.3 s: failures are
    counted, the run ends on time, every daemon and worker exits."""
    connections = 0

    async def echo_then_close(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        with trio.move_on_after(0.3):
            while data := await stream.receive_some(65536):
                await stream.send_all(data)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, host="127.0.0.1"),
                                        echo_then_close, 0)
        port = listeners[0].socket.getsockname()[1]
        master, workers = await master_and_two_workers(
            tmp_path, ["-u", "4", "-r", "4", "-t", "3s", "-H", f"tcp://127.0.0.1:{port}",
                       "--atb-timeout", "1"], ["--atb-ports", "1", "--atb-dialect", "cip"])
        nursery.cancel_scope.cancel()
    summary = summary_of(tmp_path / "summary.json", master)
    assert master.returncode == 1
    assert summary["errors"].get("link_closed", 0) >= 4, summary["errors"]
    failed = sum(row["failures"] for row in summary["requests"])
    assert failed == summary["failures"] >= 4
    assert connections > 4  # the users opened their links again
    assert len(summary["workers"]) == 2 and summary["missing"] == []
    assert all(run.returncode in (0, 1) for run in workers), [run.stderr for run in workers]
    assert summary["verdict"].startswith("FAIL")
    # -t 3s, the start of four processes and a bounded stop
    assert master.seconds < 3 + 12, master.seconds


def test_no_trio_where_locust_runs(tmp_path: Path) -> None:
    """What Locust imports leaves Trio out: gevent patches the standard library."""
    code = ("import sys, locust, bridge.locust.hooks, bridge.locust.user; "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'trio'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=RUN_WITHIN, check=True, cwd=tmp_path)
    assert result.stdout.strip() == "[]"


# -- options, without Locust ------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("tcp://127.0.0.1:7", ("tcp", "127.0.0.1", 7)),
    ("udp://example.org:5000", ("udp", "example.org", 5000)),
    ("tls://[::1]:443", ("tls", "::1", 443)),
])
def test_targets(text: str, expected: tuple[str, str, int]) -> None:
    target = settings.parse_target(text)
    assert (target.proto, target.host, target.port) == expected


@pytest.mark.parametrize("text", ["http://host:80", "tcp://host", "tcp://host:x", "tcp://:7",
                                  "tcp://host:7/path"])
def test_bad_targets(text: str) -> None:
    with pytest.raises(OptionsError, match="-H: .* is not tcp://, udp:// or tls://HOST:PORT"):
        settings.parse_target(text)
    with pytest.raises(OptionsError, match="no target: give -H .*, or --atb-echo"):
        settings.parse_target(None)


def test_options_errors_name_the_atb_options(tmp_path: Path) -> None:
    """A bad --atb- option: one line naming it, exit 2, before anything starts."""
    result = subprocess.run([sys.executable, "-m", "bridge", "locust", "--headless", "-t", "1s",
                             "--atb-dialect", "cip", "--atb-size", "3000", "--atb-echo"],
                            capture_output=True, text=True, timeout=RUN_WITHIN, cwd=tmp_path,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "at-bridge locust: --atb-size: 1..2048 bytes for cip" in result.stderr
    result = subprocess.run([sys.executable, "-m", "bridge", "locust", "--headless", "-t", "1s"],
                            capture_output=True, text=True, timeout=RUN_WITHIN, cwd=tmp_path,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "at-bridge locust: no target: give -H" in result.stderr


def test_master_port_follows_the_bind_port() -> None:
    """--processes' workers connect to --master-port: it follows --master-bind-port."""
    argv = command.locust_argv(["--processes", "2", "--master-bind-port=5600"])
    assert argv[-2:] == ["--master-port", "5600"]
    argv = command.locust_argv(["--master-bind-port", "5600", "--master-port", "5601"])
    assert argv.count("--master-port") == 1
