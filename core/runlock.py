"""One process per run directory, enforced by an OS file lock.

Two processes writing one run directory (two ``autoglm run`` into one
``--output``, or a ``--resume`` of a run still going) would both append trial
records. The run's process holds an exclusive ``flock`` on the directory's
lock file for as long as it runs. The kernel drops such a lock when the
process ends however it ends, so a SIGKILLed run leaves no stale lock behind
and can be resumed at once. The file itself stays (removing a lock file is
racy) and holds who took the lock, so a refusal can name the process.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autoglm.core.errors import UsageError

#: The lock file's name inside a run directory (hidden: it is bookkeeping, not a result).
LOCK = ".autoglm.lock"


class RunLock:
    """An exclusive, non-blocking lock on ``directory/.autoglm.lock``."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise UsageError naming the process that holds it."""
        import fcntl

        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _describe_holder(_read_holder(fd))
            os.close(fd)
            raise UsageError(
                f"run directory {str(self.path.parent)!r} is in use by {holder}; wait for it to finish or stop it "
                "(Ctrl-C, or kill PID), then resume with: autoglm run --resume "
                f"{self.path.parent}"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(_holder()) + "\n").encode("utf-8"))
        except OSError:
            pass  # the lock is what counts; who holds it is a courtesy
        self._fd = fd

    def release(self) -> None:
        import fcntl

        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv)[:300],
    }


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        found = json.loads(raw.decode("utf-8"))
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe_holder(holder: dict[str, Any]) -> str:
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return "another process"
    where = f" on {holder['host']}" if holder.get("host") and holder.get("host") != socket.gethostname() else ""
    since = f", since {holder['since']}" if holder.get("since") else ""
    command = f" ({holder['command']})" if holder.get("command") else ""
    return f"process {pid}{where}{command}{since}"
