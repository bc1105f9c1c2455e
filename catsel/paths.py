"""The one place where a stored name becomes a path.

A run folder is passed between people (a student hands one in, a colleague
mails one): every name read from it (a store key, a layer name, a row of
``index.csv``) is data, not a path. :func:`inside` joins such a name to the
folder it belongs in and refuses any name that would lead out of it, so no
read, write, move or removal that goes through it can touch a file elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .errors import StoreError

__all__ = ["inside", "not_a_link", "plain_name", "is_digest", "file_digest", "shown"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


def is_digest(text: object) -> bool:
    """Whether ``text`` is a SHA-256 hex digest (what a store's key is).

    Parameters
    ----------
    text : object

    Returns
    -------
    bool
    """
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def plain_name(name: object) -> bool:
    """Whether ``name`` can name a file below a folder: relative, no ``.``/``..`` part, no NUL or backslash.

    ``/`` may separate parts (a layer of a model nested in another is
    ``outer/inner``), each a non-empty name.

    Parameters
    ----------
    name : object

    Returns
    -------
    bool
    """
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def inside(folder: str | os.PathLike, name: str, *, source: str | os.PathLike | None = None,
           what: str = "name", links: bool = False) -> Path:
    """``folder / name``, when that lies inside ``folder``; a :class:`StoreError` otherwise.

    The name must be relative, hold no ``..`` part, and, where the path
    exists, not resolve through a symbolic link to somewhere outside
    ``folder`` (a link inside the folder to a place inside it is fine).

    Parameters
    ----------
    folder : str or path
    name : str
        A name read from a stored file (relative, ``/``-separated).
    source : str or path, optional
        The file the name was read from, named in the error.
    what : str, default "name"
        What the name is (``"layer name"``, ``"path"``), named in the error.
    links : bool, default False
        Let symbolic links inside ``folder`` lead elsewhere: a data folder's
        category may be a link the user made (only the name itself is checked).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    StoreError
        One line naming the file, the name and what to do.
    """
    folder = Path(folder)
    where = f" in {source}" if source is not None else ""
    if not plain_name(name) or os.path.isabs(name):
        raise StoreError(f"the {what} {name!r}{where} is not a plain name inside {folder}; the file was edited or "
                         "damaged: capture again into a new folder")
    path = folder / name
    if links:
        return path
    base = os.path.realpath(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([base, real]) != base:
        raise StoreError(f"the {what} {name!r}{where} leads outside {folder} (through a link to {real}); "
                         "remove the link or capture again into a new folder")
    return path


def not_a_link(path: str | os.PathLike, *, what: str = "") -> Path:
    """``path``, when it is not a symbolic link; a :class:`StoreError` otherwise.

    catsel never writes, moves or removes through a link: a file or folder it
    would write (an output the user named, a lock, a table) that exists as a
    link is reported in one line, and the place it points to stays as it is.
    What lies below a folder is checked by :func:`inside`.

    Parameters
    ----------
    path : str or path
    what : str, optional
        What the path is for (``"the lesion's folder"``), named in the error.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    StoreError
    """
    path = Path(path)
    if os.path.islink(path):
        raise StoreError(f"{path} is a symbolic link (to {os.readlink(path)}); catsel does not write "
                         f"{what or 'a file'} through a link: remove it, or name another path")
    return path


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (what ``run.json`` records of each file of a run, and ``--verify`` of images).

    Parameters
    ----------
    path : str or path

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def shown(name: str) -> str:
    """A file or folder name as text: bytes that are not UTF-8 written as ``\\xNN``.

    Python reads such a name with each stray byte as a lone surrogate
    (``os.fsdecode``), which no text file, terminal or figure can hold. The
    paths in ``index.csv`` keep the bytes themselves (the file can be opened
    again); categories, tables, figures, reports and messages show this form.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        ``name`` unchanged when it is valid UTF-8.
    """
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
