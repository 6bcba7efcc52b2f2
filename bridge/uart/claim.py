"""Claims on a port's UART, so that a second daemon cannot take it away.

A pty link is claimed with a lock file beside it, ``LINK.lock``, flock'ed
(with the holder's pid inside) for as long as the port is configured: a
second at-bridge naming the same link finds it locked and leaves the link
alone, instead of pointing it at a terminal of its own. The link's directory
is the one place every daemon that could take the link must write to, so the
lock is where they all look. The holder removes the file when it lets go
(while still holding it; an acquirer that locked a file already removed
from its path tries again).

A serial device needs no file of its own: the port holds the device's own
flock while it is open (trio-serial's ``exclusive=True``, as picocom and
other terminal programs do), so at start a device somebody holds is refused.
"""

from __future__ import annotations

import fcntl
import os


class ClaimRefused(OSError):
    """The UART is another process's, or its link cannot be made: one line."""


class PtyLinkLock:
    """The lock file of one pty link (acquire and release are idempotent)."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.path = link + ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        while self._fd is None:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                raise ClaimRefused(f"pty link {self.link} is served by another at-bridge"
                                   + (f" (pid {holder})" if holder else "")) from None
            if self._still_at_path(fd):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._fd = fd
            else:  # its holder removed it as we opened it: lock the new one
                os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            raise ClaimRefused(f"cannot link the pty at {self.link}: directory "
                               f"{os.path.dirname(self.link) or '.'} does not exist") from None
        except OSError as exc:
            raise ClaimRefused(f"cannot lock pty link {self.link}: {self.path}: "
                               f"{exc.strerror}") from None

    def _still_at_path(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False


def check_device_free(path: str) -> None:
    """Refuse a serial device another process holds locked (a device absent
    or not openable now is the port's to retry, and to report). Opening and
    closing a free device may pulse its modem lines, as the port's own open
    does a moment later."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ClaimRefused(f"device {path} is locked by another process "
                           "(another at-bridge, or a terminal program)") from None
    finally:
        os.close(fd)
