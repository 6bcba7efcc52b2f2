"""The settings of one load-test run and the limits they must respect."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

#: links a port can hold: CIP ids 0-5 (NOTES C2), SKT con_ids 1-9 (NOTES S2), ESP-AT 0-4 (E15)
MAX_LINKS = {"cip": 6, "skt": 9, "esp-at": 5}
CIP_MAX_SEND = 2048  # AT+CIPSEND's largest length (NOTES C9)
ESP_MAX_SEND = {"2.4": 8192, "1.7": 2048}  # per ESP-AT profile (E21)
SKT_PAYLOAD_LIMIT = 4096  # the daemon's default payload_limit
DEFAULT_DURATION = 10.0


class OptionsError(ValueError):
    """Settings that cannot run; the message is one line for the user."""


def parse_port_setting(text: str, option: str = "--port-setting") -> tuple[str, str]:
    """``KEY=VALUE`` with VALUE in TOML, for every generated [[port]] table."""
    key, sep, value = (part.strip() for part in text.partition("="))
    try:
        tomllib.loads(f"{key} = {value}")
    except tomllib.TOMLDecodeError:
        sep = ""
    if not sep or not key:
        raise OptionsError(f"{option}: {text!r} is not KEY=VALUE with a TOML value")
    return key, value


@dataclass(frozen=True)
class Options:
    dialect: str = "skt"  # "cip" | "skt" | "esp-at"
    ports: int = 4
    links: int = 1  # per port
    proto: str = "tcp"  # "tcp" | "udp" | "tls"
    #: the echo peer; None: start the built-in echo server
    target: tuple[str, int] | None = None
    tls_ca: str | None = None
    tls_verify: bool = True
    size: int = 64  # bytes per message
    rate: float | None = None  # messages/s per link; None: as fast as possible
    window: int | None = None  # messages in flight per link (None: 1, or 16 with a rate)
    duration: float | None = None  # seconds of traffic
    messages: int | None = None  # messages per link
    attach: tuple[str, ...] = ()  # pty paths of a running daemon
    daemon_pid: int | None = None  # an attached daemon's pid, for its RSS
    #: extra keys for every generated [[port]] table, as TOML values
    port_settings: tuple[tuple[str, str], ...] = ()
    json_path: str | None = None
    plot_path: str | None = None
    quiet: bool = False
    timeout: float = 10.0  # seconds any reply may take
    drain: float = 10.0  # seconds to wait for the last echoes
    startup_timeout: float = 30.0
    settle: float = 1.0  # seconds of quiet before an RSS sample
    daemon_log: str | None = None

    @property
    def echo(self) -> bool:
        return self.target is None

    @property
    def port_count(self) -> int:
        return len(self.attach) if self.attach else self.ports

    @property
    def in_flight(self) -> int:
        if self.window is not None:
            return self.window
        return 16 if self.rate else 1

    @property
    def traffic_seconds(self) -> float | None:
        """The traffic phase's length, None when only a message count ends it."""
        if self.duration is not None:
            return self.duration
        return None if self.messages is not None else DEFAULT_DURATION

    def port_setting(self, key: str, default: Any) -> Any:
        """A ``--port-setting``'s value (TOML), else ``default``."""
        for name, text in self.port_settings:
            if name == key:
                return tomllib.loads(f"value = {text}")["value"]
        return default

    def size_limit(self) -> int:
        if self.dialect == "cip":
            return CIP_MAX_SEND
        if self.dialect == "esp-at":
            return ESP_MAX_SEND[str(self.port_setting("esp_at_version", "2.4"))]
        return int(self.port_setting("payload_limit", SKT_PAYLOAD_LIMIT))

    def validate(self) -> Options:
        if self.dialect not in MAX_LINKS:
            raise OptionsError(f"--dialect: {self.dialect!r} is not {', '.join(MAX_LINKS)}")
        if self.proto not in ("tcp", "udp", "tls"):
            raise OptionsError(f"--proto: {self.proto!r} is not tcp, udp or tls")
        if self.port_count < 1:
            raise OptionsError("--ports: at least one port")
        if not 1 <= self.links <= MAX_LINKS[self.dialect]:
            raise OptionsError(f"--links: 1..{MAX_LINKS[self.dialect]} per {self.dialect} port")
        if str(self.port_setting("esp_at_version", "2.4")) not in ESP_MAX_SEND:
            raise OptionsError('--port-setting esp_at_version: "2.4" or "1.7"')
        limit = self.size_limit()
        if not 1 <= self.size <= limit:
            raise OptionsError(f"--size: 1..{limit} bytes for {self.dialect}")
        if self.rate is not None and self.rate <= 0:
            raise OptionsError("--rate: must be > 0")
        if self.window is not None and self.window < 1:
            raise OptionsError("--window: at least 1")
        if self.duration is not None and self.duration <= 0:
            raise OptionsError("--duration: must be > 0")
        if self.messages is not None and self.messages < 1:
            raise OptionsError("--messages: at least 1")
        if self.attach and self.port_settings:
            raise OptionsError("--port-setting applies only to a started daemon")
        if self.attach and (self.tls_ca is not None or not self.tls_verify):
            raise OptionsError("--tls-ca and --tls-no-verify set a started daemon's config; "
                               "an attached daemon uses its own")
        if self.tls_ca is not None and self.echo:
            raise OptionsError("--tls-ca is for --target (the echo server's CA is generated)")
        for key, value in (("--timeout", self.timeout), ("--drain", self.drain),
                           ("--startup-timeout", self.startup_timeout)):
            if value <= 0:
                raise OptionsError(f"{key}: must be > 0")
        if self.settle < 0:
            raise OptionsError("--settle: must be >= 0")
        return self
