"""Earlier configurations' stores, kept in ``activations.history/`` and taken back."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..paths import inside, is_digest
from .files import say
from .meta import NPY, StoreMeta

__all__ = ["KEEP_STORES", "set_aside", "prune"]

#: How many earlier captures (other configurations) an output folder keeps in ``activations.history/``.
KEEP_STORES = 5


def set_aside(path: Path, old: "StoreMeta | None") -> None:
    """Move another configuration's store (or a damaged one, ``old=None``) into ``<path>.history/``, saying so.

    Parameters
    ----------
    path : Path
        The store folder.
    old : StoreMeta or None
        Its metadata, when it could be read.
    """
    # the kept stores' folder is checked like every name below the run folder: a link that leads out of it is
    # refused before anything is moved, so no store is moved, and no folder removed, elsewhere
    history = inside(path.parent, path.name + ".history", what="folder of kept captures")
    if old is not None and not is_digest(old.key):  # a meta.json read without its checks: never a path from it
        old = None
    # a chunked store of a configuration is kept apart from its .npy store: each layout takes back its own
    name = ((old.key[:16] + ("" if old.layout == NPY else f"-{old.layout}")) if old is not None
            else f"damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    history.mkdir(exist_ok=True)
    kept = inside(history, name, what="kept store's name")
    if kept.is_symlink() or kept.is_file():
        kept.unlink()
    elif kept.exists():
        shutil.rmtree(kept)
    path.rename(kept)
    os.utime(kept)  # when it was set aside: the order in which kept stores are pruned
    what = f"{old.model}, {old.weights}, {old.n_rows} images" if old is not None else "damaged"
    say(f"the capture in {path} ({what}) is another configuration's: kept in {kept}")
    prune(history, keep=KEEP_STORES)


def prune(history: Path, keep: int) -> None:
    """Keep the ``keep`` most recently set aside stores of ``history``."""
    stores = sorted((p for p in history.iterdir() if p.is_dir() and not p.is_symlink()),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stores[keep:]:
        shutil.rmtree(old)
        say(f"removed the oldest kept capture, {old} (more than {keep} kept)")


