"""``at-bridge loadtest``: its arguments, and the run from them to an exit code
(0: every byte came back, every link opened, no errors; 1: otherwise)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

from . import INSTALL_EXTRA
from .options import MAX_LINKS, Options, OptionsError, parse_port_setting

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

T = TypeVar("T")


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "loadtest", help="drive many ports and links at once and check every echoed byte",
        description="Start a daemon (or attach to one), play the serial host of each port, "
                    "open links to an echo server, send framed data and check that every "
                    "byte comes back. Exit 0 when every link opened and every byte came "
                    "back with no errors, 1 otherwise.")
    where = parser.add_argument_group("daemon and ports")
    where.add_argument("--dialect", choices=sorted(MAX_LINKS), default="skt",
                       help="command dialect of every port (default skt)")
    where.add_argument("--ports", type=int, default=None, metavar="N",
                       help="ports of the daemon started for the test (default 4)")
    where.add_argument("--attach", nargs="+", metavar="PATH",
                       help="drive the ptys of a running daemon instead of starting one "
                            "(its ports get AT+RST / AT+SKTDEL=0 first)")
    where.add_argument("--daemon-pid", type=int, metavar="PID",
                       help="with --attach: the daemon's pid, for its RSS")
    where.add_argument("--port-setting", action="append", default=[], metavar="KEY=VALUE",
                       help="extra key for each generated [[port]] table, VALUE in TOML "
                            "(e.g. link_buffer=131072); repeatable")
    where.add_argument("--daemon-log", metavar="FILE",
                       help="keep the started daemon's log (stderr) in FILE")
    links = parser.add_argument_group("links")
    links.add_argument("--links", type=int, default=1, metavar="M",
                       help="links per port (cip: up to 6, skt: up to 9; default 1)")
    links.add_argument("--proto", choices=["tcp", "udp", "tls"], default="tcp",
                       help="link type (default tcp)")
    peer = links.add_mutually_exclusive_group(required=True)
    peer.add_argument("--target", metavar="HOST:PORT", help="an echo server to connect to")
    peer.add_argument("--echo", action="store_true",
                      help="start the built-in echo server on 127.0.0.1 (TLS: with a "
                           "generated CA that the started daemon trusts)")
    links.add_argument("--tls-ca", metavar="FILE",
                       help="with --target and --proto tls: the CA the daemon trusts "
                            "(its ports' tls_ca_file)")
    links.add_argument("--tls-no-verify", action="store_true",
                       help="the started daemon does not verify TLS servers (tls_verify=false)")
    traffic = parser.add_argument_group("traffic")
    traffic.add_argument("--size", type=int, default=64, metavar="BYTES",
                         help="bytes per message (default 64; cip up to 2048, skt up to "
                              "payload_limit, 4096 by default; esp-at up to 8192, 2048 "
                              "with --port-setting esp_at_version='\"1.7\"')")
    traffic.add_argument("--rate", type=float, metavar="MSG/S",
                         help="messages per second per link (default: as fast as possible)")
    traffic.add_argument("--window", type=int, metavar="N",
                         help="messages in flight per link (default 1; 16 with --rate)")
    traffic.add_argument("--duration", type=float, metavar="SECONDS",
                         help="seconds of traffic (default 10, unless --messages)")
    traffic.add_argument("--messages", type=int, metavar="N",
                         help="messages per link (with --duration: whichever ends first)")
    output = parser.add_argument_group("output and limits")
    output.add_argument("--json", metavar="FILE", help="write the report as JSON")
    output.add_argument("--plot", metavar="FILE.png",
                        help="plot throughput and latency over time (needs matplotlib: "
                             f"{INSTALL_EXTRA})")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    output.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="longest wait for any reply (default 10)")
    output.add_argument("--drain", type=float, default=10.0, metavar="SECONDS",
                        help="longest wait for the last echoes after sending stops (default 10)")
    output.add_argument("--startup-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="longest wait for the started daemon's ports (default 30)")
    output.add_argument("--settle", type=float, default=1.0, metavar="SECONDS",
                        help="quiet time before the idle RSS samples (default 1)")
    return parser


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OptionsError(f"--target: {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def to_options(args: argparse.Namespace) -> Options:
    if args.attach and args.ports is not None:
        raise OptionsError("--ports is for a started daemon; --attach gives the ports")
    if args.daemon_pid is not None and not args.attach:
        raise OptionsError("--daemon-pid goes with --attach")
    return Options(
        dialect=args.dialect, ports=args.ports if args.ports is not None else 4,
        links=args.links, proto=args.proto,
        target=_address(args.target) if args.target else None,
        tls_ca=args.tls_ca, tls_verify=not args.tls_no_verify, size=args.size,
        rate=args.rate, window=args.window, duration=args.duration, messages=args.messages,
        attach=tuple(args.attach or ()), daemon_pid=args.daemon_pid,
        port_settings=tuple(parse_port_setting(text) for text in args.port_setting),
        json_path=args.json, plot_path=args.plot, quiet=args.quiet, timeout=args.timeout,
        drain=args.drain, startup_timeout=args.startup_timeout, settle=args.settle,
        daemon_log=args.daemon_log,
    ).validate()


def _unwrapped(function: Callable[..., T], *args: object) -> T:
    """Call ``function``; an exception group of one exception (Trio's nurseries
    wrap what they raise) is re-raised as that exception."""
    try:
        return function(*args)
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            raise KeyboardInterrupt from group
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def main(args: argparse.Namespace) -> int:
    import trio

    from . import plot, report
    from .run import LoadtestError, run

    try:
        options = to_options(args)
    except OptionsError as exc:
        print(f"at-bridge loadtest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if options.plot_path and not plot.available():
        print(f"at-bridge loadtest: {plot.MISSING}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = _unwrapped(trio.run, run, options)
    except LoadtestError as exc:
        print(f"at-bridge loadtest: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("at-bridge loadtest: interrupted (the daemon it started is stopped)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print(report.table(result), flush=True)
    if options.json_path:
        report.write_json(result, options.json_path)
    if options.plot_path:
        plot.write_plot(result, options.plot_path)
    return 0 if result["ok"] else EXIT_FAILED
