"""An exclusive lock on a run folder, so two runs never write into one folder at once."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from curator.errors import RunError

try:  # POSIX; on other systems runs are not locked (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".curator.lock"
_held: dict[Path, tuple[int, int]] = {}  # resolved folder -> (fd, depth): re-entrant within one process


def lock_holder(root: str | Path) -> tuple[str, str]:
    """(pid, token) written by the command that holds (or last held) the run folder's lock; ('', '') if none."""
    try:
        fields = (Path(root) / LOCK_NAME).read_text().split()
    except OSError:
        return "", ""
    return (fields + ["", ""])[0], (fields + ["", ""])[1]


def check_owner(root: str | Path, token: str) -> None:
    """Raise when the run folder is no longer held by the command whose lock token is `token`: a task of a
    driver that died (a Ray worker outliving it) must not publish into a run another driver has taken over."""
    if token and lock_holder(root)[1] != token:
        raise RunError(
            f"{root}: another curator command has taken over this run folder (the driver of this task is gone); "
            "this task stops without publishing anything"
        )


class RunLock:
    """Holds `flock(RUN_DIR/.curator.lock)` while a command writes into the folder; released by the kernel
    when the process dies, so a killed run never leaves a stale lock. Re-entrant within one process."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.key = self.root.resolve()
        self.path = self.root / LOCK_NAME
        self.acquired = False
        self.token = ""  # this holder's id, written after the pid: tasks check it before they publish

    def acquire(self) -> RunLock:
        if self.acquired:
            return self
        if self.key in _held:
            fd, depth = _held[self.key]
            _held[self.key] = (fd, depth + 1)
            self.token = lock_holder(self.root)[1]
            self.acquired = True
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = (os.read(fd, 64).decode(errors="replace").split() or ["unknown"])[0]
                os.close(fd)
                raise RunError(
                    f"{self.root} is in use by pid {holder} (another curator command is writing into it); "
                    "wait for it to finish, stop it, or use another --out"
                ) from None
        self.token = uuid.uuid4().hex
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.token}\n".encode(), 0)
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
