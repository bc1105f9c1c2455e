"""How catsel starts: Keras without TensorFlow's start-up lines, and modules loaded on first use.

``import catsel`` starts nothing heavy (no Keras, no backend), so the
command's input checks answer at once and image-decoding worker processes
start without TensorFlow; a stage's modules are loaded when first named.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Callable, Iterable

__all__ = ["import_keras", "START_UP_NOISE", "modules_on_first_use", "prefer_system_allocator", "ALLOCATOR"]

#: The TensorFlow setting :func:`prefer_system_allocator` gives, unless the user gave it first.
ALLOCATOR = "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"

#: What TensorFlow's native code prints when it is imported, twice: it goes straight to the process's standard
#: error (file descriptor 2) before its own log level applies, so only redirecting that descriptor holds it back.
#: In a notebook the kernel forwards that descriptor, and the lines appeared in red under the first cell.
START_UP_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|I0000 \S+ +\d+ "
                            r"(port\.cc|cpu_feature_guard\.cc)|To enable the following instructions|"
                            r"This TensorFlow binary is optimized)")


def import_keras(*, verbose: bool = False) -> None:
    """Import Keras and its backend; unless ``verbose``, without TensorFlow's start-up lines.

    Anything else written while importing (an error, a warning) is passed
    on as it was. Nothing happens when Keras is already imported.

    Parameters
    ----------
    verbose : bool, default False
        Let the backend's start-up messages through.
    """
    if verbose or "keras" in sys.modules:
        import keras  # noqa: F401
        return
    import os
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            importlib.import_module("keras")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode(errors="replace").splitlines():
                if not START_UP_NOISE.match(line):
                    print(line, file=sys.stderr)


def prefer_system_allocator() -> None:
    """Ask TensorFlow, before it starts, to give freed memory back (``TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1``).

    TensorFlow's oneDNN build (the pip default on x86) otherwise keeps every
    freed tensor of 256 KiB or more in a pool of its own that never shrinks:
    Keras initialises a weight through temporaries twice its size, so
    building VGG16 (0.55 GB of weights) left 2.1 GB resident, and each later
    step's temporaries stayed too (notebook 05 peaked at 4.4 GB; issue #38).
    With the system allocator the same VGG16 leaves 1.3 GB; on a CPU a
    capture takes about 9 % longer (fresh pages for each large tensor:
    ``benchmarks/notebooks_speed.py`` and the paired runs in
    docs/performance.md).

    A value already in the environment is kept (set ``0`` for TensorFlow's
    pool), and nothing changes once TensorFlow is imported.
    """
    import os

    os.environ.setdefault(ALLOCATOR, "1")


def modules_on_first_use(package: str, names: Iterable[str]) -> Callable[[str], object]:
    """A package's ``__getattr__`` that imports its modules when they are first named (PEP 562).

    ``catsel.figures.plots`` then works after a plain ``import catsel``, and
    importing a stage's package imports none of its modules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : iterable of str
        Its modules.

    Returns
    -------
    callable
    """
    known = frozenset(names)

    def __getattr__(name: str):
        if name in known:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
