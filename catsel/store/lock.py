"""The output folder held by one capture or run at a time."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from ..errors import StoreError
from ..paths import not_a_link
from .files import write_error

__all__ = ["LOCK_NAME", "folder_lock"]


#: The lock file that a capture or a run holds in its output folder.
LOCK_NAME = ".catsel.lock"
_HELD: dict[str, list] = {}  # output folders this process holds: resolved path -> [file descriptor, depth]


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike):
    """Hold an output folder for this process alone, for as long as the ``with`` block runs.

    An operating-system lock (``flock``) on ``FOLDER/.catsel.lock``: a second
    capture or run into the same folder stops at once with one line naming
    the process that holds it, instead of both writing the same files. The
    lock ends with the process, so a run that was killed leaves nothing to
    clean up. The same process may take it again inside the block
    (:func:`catsel.run` holds it around :func:`catsel.capture`). Where the
    system has no ``fcntl`` (Windows), there is no lock.

    Parameters
    ----------
    folder : str or path
        The output folder (created if need be).

    Yields
    ------
    pathlib.Path
        The folder.

    Raises
    ------
    StoreError
        When another process holds the folder.
    """
    folder = Path(folder)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield folder
        return
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"{folder} is a file; give a folder for the output")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder.parent, exc, f"the output folder {folder.name}") from None
    key = str(folder.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield folder
        finally:
            _HELD[key][1] -= 1
        return
    # Written by hand rather than with the filelock package: its FileLock opens the lock file with O_TRUNC
    # before trying the lock, so a second run would erase the holder's name that the message below reads.
    lock = not_a_link(folder / LOCK_NAME, what="the output folder's lock")
    try:  # O_NOFOLLOW: a link planted between the check and the open is not followed either
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:  # a link that came after the check; a full disk, a read-only output folder
        if exc.errno == errno.ELOOP:
            not_a_link(lock, what="the output folder's lock")
        raise write_error(folder, exc, "the output folder's lock") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise StoreError(f"{folder} is in use by another catsel run ({holder}); wait for it to finish, "
                         "or choose another output folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
    _HELD[key] = [fd, 1]
    try:
        yield folder
    finally:
        _HELD.pop(key)
        if created and [p.name for p in folder.iterdir()] == [LOCK_NAME]:  # a run that failed leaves no folder
            (folder / LOCK_NAME).unlink()
            folder.rmdir()
        os.close(fd)  # releases the lock
