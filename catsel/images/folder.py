"""Category datasets: a folder with one sub-folder of images per category.

The layout is the one of the study (``face/``, ``i-see-face/``, ``car/``,
``dog/``) or any other set of categories::

    DATA_DIR/
        face/       img001.jpg, more/img002.png, ...
        car/        ...

Images are found recursively inside each category folder; hidden files and
folders (names starting with ``.``) are ignored. The order is deterministic:
categories sorted by name, then paths sorted inside each category.

How an image becomes the network's input
----------------------------------------
Every image goes through the same steps, so two runs on the same files give
the same pixels:

1. First frame only (GIF, multi-page TIFF); EXIF orientation applied.
2. Converted to 8-bit RGB: grey and palette images are expanded; CMYK goes
   through Pillow's conversion; 16- and 32-bit integer images are divided by
   257 (the 16-bit range mapped onto 8 bits) and float images clipped to
   [0, 255]; any alpha channel, and a PNG's transparent colour, is
   composited over white.
3. Resized to ``image_size`` x ``image_size`` with Pillow's bicubic filter,
   which widens its support when shrinking (anti-aliasing). The default of
   ``keras.utils.load_img`` is nearest-neighbour, which aliases: fine
   textures turn into moiré that the early filters then respond to.
   ``fit="squash"`` (default) resizes the whole image, changing its aspect
   ratio, as ``load_img(target_size=...)`` does; ``fit="crop"`` scales the
   shorter side and keeps the central square. Large JPEGs are decoded at a
   reduced scale first (Pillow's draft mode: a power-of-two DCT reduction
   that still leaves every side at least ``image_size``), which is faster
   and itself a clean downsampling.

Files that cannot be used (not an image, empty, truncated, larger than
Pillow's decompression-bomb limit ``PIL.Image.MAX_IMAGE_PIXELS``) are skipped
and reported with their reason; with ``strict=True`` the first one stops the
run instead.
"""

from __future__ import annotations

import copy
import os
import stat
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import CatselError, DatasetError, ImageError, warnings_as_one_line
from ..options import hw, image_shape
from ..paths import shown

__all__ = ["ImageFolder", "Skipped", "load_image", "decode_many", "notebook_paths", "IMAGE_EXTENSIONS"]

#: File endings read as images (case-insensitive).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)

#: How images are decoded, by number; part of a store's and a decoded cache's key, so that a change of
#: decoding is never mixed with images decoded before it. 2: a PNG's transparent value (tRNS) over white.
DECODING = 2

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_ORIENTATION = 0x0112  # the EXIF orientation tag
_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class Skipped:
    """A file left out of the dataset, and why.

    Parameters
    ----------
    path : str
    reason : str
        One line that names the file's problem.
    """

    path: str
    reason: str

    def __post_init__(self):  # a name that is not UTF-8 is shown with its bytes escaped (it is only ever shown)
        object.__setattr__(self, "path", shown(str(self.path)))
        object.__setattr__(self, "reason", shown(str(self.reason)))

    def as_dict(self) -> dict[str, str]:
        """The record written to ``run.json``.

        Returns
        -------
        dict
            ``{"path": ..., "reason": ...}``.
        """
        return {"path": self.path, "reason": self.reason}


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, the same way every time."""
    mode = im.mode
    transparent = im.info.get("transparency")  # a PNG's tRNS: one grey or RGB value, or a palette's alphas
    if mode.startswith("I") or mode == "F":
        raw = np.asarray(im, dtype=np.float64)
        arr = raw / 257.0 if mode != "F" else raw
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        if isinstance(transparent, int):  # a transparent grey value: over white, as for an alpha channel
            arr[raw == transparent] = 255
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode in ("P", "L", "RGB") and transparent is not None:
        im = im.convert("RGBA")
        mode = im.mode
    elif mode == "P":
        im = im.convert("RGB")
        mode = im.mode
    if mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        return im.convert("RGB")
    return im


# One thread at a time records Pillow's warnings: `warnings.catch_warnings` swaps process-wide state, and two
# decoding threads inside it at once could leave the recorder installed for good. Only the opening, which reads
# the header (where Pillow warns of a malformed MPO file or a near-bomb), runs under the lock; decoding does not.
_WARNINGS_LOCK = threading.Lock()


def _open(path: Path) -> Image.Image:
    """``Image.open``, with any warning of Pillow's raised again as one warning that names the file.

    Pillow's own warnings name neither the image nor anything but a line of
    its source in site-packages.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        im = Image.open(path)
        im.getexif()  # read now: Pillow warns here of corrupt EXIF data
    for w in caught:
        if not issubclass(w.category, Image.DecompressionBombWarning):  # refused below, with its own line
            warnings.warn(f"{path}: {w.message}", UserWarning, stacklevel=3)
    return im


def load_image(path: str | os.PathLike, image_size: int, fit: str = "squash") -> np.ndarray:
    """Read one image as the network sees it.

    See the module docstring for every step (first frame, EXIF orientation,
    8-bit RGB, alpha over white, Pillow's anti-aliased bicubic resize).

    Parameters
    ----------
    path : str or path
    image_size : int or (int, int)
        Side of the square output, or its height and width, in pixels.
    fit : {"squash", "crop"}
        Squash the whole image, or keep its central part of the output's shape.

    Returns
    -------
    ndarray of uint8, shape (height, width, 3)

    Raises
    ------
    ImageError
        Naming the file and the reason, when the file cannot be used.
    """
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO, a device (/dev/zero), a socket: never opened, never read
            kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                    or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
            raise ImageError(f"{path}: {kind}, not an image file; replace it with the image, or remove it")
        if st.st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
        with _open(path) as im:
            if im.width * im.height > Image.MAX_IMAGE_PIXELS:
                raise ImageError(
                    f"{path}: {im.width}x{im.height} pixels is over Pillow's "
                    f"decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels; "
                    "resize the file, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it"
                )
            # an image opens at its first frame (GIF, TIFF); JPEGs decode straight to RGB at a reduced scale
            height, width = hw(image_size)
            if im.format == "JPEG":
                im.draft("RGB", (width, height))
            if im.getexif().get(_ORIENTATION, 1) != 1:  # transpose only when needed: it copies the image
                im = ImageOps.exif_transpose(im)
            im = _to_rgb(im)
            size = (width, height)  # Pillow's order
            if fit == "squash":
                im = im.resize(size, Image.Resampling.BICUBIC)
            elif fit == "crop":
                im = ImageOps.fit(im, size, Image.Resampling.BICUBIC)
            else:
                raise ValueError(f"fit must be 'squash' or 'crop', not {fit!r}")
            return np.asarray(im, dtype=np.uint8)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: over Pillow's decompression-bomb limit ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot be decoded ({exc})") from None


def decode_rows(paths: Sequence[str], target: np.ndarray, start: int, image_size: int, fit: str) -> list[str | None]:
    """Decode files into rows ``start...`` of ``target`` (zeros where a file fails); return the reasons."""
    errors: list[str | None] = []
    for k, path in enumerate(paths):
        try:
            target[start + k] = load_image(path, image_size, fit)
            errors.append(None)
        except ImageError as exc:
            target[start + k] = 0
            errors.append(str(exc))
    return errors


def decode_many(paths: Sequence[str], image_size: int, fit: str) -> tuple[np.ndarray, list[str | None]]:
    """Decode several files into one batch.

    Parameters
    ----------
    paths : sequence of str
    image_size : int or (int, int)
    fit : {"squash", "crop"}

    Returns
    -------
    batch : ndarray of uint8, shape (len(paths), height, width, 3)
        Zeros where a file failed.
    reasons : list of str or None
        Why each file failed, or ``None``.
    """
    batch = np.zeros((len(paths), *hw(image_size), 3), dtype=np.uint8)
    return batch, decode_rows(paths, batch, 0, image_size, fit)


def decode_into(memory: str, shape: tuple[int, ...], start: int, paths: Sequence[str], image_size: int,
                fit: str) -> list[str | None]:
    """Decode files into rows ``start...`` of a uint8 array in shared memory; return the reasons of failures.

    The unit of work of catsel's decoding processes (importing this module
    does not import Keras, so workers start in a fraction of a second). The
    pixels never travel through a pipe: a worker writes them where the
    capture reads them.
    """
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(name=memory)  # the capture process creates and unlinks it
    try:
        target = np.ndarray(shape, dtype=np.uint8, buffer=shm.buf)
        try:
            return decode_rows(paths, target, start, image_size, fit)
        finally:
            del target
    finally:
        shm.close()


def watch_parent(parent: int, every: float = 0.5) -> None:
    """End this decoding process when the process that started it is gone.

    The initializer of catsel's decoding processes: a thread checks the
    parent's id every ``every`` seconds. Without it, a capture killed with
    ``SIGKILL`` or ``SIGTERM`` left its workers (and with them Python's
    resource tracker and the shared memory it tracks) alive for good. The
    process ignores Ctrl-C (SIGINT): the capture that started it stops it.

    Parameters
    ----------
    parent : int
        The process id of the capture.
    every : float, default 0.5
        Seconds between two checks.
    """
    import signal
    import time

    warnings_as_one_line()  # what a decoding process warns of reaches the terminal as catsel's own lines do
    # Ctrl-C reaches the whole process group: the capture stops its workers itself and says so in one line;
    # a worker interrupted in its queue printed a KeyboardInterrupt traceback each before it
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="catsel-watch-parent", daemon=True).start()


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _real_folders(root: Path) -> set[tuple[int, int]]:
    """Every folder under ``root`` reached without following a link, by device and inode."""
    found = set()
    for dirpath, _, _ in os.walk(root, followlinks=False):
        st = os.stat(dirpath)
        found.add((st.st_dev, st.st_ino))
    return found


def _walk_files(folder: Path, owned: set, seen: set, exclude: set, skipped: list) -> list[Path]:
    """The visible files under a category folder, each linked folder followed at most once.

    A link to a folder that the data folder already holds (the category
    itself, the data folder, another category: a loop or a relabelling), to one
    scanned before, or to catsel's output folder is left out with a reason.
    """
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:  # os.walk would leave the folder out without a word
        skipped.append(Skipped(str(exc.filename), f"folder cannot be read ({exc.strerror}); its images are left "
                                                  "out"))

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True, onerror=unreadable):
        keep = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            full = Path(dirpath) / name
            try:
                st = full.stat()
            except OSError as exc:
                skipped.append(Skipped(str(full), f"folder cannot be read ({exc.strerror}); left out"))
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in exclude:
                skipped.append(Skipped(str(full), "catsel's output folder; left out of the scan"))
            elif full.is_symlink() and (ident in owned or ident in seen):
                skipped.append(Skipped(str(full), "a link to a folder that is scanned already (a loop, the data "
                                                  "folder or another category); left out"))
            else:
                seen.add(ident)
                keep.append(name)
        dirnames[:] = keep
        found.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


@dataclass
class ImageFolder:
    """A labelled image folder: one sub-folder per category.

    Parameters
    ----------
    root
        The folder holding one sub-folder per category.
    image_size
        Side of the square images given to the network, in pixels, or their
        ``(height, width)`` (``"HxW"`` is taken too).
    fit
        ``"squash"`` (resize the whole image) or ``"crop"`` (its central part of that shape).
    max_per_category
        Keep only the first N images of each category (in path order); handy
        for a quick look or a class.
    exclude
        Folders to leave out of the scan (listed in ``skipped``): the run's
        output folder, when it lies inside the data folder.

    Attributes
    ----------
    categories : tuple of str
        Category names; the index of a name is its label.
    paths : list of pathlib.Path
        Candidate image files, category by category, in path order.
    labels : numpy.ndarray
        Integer label of each path.
    skipped : list of Skipped
        Files left out while scanning (not an image file). Files that fail
        to decode are reported by :func:`catsel.capture`.
    """

    root: Path
    image_size: int | tuple[int, int] = 224
    fit: str = "squash"
    max_per_category: int | None = None
    exclude: tuple = ()
    categories: tuple[str, ...] = field(init=False)
    paths: list[Path] = field(init=False)
    labels: np.ndarray = field(init=False)
    skipped: list[Skipped] = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser()
        if self.fit not in ("squash", "crop"):
            raise ValueError(f"fit must be 'squash' or 'crop', not {self.fit!r}")
        try:
            self.image_size = image_shape(self.image_size)
        except CatselError as exc:
            raise DatasetError(str(exc)) from None
        self._scan()

    def _scan(self) -> None:
        root = self.root
        if not root.is_dir():
            what = "is a file, not a folder" if root.exists() else "does not exist"
            raise DatasetError(
                f"{root} {what}; give a folder with one sub-folder of images per category"
            )
        exclude = set()
        for path in self.exclude:
            try:
                st = Path(path).stat()
            except OSError:  # not there yet: nothing to leave out
                continue
            exclude.add((st.st_dev, st.st_ino))
        skipped: list[Skipped] = []
        folders = []
        # an image beside the category folders is misplaced and listed; any other file there (a README, a
        # licence) describes the data and is not part of it
        for p in sorted((p for p in root.iterdir() if not p.is_dir() and _visible(p)
                         and p.suffix.lower() in IMAGE_EXTENSIONS), key=lambda p: p.name):
            skipped.append(Skipped(str(p), "lies in the data folder itself, not in a category folder: "
                                           "left out (an image for a category belongs in its folder)"))
        for p in sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)), key=lambda p: p.name):
            st = p.stat()
            if (st.st_dev, st.st_ino) in exclude:
                skipped.append(Skipped(str(p), "catsel's output folder; left out of the scan"))
            else:
                folders.append(p)
        if len(folders) < 2:
            raise DatasetError(
                f"{root} has {len(folders)} category sub-folder(s); selectivity needs at least two "
                "(put each category's images in its own sub-folder, e.g. face/ and car/)"
            )
        paths: list[Path] = []
        labels: list[int] = []
        owned = _real_folders(root) - exclude
        seen: set = set()
        for label, folder in enumerate(folders):
            images = []
            for f in _walk_files(folder, owned, seen, exclude, skipped):
                if f.suffix.lower() in IMAGE_EXTENSIONS:
                    images.append(f)
                else:
                    skipped.append(Skipped(str(f), f"not an image file (extension {f.suffix or 'none'!s})"))
            if not images:
                raise DatasetError(
                    f"category folder {folder} holds no image file "
                    f"({', '.join(sorted(IMAGE_EXTENSIONS))}); add images or remove the folder"
                )
            if self.max_per_category is not None:
                images = images[: self.max_per_category]
            paths.extend(images)
            labels.extend([label] * len(images))
        # a category's name is text: a folder name that is not UTF-8 is shown with its bytes escaped, and the
        # images' paths keep the bytes themselves
        self.categories = tuple(shown(f.name) for f in folders)
        if len(set(self.categories)) < len(self.categories):
            twice = next(c for c in self.categories if self.categories.count(c) > 1)
            raise DatasetError(f"two category folders of {root} are both shown as {twice!r} (one name is not UTF-8); "
                               "rename one of them")
        self.paths = paths
        self.labels = np.asarray(labels, dtype=np.int32)
        self.skipped = skipped

    def at_size(self, image_size) -> "ImageFolder":
        """The same images read at another size: a new folder, checked, not scanned again.

        Parameters
        ----------
        image_size : int, (int, int) or "HxW"

        Returns
        -------
        ImageFolder
        """
        try:
            size = image_shape(image_size)
        except CatselError as exc:
            raise DatasetError(str(exc)) from None
        other = copy.copy(self)
        other.image_size = size
        return other

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def counts(self) -> dict[str, int]:
        """Number of candidate images per category."""
        n = np.bincount(self.labels, minlength=len(self.categories))
        return {c: int(k) for c, k in zip(self.categories, n)}

    def relative_paths(self) -> list[str]:
        """The images' paths relative to ``root``, with forward slashes.

        Returns
        -------
        list of str
        """
        # string slicing, not Path.relative_to: a capture asks three times, and relative_to took 0.4 s per
        # 2,560 images on the GPU machine's CPU (docs/performance.md)
        prefix = os.path.join(str(self.root), "")
        return [text[len(prefix):].replace(os.sep, "/") if text.startswith(prefix)
                else p.relative_to(self.root).as_posix() for p, text in ((p, str(p)) for p in self.paths)]

    def load(self, index: int) -> np.ndarray:
        """The image at ``index``, as the network sees it.

        Parameters
        ----------
        index : int

        Returns
        -------
        ndarray of uint8, shape (height, width, 3)

        Raises
        ------
        ImageError
            Naming the file and the reason.
        """
        return load_image(self.paths[index], self.image_size, self.fit)

    def load_batch(self, indices: Sequence[int]) -> tuple[np.ndarray, list[str | None]]:
        """Several images at once, and why any failed.

        Parameters
        ----------
        indices : sequence of int

        Returns
        -------
        batch : ndarray of uint8, shape (len(indices), height, width, 3)
            Failed images are left as zeros.
        reasons : list of str or None
        """
        return decode_many([str(self.paths[i]) for i in indices], self.image_size, self.fit)

    def check(self) -> list[Skipped]:
        """Decode every image once, and list the files that cannot be used.

        Includes the non-image files found while scanning (``skipped``).

        Returns
        -------
        list of Skipped
        """
        bad = list(self.skipped)
        for i, path in enumerate(self.paths):
            try:
                self.load(i)
            except ImageError as exc:
                bad.append(Skipped(str(path), str(exc).removeprefix(f"{path}: ")))
        return bad

    def batches(self, batch_size: int, start: int = 0) -> Iterator[tuple[int, np.ndarray, list[str | None]]]:
        """The images in batches, from ``start`` to the end.

        Parameters
        ----------
        batch_size : int
        start : int, default 0

        Yields
        ------
        first : int
            Index of the batch's first image.
        images : ndarray of uint8, shape (n, height, width, 3)
        errors : list of str or None
        """
        for first in range(start, len(self), batch_size):
            idx = range(first, min(first + batch_size, len(self)))
            images, errors = self.load_batch(idx)
            yield first, images, errors


def notebook_paths(data_dir: str | os.PathLike | None, out_dir: str | os.PathLike | None) -> tuple[Path, Path]:
    """The notebooks' data and output folders, wherever they are run from.

    ``None`` stands for the repository's bundled ``sample_data/`` and its
    ``runs/notebooks/``, found from catsel's own location, so that a notebook
    runs the same from ``notebooks/``, from the repository root (``papermill
    notebooks/01_dataset.ipynb out.ipynb``) or from anywhere else. A folder
    given is used as given. It also starts Keras, without the start-up lines
    TensorFlow's native code writes (:func:`catsel.startup.import_keras`).

    Parameters
    ----------
    data_dir : str, path or None
    out_dir : str, path or None

    Returns
    -------
    data_dir, out_dir : Path

    Raises
    ------
    DatasetError
        When ``data_dir`` is None and catsel was installed without its
        repository (no bundled sample data): set ``data_dir``.
    """
    from ..startup import import_keras

    import_keras()  # the notebook's next cell starts Keras: here, without TensorFlow's start-up lines in red
    repository = Path(__file__).resolve().parents[2]
    if data_dir is None:
        data_dir = repository / "sample_data"
        if not data_dir.is_dir():
            raise DatasetError(f"no bundled sample data at {data_dir} (catsel was installed without its "
                               "repository): set data_dir to a folder with one sub-folder of images per category")
    if out_dir is None:
        out_dir = repository / "runs" / "notebooks" if (repository / "sample_data").is_dir() else Path("runs/notebooks")
    return Path(data_dir), Path(out_dir)
