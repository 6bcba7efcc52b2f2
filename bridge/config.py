"""TOML configuration -> validated, frozen settings, or one clear line.

Every error names its key the way a user finds it in the file, for example
``port[0].baudrate: expected int >= 50``; the CLI prints it and exits 2.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from . import dialects

PTY_PREFIX = "pty:"
TLS_FILES = ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_cert_file",
             "tls_server_key_file")


class ConfigError(ValueError):
    """A configuration that cannot run; the message is the one line to print."""


def pty_link(device: str) -> str | None:
    """The link a "pty:PATH" device makes (None for "pty:" and serial devices)."""
    return (device[len(PTY_PREFIX):] or None) if device.startswith(PTY_PREFIX) else None


class DaemonSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    #: persisted settings and generated certificates (see state_directory())
    state_dir: str | None = None
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: log every byte moved, as hex (opt-in: it is large)
    trace: bool = False
    #: "HOST:PORT" to serve Prometheus metrics on (opt-in), e.g. "127.0.0.1:9477"
    metrics_address: Annotated[str, Meta(pattern=r"^\[?[0-9A-Za-z.:-]+\]?:[0-9]{1,5}$")] \
        | None = None


class WifiNetwork(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A network the ESP-AT virtual station may join and lists in AT+CWLAP."""

    ssid: Annotated[str, Meta(min_length=1, max_length=32)]
    password: Annotated[str, Meta(max_length=64)] = ""
    #: lowercase xx:xx:xx:xx:xx:xx; made from the SSID when not given
    bssid: Annotated[str, Meta(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")] | None = None
    channel: Annotated[int, Meta(ge=1, le=14)] = 6
    rssi: Annotated[int, Meta(ge=-100, le=0)] = -50


class PortSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    name: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    #: "pty:PATH" (a new pseudo-terminal whose slave is symlinked at PATH),
    #: "pty:" (a new pseudo-terminal, no link) or a serial device path
    device: Annotated[str, Meta(min_length=1)]
    dialect: Literal[dialects.NAMES] = dialects.DEFAULT  # type: ignore[valid-type]
    baudrate: Annotated[int, Meta(ge=50, le=4_000_000)] = 115200
    flow_control: Literal["none", "rtscts", "xonxoff"] = "none"
    #: silence around an escape sequence (NOTES G5)
    guard_ms: Annotated[int, Meta(ge=0, le=10_000)] = 20
    #: longest command line; longer ones are discarded (NOTES G1)
    line_limit: Annotated[int, Meta(ge=64, le=1 << 20)] = 4096
    #: largest AT+SKTSEND data_size and AT+SKTREAD buff_size (NOTES S6, G6);
    #: CIP's limits are the spec's (2048)
    payload_limit: Annotated[int, Meta(ge=2048, le=1 << 20)] = 4096
    #: bytes a link holds for the host before it stops reading its socket
    link_buffer: Annotated[int, Meta(ge=1024, le=64 << 20)] = 65536
    #: bytes queued each way between the UART and the rest: read from the UART
    #: for the interpreter (then the UART is not read), and framed for the UART
    #: (then the links' pumps wait)
    uart_buffer: Annotated[int, Meta(ge=1024, le=64 << 20)] = 65536
    #: seconds a TCP connect may take (NOTES G6)
    connect_timeout: Annotated[float, Meta(gt=0, le=600)] = 10.0
    #: local address for servers and UDP sockets
    bind_address: str = "0.0.0.0"
    #: AT+CIPDNS servers: seconds each server may take, and a whole lookup (NOTES C12)
    dns_server_timeout: Annotated[float, Meta(gt=0, le=60)] = 5.0
    dns_timeout: Annotated[float, Meta(gt=0, le=300)] = 15.0
    #: seconds AT+PING waits for its echo (NOTES C13)
    ping_timeout: Annotated[float, Meta(gt=0, le=60)] = 5.0
    #: SNTP: seconds one query may take, and between refreshes once synchronised (C14)
    sntp_timeout: Annotated[float, Meta(gt=0, le=60)] = 5.0
    sntp_interval: Annotated[float, Meta(ge=10, le=86400)] = 3600.0
    #: TLS clients verify servers against the system CAs plus tls_ca_file,
    #: with the host name or address checked (NOTES T1)
    tls_verify: bool = True
    tls_ca_file: str | None = None
    #: a client certificate (chain) and key, for servers that ask for one
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    #: the TLS server certificate (chain) and key; without them a local CA and
    #: certificate are generated once in state_dir/tls (NOTES T2)
    tls_server_cert_file: str | None = None
    tls_server_key_file: str | None = None
    #: seconds an accepted peer may take over its TLS or DTLS handshake
    tls_handshake_timeout: Annotated[float, Meta(gt=0, le=600)] = 10.0
    #: seconds a DTLS server link's peer may send nothing before it counts as gone
    dtls_idle_timeout: Annotated[float, Meta(gt=0, le=86400)] = 60.0
    #: ESP-AT: the firmware profile the port speaks
    esp_at_version: Literal["2.4", "1.7"] = "2.4"
    #: ESP-AT: networks AT+CWJAP accepts (with their passwords) and AT+CWLAP
    #: lists; none: any SSID joins
    wifi_networks: list[WifiNetwork] = []
    #: ESP-AT: the virtual station is joined at boot (to the first network)
    boot_joined: bool = False
    #: ESP-AT: the network interface whose address AT+CIFSR reports; none:
    #: the interface of the IPv4 default route
    interface: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:@-]{1,15}$")] | None = None
    #: ESP-AT: the most data one active +IPD frame carries (a UDP datagram is never split)
    ipd_chunk: Annotated[int, Meta(ge=64, le=8192)] = 1460
    #: ESP-AT: milliseconds an unsolicited frame waits after a command's final reply
    urc_gap_ms: Annotated[int, Meta(ge=0, le=1000)] = 20
    #: ESP-AT: milliseconds from opening the device, or from a reset's OK, to `ready`
    ready_ms: Annotated[int, Meta(ge=0, le=10_000)] = 300


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    daemon: DaemonSettings = DaemonSettings()
    port: Annotated[list[PortSettings], Meta(min_length=1)]


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


def _one_line(error: msgspec.ValidationError) -> str:
    match = _AT.match(str(error))
    assert match is not None
    what, path = match["what"], (match["path"] or "").lstrip(".")
    unknown = re.match(r"Object contains unknown field `([^`]+)`", what)
    if unknown:
        key = f"{path}.{unknown[1]}" if path else unknown[1]
        return f"{key}: unknown key"
    missing = re.match(r"Object missing required field `([^`]+)`", what)
    if missing:
        key = f"{path}.{missing[1]}" if path else missing[1]
        return f"{key}: required key is missing"
    enum = re.match(r"Invalid enum value (.*)", what)
    if enum:
        return f"{path}: invalid value {enum[1]}, expected {_choices(path)}"
    what = what.replace("`", "")
    return f"{path or '(top level)'}: {what[0].lower()}{what[1:]}"


def _choices(path: str) -> str:
    """The values a Literal key takes, e.g. '"skt" or "cip"'."""
    section, _, key = path.rpartition(".")
    struct = DaemonSettings if section == "daemon" else PortSettings
    field = next(f for f in msgspec.inspect.type_info(struct).fields if f.name == key)
    kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) \
        else (field.type,)
    values = [f'"{value}"' for kind in kinds if isinstance(kind, msgspec.inspect.LiteralType)
              for value in kind.values]
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]


def parse(data: dict[str, Any]) -> Config:
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    return check(config)


def check(config: Config) -> Config:
    """What types and ranges cannot say, known before running (ConfigError)."""
    _check_names(config)
    _check_devices(config)
    _check_bind_addresses(config)
    _check_tls_files(config)
    return config


def _check_names(config: Config) -> None:
    seen: set[str] = set()
    for index, port in enumerate(config.port):
        if port.name in seen:
            raise ConfigError(f"port[{index}].name: {port.name!r} is used by another port")
        seen.add(port.name)


def _check_devices(config: Config) -> None:
    """One port per device and per pty link; a device path that exists is a
    character device; a pty link replaces only a symbolic link."""
    users: dict[str, int] = {}
    for index, port in enumerate(config.port):
        key = f"port[{index}].device"
        link = pty_link(port.device)
        if link is not None:
            # the link itself may be stale: only its directory is resolved
            uart = os.path.join(os.path.realpath(os.path.dirname(link)), os.path.basename(link))
            _check_link_path(key, link)
        elif port.device.startswith(PTY_PREFIX):
            continue  # "pty:": a new terminal, no link
        else:
            uart = os.path.realpath(port.device)  # by-id and /dev/ttyUSB0 are one device
            _check_character_device(key, port.device)
        if uart in users:
            raise ConfigError(f"{key}: {port.device} is port[{users[uart]}]'s device too")
        users[uart] = index


def _check_character_device(key: str, path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # absent for now: the daemon retries it
    if not stat.S_ISCHR(mode):
        raise ConfigError(f"{key}: {path} is not a character device")


def _check_link_path(key: str, link: str) -> None:
    try:
        mode = os.lstat(link).st_mode
    except OSError:
        return
    if not stat.S_ISLNK(mode):
        raise ConfigError(f"{key}: {link} exists and is not a symbolic link "
                          "(a pty link replaces only a link)")


def _check_bind_addresses(config: Config) -> None:
    for index, port in enumerate(config.port):
        try:
            ipaddress.ip_address(port.bind_address)
        except ValueError:
            raise ConfigError(f"port[{index}].bind_address: {port.bind_address!r} "
                              "is not an IP address") from None


def _check_tls_files(config: Config) -> None:
    """TLS files are read when a link needs them: a missing one is found now."""
    for index, port in enumerate(config.port):
        for name in TLS_FILES:
            path = getattr(port, name)
            if path is None:
                continue
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"port[{index}].{name}: cannot read {path}: "
                                  f"{exc.strerror}") from None


def load(path: str | Path) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 at byte {exc.start}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse(data)


def to_toml(config: Config) -> str:
    """The effective config, every default spelled out, as TOML."""
    lines = ["[daemon]"]
    lines += _toml_items(msgspec.to_builtins(config.daemon))
    for port in config.port:
        table = msgspec.to_builtins(port)
        networks = table.pop("wifi_networks")
        lines += ["", "[[port]]"] + _toml_items(table)
        if not networks:
            lines.append("wifi_networks = []")
        for network in networks:
            lines += ["[[port.wifi_networks]]"] + _toml_items(network)
    return "\n".join(lines) + "\n"


def _toml_items(table: dict[str, Any]) -> list[str]:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + "".join(map(_toml_char, v)) + '"'
        return repr(v)

    return [f"{key} = {value(v)}" if v is not None else f"# {key} is not set"
            for key, v in table.items()]


def _toml_char(char: str) -> str:
    """One character of a TOML basic string: control characters escaped."""
    if char in '"\\':
        return "\\" + char
    if char < " " or char == "\x7f":
        return f"\\u{ord(char):04X}"
    return char


def state_directory(daemon: DaemonSettings) -> Path:
    """ARCHITECTURE.md: the config, else $STATE_DIRECTORY (systemd), else XDG."""
    if daemon.state_dir:
        return Path(daemon.state_dir)
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(xdg) / "at-bridge"
