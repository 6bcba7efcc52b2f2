"""Running for real: many ports, a device that goes away and comes back,
systemd's notify socket, SIGHUP reloads and the metrics endpoint."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import trio
from conftest import (
    WAIT,
    Device,
    TcpServer,
    free_port,
    open_skt_client,
    plug_serial_device,
    require_binary,
    unplug,
)
from test_cli import running
from test_skt import read_when_ready

from bridge import __version__
from bridge.config import Config, DaemonSettings, PortSettings
from bridge.daemon import serve


async def test_device_lost_and_back_while_another_port_relays(
        nursery: trio.Nursery, tmp_path: Path, tcp_server: TcpServer) -> None:
    """A serial device that vanishes closes its port's links and is reopened
    within about a second of its return (a CIP port says ready again, C1);
    the other port's link relays throughout."""
    device, host = tmp_path / "ttyUSB0", tmp_path / "host"
    pty_link = tmp_path / "other"
    socat = await plug_serial_device(device, host)
    try:
        config = Config(daemon=DaemonSettings(state_dir=str(tmp_path / "state")), port=[
            PortSettings(name="usb", device=str(device), dialect="cip",
                         bind_address="127.0.0.1"),
            PortSettings(name="other", device=f"pty:{pty_link}", bind_address="127.0.0.1"),
        ])
        await nursery.start(serve, config)
        usb = Device(str(host))
        await usb.expect(b"\r\nready\r\n")
        await usb.command(b'AT+CIPSTART="TCP","127.0.0.1",%d' % tcp_server.port,
                          b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n\r\nCONNECT\r\nOK\r\n'
                          % tcp_server.port)
        usb_peer = await tcp_server.accept()
        other = Device(str(pty_link))
        other_peer = await open_skt_client(other, tcp_server)
        await other.command(b"AT+SKTTT=1", b"\r\n+SKTTT:OK\r\n")

        unplug(socat)
        await usb.aclose()
        await usb_peer.expect_eof()  # its links were closed
        for i in range(5):  # the other port relays while the device is away
            await other.send(b"chunk %d;" % i)
            await other_peer.expect(b"chunk %d;" % i)
            await other_peer.send(b"back %d;" % i)
            await other.expect(b"back %d;" % i)
            await trio.sleep(0.1)

        socat = await plug_serial_device(device, host)  # plugged in again
        usb = Device(str(host))
        with trio.fail_after(3):
            await usb.expect(b"\r\nready\r\n")
        await usb.command(b"AT", b"AT\r\n\r\nOK\r\n")
        await other.send(b"still here")
        await other_peer.expect(b"still here")
        await usb.aclose()
    finally:
        unplug(socat)


class NotifySocket:
    """What systemd would hear: a datagram socket bound by the test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    async def bind(self) -> None:
        await self.sock.bind(str(self.path))

    async def message(self) -> dict[str, str]:
        with trio.fail_after(WAIT):
            data = await self.sock.recv(4096)
        return dict(line.split("=", 1) for line in data.decode().splitlines())

    async def until(self, key: str) -> dict[str, str]:
        while True:
            message = await self.message()
            if key in message:
                return message


def write_config(path: Path, tmp_path: Path, ports: dict[str, str], **daemon: str) -> None:
    lines = ["[daemon]", f'state_dir = "{tmp_path / "state"}"']
    lines += [f'{key} = "{value}"' for key, value in daemon.items()]
    for name, device in ports.items():
        lines += ["[[port]]", f'name = "{name}"', f'device = "{device}"',
                  'bind_address = "127.0.0.1"']
    path.write_text("\n".join(lines) + "\n")


async def test_ready_status_and_watchdog_through_notify_socket(tmp_path: Path,
                                                               monkeypatch) -> None:
    """READY=1 once every port is open or retrying, STATUS= per port, and
    WATCHDOG=1 pings at half of WATCHDOG_USEC, from the event loop."""
    notify = NotifySocket(tmp_path / "notify")
    await notify.bind()
    config = tmp_path / "at-bridge.toml"
    write_config(config, tmp_path, {"good": f"pty:{tmp_path / 'good'}",
                                    "absent": str(tmp_path / "no-such-tty")})
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify.path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    async with running(tmp_path, "--config", str(config)) as bridge:
        ready = await notify.until("READY")
        assert ready["READY"] == "1"
        assert ready["STATUS"].startswith("good: open; absent: retrying (")
        pings = 0
        with trio.fail_after(WAIT):
            started = trio.current_time()
            while pings < 5:
                pings += "WATCHDOG" in await notify.message()
        assert trio.current_time() - started < 5 * 0.1 + 0.5
        assert await bridge.stop() == 0


async def test_sighup_adds_and_removes_ports_leaving_the_rest(
        tmp_path: Path, tcp_server: TcpServer) -> None:
    """SIGHUP: a new port starts, a removed one stops (its pty link goes), an
    unchanged one keeps its open link."""
    config = tmp_path / "at-bridge.toml"
    links = {name: tmp_path / name for name in ("a", "b", "c")}
    write_config(config, tmp_path, {"a": f"pty:{links['a']}", "b": f"pty:{links['b']}"})
    async with running(tmp_path, "--config", str(config)) as bridge:
        assert {await bridge.line(), await bridge.line()} == {str(links["a"]),
                                                                str(links["b"])}
        kept = Device(str(links["b"]))
        peer = await open_skt_client(kept, tcp_server)
        write_config(config, tmp_path, {"b": f"pty:{links['b']}", "c": f"pty:{links['c']}"})
        bridge.process.send_signal(signal.SIGHUP)
        assert await bridge.line() == str(links["c"])
        added = Device(str(links["c"]))
        await added.command(b"AT+SKTSTATE", b"\r\n+SKTSTATE:OK\r\n")
        with trio.fail_after(WAIT):
            while os.path.lexists(links["a"]):
                await trio.sleep(0.02)
        await kept.send(b"AT+SKTSEND=4,1:kept")
        await peer.expect(b"kept")
        await kept.expect(b"\r\n+SKTSEND:OK\r\n")
        # a config that does not validate is refused and the daemon carries on
        config.write_text("[[port]]\nname = 1\n")
        bridge.process.send_signal(signal.SIGHUP)
        await trio.sleep(0.3)
        await added.command(b"AT+SKTSTATE", b"\r\n+SKTSTATE:OK\r\n")
        assert "reload_failed" in bridge.stderr()
        assert await bridge.stop() == 0
        await added.aclose()
        await kept.aclose()
        await peer.aclose()


async def http_get(port: int, path: str) -> tuple[str, str]:
    with trio.fail_after(WAIT):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = b""
        while data := await stream.receive_some(65536):
            response += data
    head, _, body = response.decode().partition("\r\n\r\n")
    return head.split("\r\n")[0], body


async def test_metrics_endpoint(tmp_path: Path, tcp_server: TcpServer) -> None:
    """Prometheus exposition: per port and per link bytes, frames, links
    open, reopens, and warnings by kind."""
    metrics_port = free_port()
    config = tmp_path / "at-bridge.toml"
    link = tmp_path / "m"
    write_config(config, tmp_path, {"m": f"pty:{link}"},
                 metrics_address=f"127.0.0.1:{metrics_port}")
    async with running(tmp_path, "--config", str(config)) as bridge:
        assert await bridge.line() == str(link)
        device = Device(str(link))
        opened = b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n"
        sent = [b"AT+SKTCLIENT=0,127.0.0.1,%d\r\n" % tcp_server.port]
        received = [opened]
        peer = await open_skt_client(device, tcp_server)
        sent.append(b"AT+SKTSEND=5,1:hello")
        await device.send(sent[-1])
        await peer.expect(b"hello")
        received.append(b"\r\n+SKTSEND:OK\r\n")
        await device.expect(received[-1])
        sent.append(b"AT+SKTRECVCFG=1\r\n")
        received.append(b"\r\n+SKTRECVCFG:OK\r\n")
        await device.command(sent[-1][:-2], received[-1])
        await peer.send(b"world!")
        received.append(b"+SKTREAD:OK,6,1:world!\r\n")  # one unsolicited frame
        await device.expect(received[-1])
        sent.append(b"AT+SKTCLIENT=0,127.0.0.1,%d\r\n" % free_port())  # a warning
        received.append(b"\r\n+SKTCLIENT:ERROR:9\r\n")
        await device.command(sent[-1][:-2], received[-1])
        status, body = await http_get(metrics_port, "/metrics")
        assert status == "HTTP/1.1 200 OK"
        uart_in, uart_out = sum(map(len, sent)), sum(map(len, received))
        for line in (
                'at_bridge_port_up{port="m"} 1.0',
                'at_bridge_links_open{port="m"} 1.0',
                'at_bridge_device_reopens_total{port="m"} 0.0',
                f'at_bridge_uart_bytes_total{{direction="in",port="m"}} {uart_in}.0',
                f'at_bridge_uart_bytes_total{{direction="out",port="m"}} {uart_out}.0',
                'at_bridge_frames_total{port="m"} 1.0',
                'at_bridge_link_bytes_total{direction="out",port="m"} 5.0',
                'at_bridge_link_bytes_total{direction="in",port="m"} 6.0',
                'at_bridge_link_id_bytes_total{direction="in",link="1",port="m"} 6.0',
                'at_bridge_link_id_bytes_total{direction="out",link="1",port="m"} 5.0',
                'at_bridge_problems_total{kind="client_failed",port="m"} 1.0',
                f'at_bridge_build_info{{version="{__version__}"}} 1.0'):
            assert line in body, line
        assert_process_metrics(body, bridge.process.pid)
        assert (await http_get(metrics_port, "/other"))[0] == "HTTP/1.1 404 Not Found"
        assert await bridge.stop() == 0
        await device.aclose()
        await peer.aclose()


def link_id_bytes(body: str) -> dict[tuple[str, str], float]:
    """at_bridge_link_id_bytes_total of port m: {(link, direction): bytes}."""
    series = re.findall(r'^at_bridge_link_id_bytes_total\{direction="(\w+)",link="(\d+)",'
                        r'port="m"\} (\S+)$', body, re.MULTILINE)
    return {(link, direction): float(value) for direction, link, value in series}


def traced_link_bytes(log: str) -> list[tuple[str, int, str]]:
    """The --trace events of link data in a JSON log: (event, con_id, text)."""
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [(event["event"], event["con_id"], event["text"]) for event in events
            if event["event"] in ("link_rx", "link_tx")]


async def test_metrics_count_sktread_and_carry_on_over_a_reused_id(
        tmp_path: Path, tcp_server: TcpServer) -> None:
    """Bytes the host takes with AT+SKTREAD are counted, per port and per link
    id, and traced; a new link on id 1 carries on from the id's total, so no
    series goes backwards under the same labels."""
    metrics_port = free_port()
    config = tmp_path / "at-bridge.toml"
    link = tmp_path / "m"
    write_config(config, tmp_path, {"m": f"pty:{link}"},
                 metrics_address=f"127.0.0.1:{metrics_port}", log_format="json")
    async with running(tmp_path, "--config", str(config), "--trace") as bridge:
        assert await bridge.line() == str(link)
        device = Device(str(link))
        peers, scrapes = [], []
        for down, up in ((b"hello, ", b"ping"), (b"world", b"ok")):
            peer = await open_skt_client(device, tcp_server, con_id=1)  # a new link on id 1
            peers.append(peer)
            await peer.send(down)
            await read_when_ready(device, 1, 100, b"+SKTREAD:OK,%d,1:%s\r\n" % (len(down), down))
            await device.command(b"AT+SKTSEND=%d,1:%s" % (len(up), up), b"\r\n+SKTSEND:OK\r\n")
            await peer.expect(up)
            scrapes.append((await http_get(metrics_port, "/metrics"))[1])
            await device.command(b"AT+SKTDEL=1", b"\r\n+SKTDEL:OK\r\n")
        before, after = scrapes
        assert link_id_bytes(before) == {("1", "in"): 7, ("1", "out"): 4}
        assert link_id_bytes(after) == {("1", "in"): 12, ("1", "out"): 6}
        for line in ('at_bridge_link_bytes_total{direction="in",port="m"} 12.0',
                     'at_bridge_link_bytes_total{direction="out",port="m"} 6.0',
                     'at_bridge_frames_total{port="m"} 0.0'):
            assert line in after, line
        assert await bridge.stop() == 0
        assert traced_link_bytes(bridge.stderr()) == [
            ("link_rx", 1, "hello, "), ("link_tx", 1, "ping"),
            ("link_rx", 1, "world"), ("link_tx", 1, "ok")]
        await device.aclose()
        for peer in peers:
            await peer.aclose()


def metric(body: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
    assert match, f"{name} is missing"
    return float(match[1])


def assert_process_metrics(body: str, pid: int) -> None:
    """prometheus-client's process collector, about the daemon's own process."""
    with open(f"/proc/{pid}/status") as status:
        rss_kib = int(re.search(r"^VmRSS:\s+(\d+) kB", status.read(), re.MULTILINE)[1])
    assert abs(metric(body, "process_resident_memory_bytes") / 1024 - rss_kib) < 0.25 * rss_kib
    assert 0 < metric(body, "process_cpu_seconds_total") < 60
    assert 4 <= metric(body, "process_open_fds") < metric(body, "process_max_fds")
    assert abs(metric(body, "process_start_time_seconds") - time.time()) < 60


async def test_process_metrics_where_proc_shows_processes_only(tmp_path: Path) -> None:
    """systemd's ProcSubset=pid (set by the units) hides /proc/stat, where
    prometheus-client finds the boot time: the process metrics stay."""
    metrics_port = free_port()
    config = tmp_path / "at-bridge.toml"
    link = tmp_path / "m"
    write_config(config, tmp_path, {"m": f"pty:{link}"},
                 metrics_address=f"127.0.0.1:{metrics_port}")
    subset_pid = [require_binary("unshare"), "--mount", "sh", "-c",
                  'mount -t proc -o subset=pid proc /proc && exec "$@"', "sh",
                  sys.executable, "-m", "bridge"]
    async with running(tmp_path, "--config", str(config), command=subset_pid) as bridge:
        assert await bridge.line() == str(link)
        status, body = await http_get(metrics_port, "/metrics")
        assert status == "HTTP/1.1 200 OK"
        assert_process_metrics(body, bridge.process.pid)
        assert await bridge.stop() == 0


def test_prometheus_client_loads_only_for_metrics() -> None:
    """Without metrics_address nothing imports prometheus-client (logging
    counts problems without it), and the metrics do not import the daemon."""
    daemon = ("import sys, bridge.cli, bridge.daemon, bridge.log, bridge.port; "
              "sys.exit('prometheus_client' in sys.modules)")
    metrics = "import sys, bridge.metrics; sys.exit('bridge.daemon' in sys.modules)"
    for code in (daemon, metrics):
        assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0, code


async def test_reload_waits_for_a_pty_link_another_daemon_holds(tmp_path: Path) -> None:
    """A port added by SIGHUP whose pty link another daemon serves is retried
    (one warning saying who holds it) and takes the link once it is free."""
    held = tmp_path / "held"
    config = tmp_path / "at-bridge.toml"
    write_config(config, tmp_path, {"a": f"pty:{tmp_path / 'a'}"})
    async with running(tmp_path, "--pty", str(held)) as first, \
            running(tmp_path, "--config", str(config)) as second:
        assert await first.line() == str(held)
        assert await second.line() == str(tmp_path / "a")
        target = os.readlink(held)
        write_config(config, tmp_path, {"a": f"pty:{tmp_path / 'a'}", "b": f"pty:{held}"})
        second.process.send_signal(signal.SIGHUP)
        with trio.fail_after(WAIT):
            while "port_failed" not in second.stderr():
                await trio.sleep(0.02)
        await trio.sleep(0.5)  # retries meanwhile: still one warning, the link untouched
        failed = [line for line in second.stderr().splitlines() if "port_failed" in line]
        assert len(failed) == 1 and (f"pty link {held} is served by another at-bridge "
                                     f"(pid {first.process.pid})") in failed[0], failed
        assert os.readlink(held) == target
        assert await first.stop() == 0
        assert await second.line(timeout=3) == str(held)
        device = Device(str(held))  # the second daemon answers there now
        await device.command(b"AT+SKTSTATE", b"\r\n+SKTSTATE:OK\r\n")
        await device.aclose()
        assert await second.stop() == 0
