"""Files of a store written whole or not at all, and the one line a failed write gets."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sys
import uuid
from pathlib import Path

from ..errors import StoreError
from ..paths import not_a_link

__all__ = ["FULL", "take_blocks", "byte_size", "no_space", "write_error", "atomic_write", "write_json", "read_json", "read_record", "say"]

FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def take_blocks(fd: int, size: int) -> None:
    """Allocate a file's disk blocks now, not as rows arrive (``posix_fallocate`` where there is one).

    NumPy sizes a new ``.npy`` file sparsely; a memory map over it dies of
    ``SIGBUS`` when the disk fills while it is written. With the blocks taken
    at the start, a full disk stops there, with one line (:func:`no_space`).
    """
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)


def byte_size(n: int) -> str:
    """A number of bytes in words: ``"3.2 GB"``, ``"41 MB"``, ``"120 KB"``."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}" if n < 10 * scale else f"{n / scale:,.0f} {unit}"
    return f"{n / 1024:,.0f} KB"


def no_space(folder: Path, what: str, need: int | None = None) -> StoreError:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    needs = f"{what} needs {byte_size(need)} and " if need else f"writing {what}: "
    return StoreError(f"no space left on the disk of {folder}: {needs}{byte_size(free)} are free; free some "
                      "space or choose another output folder (everything saved before is kept)")


def write_error(folder: Path, exc: OSError, what: str = "the store", need: int | None = None) -> StoreError:
    """One line for an error writing ``what`` into ``folder``: a full disk (with the sizes), or a folder that
    cannot be written (read-only, no permission)."""
    if exc.errno in FULL:
        return no_space(folder, what, need)
    return StoreError(f"{folder} cannot be written ({exc.strerror or exc}): choose an output folder you can "
                      "write to (everything saved before is kept)")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """Write a file under a temporary name beside it, flush it to the disk, then rename it into place.

    The one way catsel replaces a file: a reader never sees a half-written
    file, a crash or a full disk leaves the earlier file as it was (with one
    line that says so), and two processes never share a temporary name.

    Parameters
    ----------
    path : str or path
        The file to write.

    Yields
    ------
    pathlib.Path
        The temporary path to write to.

    Raises
    ------
    StoreError
        When the disk is full.
    """
    path = not_a_link(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on the disk before the name points at it
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in FULL:
            raise no_space(path.parent, path.name) from None
        raise


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def sweep_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` left in ``folder`` when its process was killed.

    A temporary file names its writer's process id; one whose process is
    gone is a leftover (a process still running may be writing it, and is
    left alone). Links and folders are never touched.

    Parameters
    ----------
    folder : str or path

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _TEMPORARY.match(entry.name)
        if not found or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
            alive = pid != 0
        except ProcessLookupError:
            alive = False
        except (PermissionError, OverflowError, OSError):
            alive = True  # another user's process, or cannot tell: left alone
        if not alive:
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def write_json(path: Path, data: dict) -> None:
    """Replace a JSON record of the store whole (:func:`atomic_write`).

    Parameters
    ----------
    path : Path
    data : dict
    """
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_record(path: Path) -> dict:
    """A JSON record of the store, or one line saying what is wrong with it."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise StoreError(f"{path} is missing: the store is damaged; rerun the capture to repair it") from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands of levels deep
        raise StoreError(f"{path} cannot be read ({type(exc).__name__}: {str(exc)[:80]}); the store is damaged: "
                         "rerun the capture to repair it") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path} does not hold a record; the store is damaged: rerun the capture to repair it")
    return data


def say(message: str) -> None:
    print(f"catsel: {message}", file=sys.stderr, flush=True)




def output_digests(folder: Path, names) -> dict:
    """The SHA-256 of each output file a command wrote into ``folder``, as its record keeps them (``brain.json``,
    ``lesion.json``, a comparison's record; ``run.json`` has its own).

    Parameters
    ----------
    folder : Path
    names : iterable of str

    Returns
    -------
    dict
        File name to 64 hexadecimal digits.
    """
    from ..paths import file_digest

    return {name: file_digest(Path(folder) / name) for name in names}


def changed_outputs(folder: Path, recorded, names) -> list[str]:
    """Which of ``names`` in ``folder`` are not the bytes their record's digests (``recorded``) say: edited,
    replaced or missing since the command wrote them, or never recorded (a record without digests).

    Parameters
    ----------
    folder : Path
    recorded : object
        The record's ``files`` field (a dict of digests; anything else records none).
    names : iterable of str

    Returns
    -------
    list of str
    """
    from ..paths import file_digest, inside

    recorded = recorded if isinstance(recorded, dict) else {}
    changed = []
    for name in names:
        path = inside(folder, name, what="output")  # never through a link out of the folder
        if not path.is_file() or not isinstance(recorded.get(name), str) or file_digest(path) != recorded[name]:
            changed.append(name)
    return changed


def reusable(record_file: Path, request: dict, names) -> dict | None:
    """The record of outputs a command made for this very request, when they are still the bytes it wrote; None
    when there is none, or it was made for another request, or (with a warning naming it) it or one of its
    files is damaged or edited: the command then makes them again, and the run after reuses them.

    Parameters
    ----------
    record_file : Path
        ``brain.json``, ``lesion.json``.
    request : dict
        What the command was asked, with the identities of its inputs (JSON values).
    names : iterable of str
        The output files beside the record.

    Returns
    -------
    dict or None
    """
    import warnings

    record_file = Path(record_file)
    if not record_file.is_file():
        return None
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as exc:
        warnings.warn(f"{record_file} cannot be read ({type(exc).__name__}): its outputs are made again",
                      stacklevel=2)
        return None
    if not isinstance(record, dict):
        warnings.warn(f"{record_file} does not hold a record: its outputs are made again", stacklevel=2)
        return None
    if record.get("request") != json.loads(json.dumps(request, default=str)):
        return None
    changed = changed_outputs(record_file.parent, record.get("files"), names)
    if changed:
        warnings.warn(f"{', '.join(changed)} in {record_file.parent} {'is' if len(changed) == 1 else 'are'} not what "
                      f"{record_file.name} records (edited, replaced or removed): made again", stacklevel=2)
        return None
    return record
