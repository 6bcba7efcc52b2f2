"""The systemd units, the udev rule and the example config that ship in the repo.

``systemd-analyze verify`` must accept both units without a warning about
them, ``systemd-analyze security --offline=yes`` must rate each at most
MAX_EXPOSURE, and config/at-bridge.toml must pass check-config and show every
key. A missing systemd-analyze fails these tests (.ci/run installs systemd).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import config as config_module
from bridge.config import DaemonSettings, PortSettings

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "systemd"
PLAIN = UNITS / "at-bridge.service"
TEMPLATE = UNITS / "at-bridge@.service"
RULES = UNITS / "99-at-bridge.rules"
EXAMPLE = ROOT / "config" / "at-bridge.toml"
INSTALLED_BINARY = "/usr/local/bin/at-bridge"
MAX_EXPOSURE = 2.0
EXPOSURE = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?)")


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze is not installed; .ci/run installs systemd "
                    "(apt-get install systemd)")
    return path


def analyze(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="info", SYSTEMD_COLORS="0", LC_ALL="C.UTF-8")
    return subprocess.run([systemd_analyze(), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def service_settings(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every assignment in the unit's [Service] section, in order."""
    section, settings = None, []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        assert not line.endswith("\\"), f"{path.name}: continuation lines are not parsed here"
        key, _, value = line.partition("=")
        if section == "[Service]":
            settings.append((key.strip(), value.strip()))
    return settings


def the_binary() -> str:
    """An existing at-bridge to stand in for /usr/local/bin/at-bridge (verify
    checks that ExecStart's binary exists): the one installed beside this Python."""
    beside = Path(sys.executable).parent / "at-bridge"
    found = str(beside) if beside.exists() else shutil.which("at-bridge")
    if found is None:
        pytest.fail("at-bridge is not installed (pip install -e .)")
    return found


@pytest.mark.parametrize("unit", [PLAIN, TEMPLATE], ids=lambda p: p.name)
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    """systemd-analyze verify: no error and no warning about our unit.

    The test machine has no /usr/local/bin/at-bridge, so a copy whose
    ExecStart names the at-bridge installed here is verified; everything else
    is the file as shipped. verify exits 0 after mere warnings (an unknown
    key, a value that does not parse), so any line naming the unit fails too.
    """
    text = unit.read_text()
    assert f"ExecStart={INSTALLED_BINARY} run --config " in text
    copy = tmp_path / unit.name
    copy.write_text(text.replace(f"ExecStart={INSTALLED_BINARY} ", f"ExecStart={the_binary()} "))
    names = [unit.name] + (["at-bridge@meter1.service"] if unit == TEMPLATE else [])
    for name in names:
        result = analyze("verify", name, cwd=tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        about_us = [line for line in output.splitlines() if "at-bridge" in line]
        assert not about_us, "\n".join(about_us)


@pytest.mark.parametrize("unit", [PLAIN, TEMPLATE], ids=lambda p: p.name)
def test_unit_verify_fails_without_the_binary(unit: Path) -> None:
    """The unit as shipped points at /usr/local/bin/at-bridge (see the unit
    for a venv); where that does not exist, verify says so: the check works."""
    if Path(INSTALLED_BINARY).exists():
        pytest.skip(f"{INSTALLED_BINARY} exists here")
    result = analyze("verify", str(unit))
    assert result.returncode != 0
    assert f"{INSTALLED_BINARY} is not executable" in result.stdout + result.stderr


@pytest.mark.parametrize("unit", [PLAIN, TEMPLATE], ids=lambda p: p.name)
def test_unit_exposure(unit: Path) -> None:
    result = analyze("security", "--offline=yes", str(unit))
    output = result.stdout + result.stderr
    match = EXPOSURE.search(output)
    assert match is not None, output
    exposure = float(match[2])
    print(f"{unit.name}: overall exposure {exposure}")
    assert exposure <= MAX_EXPOSURE, output


def test_units_share_their_hardening() -> None:
    """The template differs only in what names the instance."""
    per_instance = {"ExecStart", "StateDirectory", "RuntimeDirectory"}
    plain = [item for item in service_settings(PLAIN) if item[0] not in per_instance]
    template = [item for item in service_settings(TEMPLATE) if item[0] not in per_instance]
    assert plain == template
    exec_start = dict(service_settings(TEMPLATE))["ExecStart"]
    assert exec_start == f"{INSTALLED_BINARY} run --config /etc/at-bridge/%i.toml"
    assert dict(service_settings(TEMPLATE))["StateDirectory"] == "at-bridge-%i"
    assert dict(service_settings(TEMPLATE))["RuntimeDirectory"] == "at-bridge-%i"


def test_unit_settings_the_daemon_relies_on() -> None:
    settings = service_settings(PLAIN)
    single = dict(settings)
    every = {key: [value for k, value in settings if k == key] for key in single}
    assert single["Type"] == "notify"
    assert single["NotifyAccess"] == "main"
    assert single["ExecStart"] == f"{INSTALLED_BINARY} run --config /etc/at-bridge/at-bridge.toml"
    assert single["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert single["WatchdogSec"]
    assert single["Restart"] == "on-failure"
    assert single["RestartPreventExitStatus"] == "2"  # a config error
    assert single["DynamicUser"] == "yes"
    assert single["SupplementaryGroups"] == "dialout"
    assert single["StateDirectory"] == "at-bridge"
    assert single["RuntimeDirectory"] == "at-bridge"
    assert single["CapabilityBoundingSet"] == single["AmbientCapabilities"] == "CAP_NET_RAW"
    assert single["DevicePolicy"] == "closed"
    for device in ("char-ttyUSB", "char-ttyACM", "char-ttyS", "/dev/ptmx", "char-pts"):
        assert f"{device} rw" in every["DeviceAllow"], device
    assert set(single["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # ffi.callback() (pyOpenSSL's PSK callbacks) needs W+X memory; PrivateDevices
    # would hide serial devices; PrivateUsers would void CAP_NET_RAW.
    for forbidden in ("MemoryDenyWriteExecute", "PrivateDevices", "PrivateUsers"):
        assert single.get(forbidden, "no") == "no", forbidden


def test_udev_rule_example() -> None:
    rules = [line for line in RULES.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    text = "\n".join(rules)
    for needed in ('ATTRS{idVendor}==', 'ATTRS{idProduct}==', 'ATTRS{serial}==',
                   'SYMLINK+="at-bridge/meter1"', 'ENV{ID_MM_DEVICE_IGNORE}="1"',
                   'GROUP="dialout"', 'MODE="0660"'):
        assert needed in text, needed
    # every non-comment line is a complete rule or continues one
    assert all("==" in line or "=" in line or line.startswith("LABEL") for line in rules)


def test_example_config_passes_check_config() -> None:
    result = subprocess.run([sys.executable, "-m", "bridge", "check-config", str(EXAMPLE)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    config = config_module.load(EXAMPLE)
    assert config_module.to_toml(config) == result.stdout
    serial, pty = config.port
    assert serial.dialect == "cip" and not serial.device.startswith("pty:")
    assert pty.dialect == "skt" and pty.device.startswith("pty:")
    # the pty link is in at-bridge.service's RuntimeDirectory=
    assert pty.device.startswith("pty:/run/at-bridge/")
    # the state directory is left to systemd ($STATE_DIRECTORY)
    assert config.daemon.state_dir is None


def _assigned(text: str, key: str) -> bool:
    """``key = ...`` or ``# key = ...`` at the start of a line."""
    return re.search(rf"^[ \t]*(?:#[ \t]*)?{re.escape(key)}[ \t]*=", text, re.MULTILINE) is not None


def test_example_config_shows_every_key() -> None:
    text = EXAMPLE.read_text()
    daemon, _, ports = text.partition("\n[[port]]\n")
    assert ports, "no [[port]] table"
    first_port = ports.split("\n[[port]]\n")[0]
    assert "\n[daemon]\n" in daemon
    missing = [f"daemon.{key}" for key in DaemonSettings.__struct_fields__
               if not _assigned(daemon, key)]
    missing += [f"port.{key}" for key in PortSettings.__struct_fields__
                if not _assigned(first_port, key)]
    assert not missing, f"config/at-bridge.toml does not show {missing}"


def test_example_config_states_the_defaults() -> None:
    """Each key set in the first [[port]] and [daemon] is at its default, but
    log_format (json, as recommended under systemd) and what a port needs."""
    config = config_module.load(EXAMPLE)
    port = config.port[0]
    defaults = PortSettings(name=port.name, device=port.device, dialect=port.dialect)
    assert port == defaults
    assert config.daemon == DaemonSettings(log_format="json")
