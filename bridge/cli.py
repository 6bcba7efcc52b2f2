"""Command line: ``at-bridge run``, ``at-bridge check-config``, ``at-bridge loadtest``
and ``at-bridge locust``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import msgspec
import trio

from . import __version__, dialects
from . import config as config_module
from . import log as log_module
from .config import PTY_PREFIX, Config, ConfigError, PortSettings

EXIT_CONFIG = 2  # a bad config, or a start refused: restarting cannot help


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="at-bridge", description=(
        "Answer a Wi-Fi module's AT commands on a UART and do the networking."))
    parser.add_argument("--version", action="version", version=f"at-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve one new pseudo-terminal, or a config's ports")
    run.add_argument("--config", metavar="FILE", help="serve every port of this TOML file")
    run.add_argument("--pty", metavar="LINK", help="symlink the new terminal's slave at LINK")
    run.add_argument("--dialect", choices=dialects.NAMES,
                     help=f"command dialect (default {dialects.DEFAULT})")
    run.add_argument("--esp-at-version", choices=["2.4", "1.7"],
                     help="ESP-AT profile: 2.4 (ESP32, the default) or 1.7 (ESP8266)")
    run.add_argument("--state-dir", metavar="DIR", help="persisted settings and certificates")
    run.add_argument("--trace", action="store_true",
                     help="log every byte moved, as hex and as text")
    run.add_argument("--log-format", choices=["console", "json"])
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    check = commands.add_parser("check-config", help="validate a config and print it in full")
    check.add_argument("file")
    from .loadtest.cli import add_parser as add_loadtest

    add_loadtest(commands)
    commands.add_parser("locust", add_help=False,
                        help="load beyond one machine: Locust with at-bridge's locustfile "
                             "(every Locust option, and --atb-... ones; needs "
                             "'at-bridge[locust]')")
    return parser


def _run_config(args: argparse.Namespace) -> Config:
    if args.config:
        if args.pty or args.dialect or args.esp_at_version:
            raise ConfigError("--pty, --dialect and --esp-at-version apply only without --config")
        config = config_module.load(args.config)
    else:
        name = os.path.basename(args.pty) if args.pty else "pty"
        if args.esp_at_version and args.dialect != "esp-at":
            raise ConfigError("--esp-at-version applies only with --dialect esp-at")
        port = PortSettings(name=name, device=PTY_PREFIX + (args.pty or ""),
                            dialect=args.dialect or dialects.DEFAULT,
                            esp_at_version=args.esp_at_version or "2.4")
        config = config_module.check(Config(port=[port]))
    overrides = {key: value for key, value in (
        ("state_dir", args.state_dir), ("log_format", args.log_format),
        ("log_level", "debug" if args.trace else args.log_level),
        ("trace", args.trace or None)) if value is not None}
    if overrides:
        daemon = msgspec.structs.replace(config.daemon, **overrides)
        config = msgspec.structs.replace(config, daemon=daemon)
    return config


def _announce(name: str, path: str) -> None:
    print(path, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["locust"]:  # its options are Locust's: argparse must not read them
        from .locust.command import main as locust

        return locust(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "loadtest":
        from .loadtest.cli import main as loadtest

        return loadtest(args)
    try:
        if args.command == "check-config":
            config = config_module.load(args.file)
            sys.stdout.write(config_module.to_toml(config))
            return 0
        config = _run_config(args)
    except ConfigError as exc:
        print(f"at-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    log_module.configure(log_format=config.daemon.log_format,
                         level="debug" if config.daemon.trace else config.daemon.log_level)
    from .daemon import StartupRefused, run_until_signalled

    try:
        trio.run(run_until_signalled, config, _announce,
                 Path(args.config) if args.config else None)
    except StartupRefused as exc:
        print(f"at-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # links are closed: a second stop signal must not turn exit 0 into a kill
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0


