"""What an idle daemon costs: the libraries it loads and its resident memory.

TLS (pyOpenSSL, cryptography, trustme), DNS (dnspython) and Prometheus
(prometheus-client) load only when a port or the config needs them, tqdm
and matplotlib only in ``at-bridge loadtest``. bench/rss.py measures the
idle RSS per dialect (budget 35 MiB); the bound here is looser, so that a
busy CI machine does not fail it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio
from test_cli import running, script

from bridge.testing.procstat import memory_kib

IDLE_RSS_BOUND_MIB = 38.0
SETTLE = 1.0  # seconds after the pty is announced: CIP and ESP-AT greet after 300 ms
OPTIONAL = ("OpenSSL", "cryptography", "trustme", "dns", "prometheus_client", "tqdm",
            "matplotlib")

#: a daemon with one pty port per dialect, idle for SETTLE seconds, then the
#: optional libraries it has imported
IDLE_DAEMON = f"""
import sys
import trio
from bridge import dialects, log
from bridge.cli import main  # the command line, as `at-bridge run` imports it
from bridge.config import Config, DaemonSettings, PortSettings, check
from bridge.daemon import serve

log.configure(level="warning")  # on stderr
ports = [PortSettings(name=name, device="pty:" + sys.argv[1] + "/" + name, dialect=name)
         for name in dialects.NAMES]
config = check(Config(daemon=DaemonSettings(state_dir=sys.argv[1] + "/state"), port=ports))

async def idle() -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(serve, config)
        await trio.sleep({SETTLE})
        nursery.cancel_scope.cancel()

trio.run(idle)
loaded = {{name.partition(".")[0] for name in sys.modules}}
print(" ".join(sorted(loaded & set({OPTIONAL!r}))))
"""


def test_an_idle_daemon_loads_no_optional_library(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", IDLE_DAEMON, str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "\n", f"loaded by an idle daemon: {result.stdout}"


async def test_idle_rss_of_a_one_port_daemon(tmp_path: Path) -> None:
    """`at-bridge run` (SKT, a new pty): resident memory under the bound,
    and cryptography's OpenSSL library not even mapped."""
    async with running(tmp_path, command=script()) as bridge:
        await bridge.line()
        await trio.sleep(SETTLE)
        pid = bridge.process.pid
        rss_mib = memory_kib(pid) / 1024
        mapped = Path(f"/proc/{pid}/maps").read_text()
        assert await bridge.stop() == 0
    assert rss_mib <= IDLE_RSS_BOUND_MIB, f"idle RSS {rss_mib:.1f} MiB"
    assert "cryptography" not in mapped
