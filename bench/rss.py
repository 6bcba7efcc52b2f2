"""Resident memory of a one-port daemon, per dialect, with and without TLS.

For each dialect (skt, cip, esp-at) a fresh daemon serves one pty port
(``at-bridge run --config``, the port's defaults, logging at warning). Its
VmRSS is read three times:

    idle:       --settle seconds after it announced its pty, nothing asked;
    TLS open:   after the host opened one TLS link to a local
                ``openssl s_server`` (a trustme certificate for 127.0.0.1,
                whose CA is the port's tls_ca_file) and --settle seconds;
    after TLS:  once the link is closed again (pyOpenSSL, cryptography and
                the CA store stay loaded).

The figure printed is the median over --runs daemons. The daemon's idle
budget is 35 MiB (tests/test_footprint.py checks a looser bound, so that
a loaded CI machine does not flake it).

Run: python bench/rss.py [--runs 3] [--settle 1.0] [--dialect skt ...]
     [--bridge-cmd 'python -m bridge']
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trustme

from bridge.testing.host import open_host, read_ready
from bridge.testing.procstat import memory_kib
from bridge.testing.spawn import bridge_command, stop, wait_announced, write_config

BUDGET_MIB = 35.0
DIALECTS = ("skt", "cip", "esp-at")
REPLY_WITHIN = 15.0  # seconds for a command's reply (a TLS handshake included)
FIGURES = ("idle", "TLS open", "after TLS")


class BenchFailed(Exception):
    """A daemon or the TLS server did not do what the measurement needs."""


@dataclass(frozen=True)
class Steps:
    """The host's commands, each with the bytes its reply ends with."""

    before: tuple[tuple[bytes, bytes], ...]
    open_tls: tuple[bytes, bytes]  # %d: the server's port
    close: tuple[bytes, bytes]


STEPS = {
    "skt": Steps((), (b"AT+SKTCLIENT=2,127.0.0.1,%d", b"+SKTCLIENT:con_id=1\r\n"),
                 (b"AT+SKTDEL=1", b"+SKTDEL:OK\r\n")),
    "cip": Steps((), (b'AT+CIPSTART="TLS","127.0.0.1",%d', b"OK\r\n"),
                 (b"AT+CIPCLOSE", b"OK\r\n")),
    "esp-at": Steps(((b'AT+CWJAP="bench","bench-password"', b"OK\r\n"),),
                    (b'AT+CIPSTART="SSL","127.0.0.1",%d', b"OK\r\n"),
                    (b"AT+CIPCLOSE", b"OK\r\n")),
}


def command(fd: int, line: bytes, ends: bytes) -> None:
    """Send one command line and read until its reply ``ends`` (BenchFailed
    on ERROR or silence)."""
    os.write(fd, line + b"\r\n")
    deadline = time.perf_counter() + REPLY_WITHIN
    reply = b""
    while not reply.endswith(ends):
        chunk = read_ready(fd, 4096, deadline)
        if not chunk:
            raise BenchFailed(f"{line.decode()}: no reply ending {ends!r} (got {reply!r})")
        reply += chunk
        if b"ERROR" in reply:
            raise BenchFailed(f"{line.decode()}: {reply!r}")


def mib(pid: int) -> float:
    return memory_kib(pid) / 1024


class TlsServer:
    """``openssl s_server`` on 127.0.0.1, a port of its choosing."""

    def __init__(self, directory: Path, authority: trustme.CA) -> None:
        certificate = directory / "server.pem"
        authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
            str(certificate))
        # its stdin stays open: at its end s_server would close the link; its
        # output goes to a file, which no amount of it can block
        self.output = directory / "s_server.out"
        with open(self.output, "wb") as output:
            self.process = subprocess.Popen(
                ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(certificate)],
                stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.perf_counter() + REPLY_WITHIN
        while not (line := self._accept_line()):
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.close()
                raise BenchFailed(f"openssl s_server said {self.output.read_text()!r}")
            time.sleep(0.02)
        self.port = int(line.rsplit(":", 1)[1])

    def _accept_line(self) -> str | None:
        """``ACCEPT 127.0.0.1:<port>``, once s_server listens."""
        for line in self.output.read_text(errors="replace").splitlines():
            if line.startswith("ACCEPT "):
                return line
        return None

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def measure(dialect: str, bridge_cmd: list[str], tmp: Path, ca_file: Path, server_port: int,
            settle: float) -> dict[str, float]:
    link = tmp / f"{dialect}-dev"
    config = write_config(tmp / f"{dialect}.toml",
                          {"state_dir": str(tmp / f"{dialect}-state"), "log_level": "warning"},
                          [{"name": "dev", "device": f"pty:{link}", "dialect": dialect,
                            "tls_ca_file": str(ca_file)}])
    process = subprocess.Popen([*bridge_cmd, "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_announced(process, str(link), 20)
        fd = open_host(str(link), flush=False)
        try:
            time.sleep(settle)
            figures = {"idle": mib(process.pid)}
            steps = STEPS[dialect]
            for line, ends in steps.before:
                command(fd, line, ends)
            command(fd, steps.open_tls[0] % server_port, steps.open_tls[1])
            time.sleep(settle)
            figures["TLS open"] = mib(process.pid)
            command(fd, *steps.close)
            time.sleep(settle)
            figures["after TLS"] = mib(process.pid)
        finally:
            os.close(fd)
        return figures
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="daemons per dialect (median)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds before each reading (default 1)")
    parser.add_argument("--dialect", action="append", choices=DIALECTS,
                        help="only this dialect (repeatable; default all)")
    parser.add_argument("--bridge-cmd", metavar="CMD",
                        help="what stands for at-bridge (default the console script)")
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        print("rss.py: needs openssl on PATH (the TLS server)", file=sys.stderr)
        return 1
    bridge_cmd = bridge_command(args.bridge_cmd)
    with tempfile.TemporaryDirectory(prefix="rss-bench-") as name:
        tmp = Path(name)
        authority = trustme.CA()
        ca_file = tmp / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_file))
        server = TlsServer(tmp, authority)
        try:
            print(f"{'dialect':8} " + " ".join(f"{figure:>10}" for figure in FIGURES)
                  + f"   (MiB VmRSS, median of {args.runs})")
            worst_idle = 0.0
            for dialect in args.dialect or DIALECTS:
                runs = [measure(dialect, bridge_cmd, tmp, ca_file, server.port, args.settle)
                        for _ in range(args.runs)]
                medians = {figure: statistics.median(run[figure] for run in runs)
                           for figure in FIGURES}
                worst_idle = max(worst_idle, medians["idle"])
                print(f"{dialect:8} " + " ".join(f"{medians[figure]:10.1f}"
                                                 for figure in FIGURES), flush=True)
        except BenchFailed as exc:
            print(f"rss.py: {exc}", file=sys.stderr)
            return 1
        finally:
            server.close()
    verdict = "PASS" if worst_idle <= BUDGET_MIB else "MISS"
    print(f"idle budget {BUDGET_MIB:.0f} MiB: {verdict} (largest idle {worst_idle:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
