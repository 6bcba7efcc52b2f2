"""``at-bridge locust [Locust options] [--atb-... options]``: Locust, run
with at-bridge's locustfile; every other option is Locust's own.

It replaces this process with ``python -m locust -f <locustfile>``, so it
never imports Locust here (Locust patches the standard library with gevent
as it is imported).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from . import settings

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
MISSING = "Locust is not installed: pip install 'at-bridge[locust]'"
EXIT_USAGE = 2


def _has(args: list[str], option: str) -> bool:
    return any(arg == option or arg.startswith(option + "=") for arg in args)


def _value(args: list[str], option: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == option and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(option + "="):
            return arg.partition("=")[2]
    return None


class _Parser(argparse.ArgumentParser):
    """argparse, taking (and dropping) Locust's web UI keywords."""

    def add_argument(self, *args: Any, include_in_web_ui: bool = True, **kwargs: Any) -> Any:
        return super().add_argument(*args, **kwargs)


def own_help() -> str:
    """The --atb- options (Locust prints its help before it loads a locustfile)."""
    parser = _Parser(prog="at-bridge locust", add_help=False,
                     usage="at-bridge locust [Locust options] [--atb-... options]",
                     description="Locust with at-bridge's locustfile: one user is one link of "
                                 "one virtual device. Targets: -H tcp://, udp:// or "
                                 "tls://HOST:PORT, or --atb-echo. Locust's own options "
                                 "follow.")
    settings.add_arguments(parser)
    return parser.format_help()


def locust_argv(args: list[str]) -> list[str]:
    """The command line for Locust."""
    bind_port = _value(args, "--master-bind-port")
    if bind_port is not None and not _has(args, "--master-port"):
        # --processes' workers connect to --master-port, not to where the master binds
        args = [*args, "--master-port", bind_port]
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def main(args: list[str]) -> int:
    if importlib.util.find_spec("locust") is None:
        print(f"at-bridge locust: {MISSING}", file=sys.stderr)
        return EXIT_USAGE
    if _has(args, "-f") or _has(args, "--locustfile"):
        print("at-bridge locust: runs its own locustfile; -f/--locustfile is not for it",
              file=sys.stderr)
        return EXIT_USAGE
    if _has(args, "-h") or _has(args, "--help"):
        print(own_help(), flush=True)
    argv = locust_argv(args)
    os.execv(argv[0], argv)
    return EXIT_USAGE  # not reached: execv does not return
