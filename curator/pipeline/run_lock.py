"""An exclusive lock on a run folder, so two runs never write into one folder at once."""

from __future__ import annotations

import os
from pathlib import Path

from curator.errors import RunError

try:  # POSIX; on other systems runs are not locked (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".curator.lock"
_held: dict[Path, tuple[int, int]] = {}  # resolved folder -> (fd, depth): re-entrant within one process


class RunLock:
    """Holds `flock(RUN_DIR/.curator.lock)` while a command writes into the folder; released by the kernel
    when the process dies, so a killed run never leaves a stale lock. Re-entrant within one process."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.key = self.root.resolve()
        self.path = self.root / LOCK_NAME
        self.acquired = False

    def acquire(self) -> RunLock:
        if self.acquired:
            return self
        if self.key in _held:
            fd, depth = _held[self.key]
            _held[self.key] = (fd, depth + 1)
            self.acquired = True
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunError(
                    f"{self.root} is in use by pid {holder} (another curator command is writing into it); "
                    "wait for it to finish, stop it, or use another --out"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[self.key] = (fd, 1)
        self.acquired = True
        return self

    def release(self) -> None:
        if not self.acquired:
            return
        self.acquired = False
        fd, depth = _held[self.key]
        if depth > 1:
            _held[self.key] = (fd, depth - 1)
            return
        del _held[self.key]
        os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
