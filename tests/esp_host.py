"""What the ESP-AT tests share: the reply words and a port opened the way
a host starts (after `ready`, echo off unless asked)."""

from __future__ import annotations

from conftest import Device, StartPort

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
READY = b"\r\nready\r\n"
BUSY = b"\r\nbusy p...\r\n"
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n"
MAC = rb"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"  # E2: always lowercase


async def open_esp(start_port: StartPort, *, echo: bool = False, **settings: object) -> Device:
    """An ESP-AT port (profile 2.4 unless ``esp_at_version`` says) whose
    `ready` has been read; ``ready_ms`` short unless given."""
    settings.setdefault("ready_ms", 20)
    device = await start_port(dialect="esp-at", **settings)
    await device.expect(READY)
    if not echo:
        await device.command(b"ATE0", b"ATE0\r\n" + OK)
    return device


async def join(device: Device, ssid: bytes = b"home", password: bytes = b"secret") -> None:
    """E9: join a network (any SSID joins when the port configures none)."""
    await device.command(b'AT+CWJAP="%s","%s"' % (ssid, password), JOINED + OK)
