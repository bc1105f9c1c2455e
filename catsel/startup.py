"""Starting Keras without TensorFlow's start-up lines, for the command and the notebooks alike."""

from __future__ import annotations

import re
import sys

__all__ = ["import_keras", "START_UP_NOISE"]

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
    import importlib
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
