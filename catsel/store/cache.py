"""The decoded-image cache: uint8 images at a model's size, on disk, shared by the captures of one folder.

``--cache DIR`` keeps, per folder, size and fit, three files named by
``catsel.capturing.key.decoded_cache_key``: the images
(``decoded-<key>.npy``), which of them are decoded (``decoded-<key>-done.npy``)
and why some could not be (``decoded-<key>.json``). The files are allocated
on disk when the cache is made (a full disk stops there, in one line) and
their sizes are checked against their headers before they are trusted; a
batch is marked decoded only after its pixels are on disk.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..options import hw
from .files import FULL, no_space, read_json, take_blocks, write_json
from .npy import array_damage

__all__ = ["DecodedCache"]


class DecodedCache:
    """The decoded images of one folder at one size, read and filled batch by batch.

    Parameters
    ----------
    folder : Path
        The cache's folder.
    key : str
        The images' identity (``catsel.capturing.key.decoded_cache_key``).
    n : int
        Images of the folder.
    image_size : int or (int, int)
    """

    def __init__(self, folder: Path, key: str, n: int, image_size):
        folder.mkdir(parents=True, exist_ok=True)
        images, done, state = (folder / f"decoded-{key}.npy", folder / f"decoded-{key}-done.npy",
                               folder / f"decoded-{key}.json")
        shapes = {images: ((n, *hw(image_size), 3), np.uint8), done: ((n,), np.bool_)}
        damaged = [f"{path} {damage}" for path, (shape, dtype) in shapes.items()
                   for damage in [array_damage(path, shape, dtype)[0]] if damage is not None]
        if state.exists() and not damaged:  # sizes checked first: NumPy would extend a short file with zeros
            self.images = np.lib.format.open_memmap(images, mode="r+")
            self.done = np.lib.format.open_memmap(done, mode="r+")
            self.errors = read_json(state)["errors"]
        else:
            if state.exists():
                warnings.warn(f"{damaged[0]}: the decoded cache is not trusted; its images are decoded again",
                              UserWarning, stacklevel=5)
            state.unlink(missing_ok=True)  # a stop before the first batch is written leaves no cache to trust
            need = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in shapes.values())
            try:
                for path, (shape, dtype) in shapes.items():
                    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
                    with open(path, "r+b") as f:
                        take_blocks(f.fileno(), array.offset + array.nbytes)
                    setattr(self, "images" if path == images else "done", array)
            except OSError as exc:
                if exc.errno in FULL:
                    raise no_space(folder, "the decoded cache", need) from None
                raise
            self.errors = {}
        self.state_path = state

    def has(self, first: int, stop: int) -> bool:
        """Whether images ``first`` to ``stop`` are decoded.

        Parameters
        ----------
        first, stop : int

        Returns
        -------
        bool
        """
        return bool(self.done[first:stop].all())

    def read(self, first: int, stop: int, batch: np.ndarray) -> list:
        """Copy images ``first`` to ``stop`` into the start of ``batch``.

        Parameters
        ----------
        first, stop : int
        batch : ndarray

        Returns
        -------
        list of str or None
            Each image's error (None when it was read).
        """
        batch[: stop - first] = self.images[first:stop]
        return [self.errors.get(str(i)) for i in range(first, stop)]

    def write(self, first: int, batch: np.ndarray, errors: list) -> None:
        """Keep a decoded batch: its pixels, then its errors, then the mark that it is done.

        Parameters
        ----------
        first : int
        batch : ndarray
            Padded to the batch size; ``len(errors)`` rows are kept.
        errors : list of str or None
        """
        stop = first + len(errors)
        self.images[first:stop] = batch[: stop - first]
        self.images.flush()
        self.errors.update({str(first + i): e for i, e in enumerate(errors) if e})
        write_json(self.state_path, {"errors": self.errors})
        self.done[first:stop] = True  # marked after the pixels are on disk
        self.done.flush()
