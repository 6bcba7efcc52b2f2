"""``at-bridge locust``'s own options (``--atb-...``) and what they make.

Locust's master sends its options to every worker at each spawn, over the
worker's own. So what belongs to a worker (its daemon: dialect, ports or
attached devices, echo server, TLS trust) is read once, when the worker
starts, and kept; what belongs to the run (message size, rate, timeout, the
target ``-H``) is read when each test starts, and on a worker is the master's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from ..loadtest.options import MAX_LINKS, Options, OptionsError, parse_port_setting

PROTOS = ("tcp", "udp", "tls")


def add_arguments(parser: Any) -> None:
    """Locust's ``init_command_line_parser`` listener."""
    worker = {"include_in_web_ui": False}  # read once per worker: the web UI cannot change them
    parser.add_argument("--atb-dialect", choices=sorted(MAX_LINKS), default="skt", **worker,
                        help="at-bridge: command dialect of the virtual devices (default skt)")
    parser.add_argument("--atb-ports", type=int, metavar="N", **worker,
                        help="at-bridge: pty ports of the daemon each worker starts (default 4); "
                             "users are spread over their link ids")
    parser.add_argument("--atb-attach", metavar="PATH,...", default="", **worker,
                        help="at-bridge: drive these serial devices or a running daemon's ptys "
                             "instead of starting a daemon (comma-separated)")
    parser.add_argument("--atb-daemon-pid", type=int, metavar="PID", **worker,
                        help="at-bridge: with --atb-attach, the daemon's pid (for its RSS and CPU)")
    parser.add_argument("--atb-echo", nargs="?", const="tcp", choices=PROTOS, metavar="PROTO",
                        **worker, help="at-bridge: start an echo server on each worker and use "
                                       "it as the target (tcp, the default, udp or tls)")
    parser.add_argument("--atb-tls-ca", metavar="FILE", **worker,
                        help="at-bridge: the CA the started daemon trusts for tls:// targets")
    parser.add_argument("--atb-tls-no-verify", action="store_true", **worker,
                        help="at-bridge: the started daemon does not verify TLS servers")
    parser.add_argument("--atb-port-setting", action="append", default=[], metavar="KEY=VALUE",
                        **worker, help="at-bridge: extra key for each generated [[port]] table, "
                                       "VALUE in TOML; repeatable")
    parser.add_argument("--atb-daemon-log", metavar="FILE", **worker,
                        help="at-bridge: keep the started daemon's log in FILE")
    parser.add_argument("--atb-startup-timeout", type=float, default=30.0, metavar="SECONDS",
                        **worker, help="at-bridge: longest wait for the daemon's ports "
                                       "(default 30)")
    parser.add_argument("--atb-size", type=int, default=64, metavar="BYTES",
                        help="at-bridge: bytes per message (default 64)")
    parser.add_argument("--atb-rate", type=float, metavar="MSG/S",
                        help="at-bridge: messages per second per user (default: as fast as "
                             "each echo comes back)")
    parser.add_argument("--atb-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="at-bridge: longest wait for a reply or an echo (default 5)")
    parser.add_argument("--atb-json", metavar="FILE", include_in_web_ui=False,
                        help="at-bridge: write the end-of-run summary as JSON (master or "
                             "local run)")


@dataclass(frozen=True)
class Target:
    proto: str
    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __str__(self) -> str:
        return f"{self.proto}://{self.host}:{self.port}"


def parse_target(text: str | None) -> Target:
    """``-H tcp://HOST:PORT`` (or udp://, tls://)."""
    if not text:
        raise OptionsError("no target: give -H tcp://, udp:// or tls://HOST:PORT, or --atb-echo")
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        port = None
    if url.scheme not in PROTOS or not url.hostname or port is None or url.path not in ("", "/"):
        raise OptionsError(f"-H: {text!r} is not tcp://, udp:// or tls://HOST:PORT")
    return Target(url.scheme, url.hostname, port)


def _ours(exc: OptionsError) -> OptionsError:
    """The load test's message, naming this command's options."""
    return OptionsError(re.sub(r"(?<![\w-])--(?=[a-z])", "--atb-", str(exc)))


def worker_options(parsed: Any) -> Options:
    """This worker's settings (and the run's, until a test starts); OptionsError
    with one line naming the option."""
    attach = tuple(path for path in parsed.atb_attach.split(",") if path)
    if attach and parsed.atb_ports is not None:
        raise OptionsError("--atb-ports is for a started daemon; --atb-attach gives the ports")
    if parsed.atb_daemon_pid is not None and not attach:
        raise OptionsError("--atb-daemon-pid goes with --atb-attach")
    if parsed.atb_echo and parsed.atb_tls_ca:
        raise OptionsError("--atb-tls-ca is for -H tls://... (the echo server's CA is generated)")
    options = Options(
        dialect=parsed.atb_dialect, ports=parsed.atb_ports or 4, proto=parsed.atb_echo or "tcp",
        target=None if parsed.atb_echo else ("", 0), tls_ca=parsed.atb_tls_ca,
        tls_verify=not parsed.atb_tls_no_verify, size=parsed.atb_size, rate=parsed.atb_rate,
        attach=attach, daemon_pid=parsed.atb_daemon_pid,
        port_settings=tuple(parse_port_setting(text, "--atb-port-setting")
                            for text in parsed.atb_port_setting),
        timeout=parsed.atb_timeout, startup_timeout=parsed.atb_startup_timeout,
        daemon_log=parsed.atb_daemon_log)
    try:
        return options.validate()
    except OptionsError as exc:
        raise _ours(exc) from None


def run_options(worker: Options, parsed: Any, host: str | None) -> Options:
    """The worker's settings with the run's: message size, rate, timeout and
    target as this test has them (a worker's own echo server is its target)."""
    options = replace(worker, size=parsed.atb_size, rate=parsed.atb_rate,
                      timeout=parsed.atb_timeout)
    if not worker.echo:
        target = parse_target(host)
        options = replace(options, proto=target.proto, target=target.address)
    try:
        return options.validate()
    except OptionsError as exc:
        raise _ours(exc) from None
