"""The keras-hub source: image backbones by preset (``hub:PRESET``, ``hub:kaggle://...``, ``hub:FOLDER``), built
with keras-hub and captured as Keras networks (:mod:`catsel.network.hub.preset`). This module imports no
framework: it says which ``--model`` values are presets and identifies a preset folder by its bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ...errors import ModelError
from ..sources import Source

__all__ = ["HUB", "is_hub", "preset_digest", "SOURCE"]


#: The prefix of a keras-hub preset given as ``--model``.
HUB = "hub:"


def is_hub(model) -> bool:
    """Whether ``model`` names a keras-hub preset (``"hub:..."``).

    Parameters
    ----------
    model : object

    Returns
    -------
    bool
    """
    return isinstance(model, str) and model.startswith(HUB)


def preset_digest(folder: str | os.PathLike) -> str:
    """SHA-256 of a preset folder: every plain file's name and bytes, in name order (a link is refused).

    Parameters
    ----------
    folder : str or path

    Returns
    -------
    str
    """
    from ...paths import file_digest

    root = Path(folder)
    h = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if not p.is_dir()):
        if file.is_symlink() or not file.is_file():
            raise ModelError(f"{file}: a preset folder holds plain files only; copy the file in instead of linking it")
        h.update(f"{file.relative_to(root).as_posix()}\0{file_digest(file)}\0".encode())
    return h.hexdigest()


#: The source in the registry (:mod:`catsel.network.sources`).
SOURCE = Source("hub", is_hub, "catsel.network.hub.preset:hub_network", "keras", ("hub",))
