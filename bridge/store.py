"""Per-port persisted settings (AT+SYSSTORE, NOTES C16).

One small JSON file per port in the state directory, replaced atomically
(temporary file, fsync, rename, fsync of the directory): after a crash or a
power cut the file holds the old settings or the new, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import structlog
import trio

log = structlog.get_logger("bridge.store")


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        """The saved settings; none if the file is missing or unreadable."""
        try:
            values = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("store_unreadable", path=str(self.path), why=str(exc))
            return {}
        return values if isinstance(values, dict) else {}

    def save(self, values: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.",
                                                 dir=self.path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(values, file, sort_keys=True)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    async def asave(self, values: dict[str, Any]) -> bool:
        """``save`` off the event loop (fsync on an SD card can take a while).
        A state directory that cannot be written is an operational failure,
        logged in one line: the command that changed the setting still
        answers, and the setting holds until the port restarts."""
        try:
            await trio.to_thread.run_sync(self.save, dict(values))
        except OSError as exc:
            log.error("store_failed", path=str(self.path), why=exc.strerror or str(exc))
            return False
        return True
