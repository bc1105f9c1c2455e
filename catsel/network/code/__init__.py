"""The code source: a network built by a function in a Python file of the lab's own, ``--model FILE.py:FACTORY``.

``FACTORY()`` returns a ``torch.nn.Module`` or a ``keras.Model`` (its weights loaded as the lab loads them), and
catsel captures it as any network of that framework. The record keeps the file's SHA-256 as it keeps a weights
file's. catsel never runs code because a record names it: a command on a run folder (``lesion``,
``visualize``) rebuilds the network from the file only when the user names it again with ``--model``, and only
when its bytes are the ones captured. This package imports no framework (:mod:`catsel.network.code.build` runs
the file).
"""

from __future__ import annotations

import os
import re

from ..sources import Source

__all__ = ["CODE", "is_code", "split_code", "SOURCE"]

#: ``FILE.py:FACTORY``: a Python file and a function in it.
CODE = re.compile(r"^(?P<file>.+\.py):(?P<factory>[A-Za-z_][A-Za-z0-9_]*)$")


def is_code(model) -> bool:
    """Whether ``model`` names a Python file and a function in it (``nets/mine.py:build``).

    Parameters
    ----------
    model : object

    Returns
    -------
    bool
    """
    return isinstance(model, (str, os.PathLike)) and CODE.match(os.fspath(model)) is not None


def split_code(model) -> tuple[str, str]:
    """``("nets/mine.py", "build")`` of ``"nets/mine.py:build"``.

    Parameters
    ----------
    model : str

    Returns
    -------
    file, factory : str
    """
    found = CODE.match(os.fspath(model))
    if found is None:
        raise ValueError(f"{model!r} is not FILE.py:FACTORY")
    return found.group("file"), found.group("factory")


#: The source in the registry (:mod:`catsel.network.sources`): its networks' framework is known once built.
SOURCE = Source("code", is_code, "catsel.network.code.build:code_network", None, ())
