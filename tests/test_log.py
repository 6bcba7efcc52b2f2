"""Log events render bytes as escaped text, never as Python reprs."""

from __future__ import annotations

import json
import subprocess
import sys

from bridge.log import escaped, traced


def test_escaped_keeps_printable_ascii_and_escapes_the_rest() -> None:
    assert escaped(b"AT+X=\"a b\"~") == 'AT+X="a b"~'
    assert escaped(b"\r\n\t\\") == "\\r\\n\\t\\\\"
    assert escaped(bytes([0, 0x1F, 0x7F, 0x80, 0xFF])) == "\\x00\\x1f\\x7f\\x80\\xff"
    assert escaped(bytearray(b"ok")) == escaped(memoryview(b"ok")) == "ok"


def test_traced_gives_hex_and_text() -> None:
    assert traced(b"OK\r\n\x00") == {"hex": "4f4b0d0a00", "text": "OK\\r\\n\\x00"}


def log_line(log_format: str) -> str:
    code = ("import structlog; from bridge import log; "
            f"log.configure(log_format={log_format!r}); "
            "structlog.get_logger().warning('garbage', line=b'AT\\xff\\r\\n', n=1)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_json_log_renders_bytes_as_escaped_text() -> None:
    event = json.loads(log_line("json"))
    assert (event["event"], event["line"], event["n"]) == ("garbage", "AT\\xff\\r\\n", 1)


def test_console_log_renders_bytes_as_escaped_text() -> None:
    assert "line=AT\\xff\\r\\n n=1" in log_line("console")
