"""Brain or behaviour data keyed by image: dissimilarity matrices and responses, read and matched to a run.

Two kinds of input, each with the ordered list of the images it describes:

- **RDMs**: one n × n representational dissimilarity matrix, or several (subjects or sessions, for a noise
  ceiling): a ``.npy`` of shape (n, n) or (subjects, n, n), a ``.csv`` of n rows and n numbers (a header
  row of image names is read as the names), or a MATLAB ``.mat`` file (a named variable). Several files are
  several subjects.
- **responses**: images × columns (voxels, neurons or regions): a ``.npy`` of shape (n, columns) or
  (repetitions, n, columns), or a ``.csv``/Parquet table with a column of image names (``image``), an
  optional ``repetition`` column (one row per image and repetition) and one numeric column per response.
  Columns belong to regions through an optional region list (one label per column); without one each column
  is its own region.

The names are matched to the run's images by the path relative to the data folder (``face/img01.jpg``)
when they hold a ``/``, by file name otherwise. Nothing is dropped without a word: images on one side only
are named in one warning, duplicated names are an error. Nothing is unpickled: ``.npy`` files are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BrainDataError

__all__ = ["BrainRDMs", "BrainResponses", "RDM_KINDS", "load_rdms", "load_responses", "read_names", "match_images",
           "check_varies", "check_responses_vary"]

#: The name column of a table of names or responses, in the order they are looked for.
NAME_COLUMNS = ("image", "name", "file", "filename", "stimulus")


@dataclass
class BrainRDMs:
    """Dissimilarity matrices of one or more subjects over the same images.

    Parameters
    ----------
    matrices : ndarray, shape (subjects, n, n)
        Symmetric, zero diagonal, finite.
    names : list of str
        The image each row and column stands for.
    source : str
        The file(s) they came from, for messages.
    """

    matrices: np.ndarray
    names: list[str]
    source: str

    @property
    def subjects(self) -> int:
        """How many matrices (subjects or sessions)."""
        return len(self.matrices)

    def take(self, order) -> "BrainRDMs":
        """The matrices restricted to and reordered by ``order``.

        Parameters
        ----------
        order : array of int
            Indices into ``names``.

        Returns
        -------
        BrainRDMs
        """
        order = np.asarray(order)
        return BrainRDMs(self.matrices[:, order][:, :, order], [self.names[i] for i in order], self.source)


@dataclass
class BrainResponses:
    """Responses of voxels, neurons or regions to images.

    Parameters
    ----------
    values : ndarray, shape (n, columns)
        The mean over repetitions.
    names : list of str
        The image of each row.
    columns : list of str
        The name of each response column.
    regions : list of str
        The region of each column.
    repetitions : ndarray, shape (repetitions, n, columns), optional
        Each repetition apart, for the noise ceiling.
    source : str
    """

    values: np.ndarray
    names: list[str]
    columns: list[str]
    regions: list[str]
    repetitions: np.ndarray | None = None
    source: str = ""

    def take(self, order) -> "BrainResponses":
        """The responses restricted to and reordered by ``order``.

        Parameters
        ----------
        order : array of int
            Indices into ``names``.

        Returns
        -------
        BrainResponses
        """
        order = np.asarray(order)
        reps = None if self.repetitions is None else self.repetitions[:, order]
        return BrainResponses(self.values[order], [self.names[i] for i in order], self.columns, self.regions, reps,
                              self.source)

    @property
    def region_names(self) -> list[str]:
        """The regions, in the order their first column appears."""
        return list(dict.fromkeys(self.regions))


def _npy(path: Path) -> np.ndarray:
    """A ``.npy`` file's array, its header checked against the file before anything is allocated: a header
    claiming more values than the file holds would otherwise ask NumPy for terabytes."""
    try:
        with open(path, "rb") as f:
            start = f.read(6)
            f.seek(0)
            if start != b"\x93NUMPY":
                text = start.decode("ascii", "replace") if start and all(32 <= b < 127 or b in (9, 10, 13)
                                                                           for b in start) else ""
                raise BrainDataError(f"{path} is not a NumPy array file ({'it is text' if text else 'no .npy header'}"
                                     "); save the matrix with numpy.save, or as a .csv of numbers")
            try:
                version = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read(f, max_header_size=10000)
            except Exception as exc:  # NumPy parses the header as Python: a damaged one raises whatever its parser does
                raise BrainDataError(f"{path} has a damaged .npy header ({str(exc).splitlines()[0][:80]}); save the "
                                     "matrix again with numpy.save") from None
            offset = f.tell()
        size = path.stat().st_size
    except OSError as exc:
        raise BrainDataError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if dtype.hasobject:
        raise BrainDataError(f"{path} holds Python objects, which catsel does not unpickle; save a plain numeric "
                             "array (numpy.save of a float array)")
    _real(dtype, path)
    expected = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size != expected:
        raise BrainDataError(f"{path}: its header says {' × '.join(map(str, shape))} values of {dtype} "
                             f"({expected:,} bytes) but the file holds {size:,} bytes; it was cut short or edited: "
                             "save it again with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise BrainDataError(f"{path} is not a NumPy array file catsel can read ({exc}); save it with numpy.save") \
            from None


def _real(dtype, path, variable: str = "") -> None:
    """Refuse anything but real numbers: booleans, complex numbers, dates and text are not dissimilarities or
    responses (NumPy would turn dates into numbers of seconds, and drop imaginary parts with a warning)."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating):
        return
    kind = {"b": "true/false values", "c": "complex numbers", "M": "dates (datetime64)", "m": "durations (timedelta64)",
            "U": "text", "S": "bytes", "V": "records", "O": "Python objects"}.get(dtype.kind, str(dtype))
    where = f"{path}: {variable!r}" if variable else str(path)
    raise BrainDataError(f"{where} holds {kind}, not real numbers; save the values as a float array")


def _mat(path: Path, variable: str | None) -> np.ndarray:
    from scipy.io import loadmat

    try:
        contents = loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        raise BrainDataError(f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read; save it from MATLAB "
                             "with save(..., '-v7') or export the matrix to .npy or .csv") from None
    except (ValueError, OSError, TypeError) as exc:
        raise BrainDataError(f"{path} is not a MATLAB .mat file scipy can read ({exc})") from None
    names = [k for k in contents if not k.startswith("__")]
    if variable is None:
        if len(names) != 1:
            raise BrainDataError(f"{path} holds {len(names)} variables ({', '.join(names) or 'none'}); name the "
                                 "matrix with --variable NAME (variable= from Python)")
        variable = names[0]
    if variable not in contents:
        raise BrainDataError(f"{path} has no variable {variable!r} (it has {', '.join(names) or 'none'}); name one "
                             "of them with --variable")
    value = contents[variable]
    from scipy import sparse

    if sparse.issparse(value):  # a MATLAB sparse matrix: its zeros are dissimilarities of 0, made explicit
        _real(value.dtype, path, variable)
        return value.toarray()
    if value.dtype == object or value.dtype.names:
        raise BrainDataError(f"{path}: variable {variable!r} is not a numeric matrix (a MATLAB cell or struct); "
                             "save the dissimilarities as a plain double matrix")
    _real(value.dtype, path, variable)
    return value


def _numeric(path: Path, frame: pd.DataFrame, what: str) -> np.ndarray:
    for column in frame.columns:  # true/false, dates or complex numbers would be cast to numbers without a word
        if frame[column].dtype.kind in "bcmM":
            _real(frame[column].dtype, path, str(column))
    try:
        return frame.to_numpy(dtype=float)
    except (TypeError, ValueError):
        bad = next((c for c in frame.columns if pd.to_numeric(frame[c], errors="coerce").isna().any()), "?")
        raise BrainDataError(f"{path}: column {bad!r} of the {what} is not numeric; the file should hold numbers "
                             "only (image names go in the header or a separate --names file)") from None


def _csv_rdm(path: Path) -> tuple[np.ndarray, list[str] | None]:
    try:
        frame = pd.read_csv(path, header=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise BrainDataError(f"{path} is not a CSV file of numbers ({str(exc).splitlines()[0]})") from None
    names = None
    first = pd.to_numeric(frame.iloc[0], errors="coerce")
    if len(frame) and first.isna().any():  # a header row of image names
        header = [str(v) for v in frame.iloc[0]]
        frame = frame.iloc[1:].reset_index(drop=True)
        if frame.shape[1] == len(frame) + 1:  # a first column of names as well
            frame = frame.iloc[:, 1:]
            header = header[1:]
        names = header
    elif frame.shape[1] == len(frame) + 1 and pd.to_numeric(frame.iloc[:, 0], errors="coerce").isna().all():
        names = [str(v) for v in frame.iloc[:, 0]]  # a first column of names only
        frame = frame.iloc[:, 1:]
    return _numeric(path, frame, "matrix"), names


def read_names(path: str | os.PathLike) -> list[str]:
    """The image names in a text file (one per line) or a CSV file (its ``image`` column, or its first).

    Parameters
    ----------
    path : str or path

    Returns
    -------
    list of str
        In file order, stripped; blank lines skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise BrainDataError(f"{path}: no such file of image names; give one name per line (or a CSV with an "
                             "'image' column), in the order of the matrix rows")
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            column = next((c for c in frame.columns if str(c).strip().lower() in NAME_COLUMNS), frame.columns[0])
            names = [str(v).strip() for v in frame[column]]
        else:  # a byte-order mark (Windows editors write one) is no part of the first name
            names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BrainDataError(f"{path} is not a text file of image names ({str(exc).splitlines()[0]})") from None
    names = [n for n in names if n]
    if not names:
        raise BrainDataError(f"{path} lists no image names")
    return names


#: What an ``--rdm`` file holds: dissimilarities (the default), or similarities that catsel turns into
#: dissimilarities on the user's word (``--rdm-kind similarity``).
RDM_KINDS = ("dissimilarity", "similarity")


def _as_dissimilarities(matrix: np.ndarray, path: str) -> np.ndarray:
    """Similarities as dissimilarities: ``d_ij = (s_ii + s_jj) / 2 - s_ij``, which is ``1 - r`` for correlations
    and ``d`` for negated distances (a zero diagonal), so the order of the pairs is kept."""
    diagonal = np.diagonal(matrix, axis1=1, axis2=2)
    converted = (diagonal[:, :, None] + diagonal[:, None, :]) / 2 - matrix
    scale = max(float(np.abs(matrix).max()), 1e-12)
    if converted.min() < -1e-8 * scale:
        raise BrainDataError(f"{path}: read as similarities (--rdm-kind similarity), some pairs are more similar "
                             "than an image is to itself; this is not a similarity matrix either: check the file")
    np.clip(converted, 0, None, out=converted)
    for m in converted:
        np.fill_diagonal(m, 0)
    return converted


def _check_rdm(matrix: np.ndarray, path: str, kind: str = "dissimilarity") -> np.ndarray:
    _real(np.asarray(matrix).dtype, path)
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim == 2:
        matrix = matrix[None]
    if matrix.ndim != 3 or matrix.shape[1] != matrix.shape[2]:
        raise BrainDataError(f"{path}: a dissimilarity matrix is square (n × n, or subjects × n × n); this one is "
                             f"{' × '.join(map(str, np.shape(matrix)))}")
    if not len(matrix):
        raise BrainDataError(f"{path} holds no matrix (its shape is 0 × {matrix.shape[1]} × {matrix.shape[2]}); "
                             "give at least one subject's dissimilarities")
    if matrix.shape[1] < 3:
        raise BrainDataError(f"{path}: a {matrix.shape[1]} × {matrix.shape[1]} matrix compares too few images "
                             "(at least 3)")
    if not np.isfinite(matrix).all():
        raise BrainDataError(f"{path}: the matrix holds {int((~np.isfinite(matrix)).sum())} NaN or infinite "
                             "values; fill or remove those images before comparing")
    if not np.allclose(matrix, matrix.transpose(0, 2, 1), rtol=1e-5, atol=1e-8):
        raise BrainDataError(f"{path}: the matrix is not symmetric; a dissimilarity matrix is (average it with "
                             "its transpose if the asymmetry is noise)")
    if kind == "similarity":
        return _as_dissimilarities(matrix, path)
    diagonal = np.diagonal(matrix, axis1=1, axis2=2)
    hint = "give dissimilarities (1 - r for correlations), or say so with --rdm-kind similarity " \
           "(rdm_kind='similarity' from Python)"
    if np.abs(diagonal).max() > 1e-8:
        if np.allclose(diagonal, diagonal[:, :1]) and (matrix <= diagonal[:, :1, None] + 1e-8).all():
            raise BrainDataError(f"{path}: this looks like a similarity matrix (its diagonal is all "
                                 f"{diagonal[0, 0]:g}, no pair above it); {hint}")
        raise BrainDataError(f"{path}: the diagonal is not zero; a dissimilarity matrix has 0 on its diagonal "
                             f"(is this a similarity matrix? {hint})")
    if matrix.min() < 0:
        raise BrainDataError(f"{path}: {int((matrix < 0).sum())} entries are negative (down to {matrix.min():.3g}); "
                             "dissimilarities are not: negated distances or similarities with a zeroed diagonal? "
                             f"{hint}")
    return matrix


def check_varies(matrices: np.ndarray, source: str) -> None:
    """Refuse a matrix whose pairs are all equally dissimilar: its ranks, and any correlation with it, are
    undefined (they gave empty rows and NumPy's "Mean of empty slice").

    Parameters
    ----------
    matrices : ndarray, shape (subjects, n, n)
    source : str
        The file, named in the message.
    """
    upper = np.triu_indices(matrices.shape[1], 1)
    for i, m in enumerate(matrices):
        pairs = m[upper]
        if np.ptp(pairs) <= 1e-12 * max(1.0, float(np.abs(pairs).max())):
            who = f"matrix {i + 1} of " if len(matrices) > 1 else ""
            raise BrainDataError(f"{who}{source}: every pair of its {m.shape[0]} images is equally dissimilar "
                                 f"({pairs[0]:g}): ranks undefined, nothing to compare; check the file (or the "
                                 "images it shares with the run)")


def check_responses_vary(values: np.ndarray, columns: list[str], source: str) -> None:
    """Refuse response columns that are the same for every image: a correlation with them, and their ranks, are
    undefined (they gave empty rows and NumPy's warnings).

    Parameters
    ----------
    values : ndarray, shape (n, columns)
    columns : list of str
    source : str
    """
    flat = np.ptp(values, axis=0) <= 1e-12 * np.maximum(1.0, np.abs(values).max(axis=0))
    if flat.any():
        named = ", ".join(columns[i] for i in np.flatnonzero(flat)[:3])
        raise BrainDataError(f"{source}: {int(flat.sum())} of its {len(columns)} response columns are the same for "
                             f"every image ({named}{', ...' if flat.sum() > 3 else ''}): ranks undefined, nothing "
                             "to predict; remove those columns (or check the images it shares with the run)")


def load_rdms(files, names=None, *, variable: str | None = None, kind: str = "dissimilarity") -> BrainRDMs:
    """Read one or more dissimilarity matrices (subjects or sessions) of the same images.

    Parameters
    ----------
    files : str, path, or list of them
        ``.npy`` (n × n or subjects × n × n), ``.csv`` (n × n numbers, with
        an optional header row of image names) or ``.mat`` files; several
        files are several subjects of the same images, in the same order.
    names : str, path or list of str, optional
        The image of each row: a file (one name per line, or a CSV with an
        ``image`` column) or the list itself. Needed unless a CSV's header
        gives them.
    variable : str, optional
        The variable of a ``.mat`` file (needed when it holds several).
    kind : {"dissimilarity", "similarity"}, default "dissimilarity"
        What the files hold. Similarities are turned into dissimilarities as
        ``(s_ii + s_jj) / 2 - s_ij`` (``1 - r`` for correlations); a matrix
        that looks like similarities but is not said to be is refused.

    Returns
    -------
    BrainRDMs

    Raises
    ------
    BrainDataError
        One line naming the file and what is wrong: not square, not
        symmetric, a non-zero diagonal, negative values, NaNs, not real
        numbers, every pair equally dissimilar, a name list of another
        length, a pickled, cut short or unreadable file.
    """
    if kind not in RDM_KINDS:
        raise BrainDataError(f"--rdm-kind {kind}: give one of {', '.join(RDM_KINDS)}")
    files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    if not files:
        raise BrainDataError("no dissimilarity matrix given: pass --rdm FILE")
    matrices, header = [], None
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise BrainDataError(f"{path}: no such file; give a .npy, .csv or .mat dissimilarity matrix")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            matrix = _npy(path)
        elif suffix == ".csv":
            matrix, found = _csv_rdm(path)
            header = header or found
        elif suffix == ".mat":
            matrix = _mat(path, variable)
        else:
            raise BrainDataError(f"{path}: catsel reads dissimilarity matrices from .npy, .csv or .mat files, not "
                                 f"{suffix or 'a file without a suffix'}; pickle files are never read")
        matrix = _check_rdm(matrix, str(path), kind)
        check_varies(matrix, str(path))
        if matrices and matrix.shape[1:] != matrices[0].shape[1:]:
            raise BrainDataError(f"{path}: a {matrix.shape[1]} × {matrix.shape[1]} matrix beside {files[0]}'s "
                                 f"{matrices[0].shape[1]} × {matrices[0].shape[1]}; several files are subjects of "
                                 "the same images")
        matrices.append(matrix)
    stacked = np.concatenate(matrices)
    source = ", ".join(str(f) for f in files)
    listed = _names(names, header, stacked.shape[1], files[0], "rows of the matrix")
    return BrainRDMs(stacked, listed, source)


def _names(names, header, n: int, file, what: str) -> list[str]:
    if names is None:
        if header is None:
            raise BrainDataError(f"{file} does not say which image each row is; pass --names FILE (one image "
                                 "name per line, in row order)")
        listed, origin = list(header), f"{file}'s header"
    elif isinstance(names, (str, os.PathLike)):
        listed, origin = read_names(names), str(names)
    else:
        listed, origin = [str(v) for v in names], "the names given"
    if len(listed) != n:
        raise BrainDataError(f"{origin} lists {len(listed)} image names for the {n} {what} of {file}; give one "
                             "name per row, in row order")
    return listed


def load_responses(file, names=None, *, regions=None) -> BrainResponses:
    """Read responses (images × voxels, neurons or regions), with repetitions where given.

    Parameters
    ----------
    file : str or path
        A ``.npy`` of shape (n, columns) or (repetitions, n, columns), or a
        ``.csv``/``.parquet`` table: an ``image`` column, an optional
        ``repetition`` column, and one numeric column per response.
    names : str, path or list of str, optional
        The image of each row of a ``.npy`` (a table names its own rows).
    regions : str, path or list of str, optional
        The region of each response column (a file with one label per
        line, or the list); default: each column is its own region.

    Returns
    -------
    BrainResponses

    Raises
    ------
    BrainDataError
        One line naming the file and what is wrong.
    """
    path = Path(file)
    if not path.is_file():
        raise BrainDataError(f"{path}: no such file; give a .npy, .csv or .parquet file of responses")
    suffix = path.suffix.lower()
    reps = None
    if suffix == ".npy":
        array = _npy(path)
        if array.ndim not in (2, 3) or 0 in array.shape:
            raise BrainDataError(f"{path}: responses are a numeric array of images × columns (or repetitions × "
                                 f"images × columns), at least one of each; this one is of shape {array.shape}")
        array = array.astype(float)
        if array.ndim == 3:
            reps = array
        n, columns = array.shape[-2], [str(i) for i in range(array.shape[-1])]
        listed = _names(names, None, n, path, "rows of the responses")
    elif suffix in (".csv", ".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path) if suffix != ".csv" else pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
            raise BrainDataError(f"{path} is not a table catsel can read ({str(exc).splitlines()[0]})") from None
        lower = {str(c).strip().lower(): c for c in frame.columns}
        key = next((lower[c] for c in NAME_COLUMNS if c in lower), None)
        if key is None:
            raise BrainDataError(f"{path} has no column of image names; name it 'image' (columns found: "
                                 f"{', '.join(map(str, frame.columns[:8]))})")
        rep = lower.get("repetition")
        value_columns = [c for c in frame.columns if c not in (key, rep)]
        if not value_columns:
            raise BrainDataError(f"{path} has no response column beside {key!r}")
        if not len(frame):
            raise BrainDataError(f"{path} has no rows of responses; give one row per image (and repetition)")
        values = _numeric(path, frame[value_columns], "responses")
        frame_names = frame[key].astype(str).str.strip().tolist()
        columns = [str(c) for c in value_columns]
        if rep is None:
            array, listed = values, frame_names
        else:
            listed = list(dict.fromkeys(frame_names))
            position = {name: i for i, name in enumerate(listed)}
            empty = frame[rep].isna() | (frame[rep].astype(str).str.strip() == "")
            if empty.any():
                raise BrainDataError(f"{path}: {int(empty.sum())} rows have no {rep!r} (first: row "
                                     f"{int(np.flatnonzero(empty.to_numpy())[0]) + 2} of the file); give every row its "
                                     "repetition, or drop the column")
            rep_ids = frame[rep].to_numpy()
            levels = list(dict.fromkeys(rep_ids.tolist()))
            reps = np.full((len(levels), len(listed), len(columns)), np.nan)
            level_index = {v: i for i, v in enumerate(levels)}
            rows = np.array([position[name] for name in frame_names])
            taken = np.array([level_index[v] for v in rep_ids.tolist()])
            if len(set(zip(rows.tolist(), taken.tolist()))) != len(rows):
                raise BrainDataError(f"{path}: an image has two rows with the same repetition; each image × "
                                     "repetition is one row")
            reps[taken, rows] = values
            if np.isnan(reps).any():
                missing = int(np.isnan(reps).any(axis=2).sum())
                raise BrainDataError(f"{path}: {missing} image × repetition rows are missing; every image needs "
                                     "every repetition (or drop the repetition column)")
            array = reps
        if names is not None:
            raise BrainDataError(f"{path} names its rows in its {key!r} column; --names is for .npy responses")
    else:
        raise BrainDataError(f"{path}: catsel reads responses from .npy, .csv or .parquet files, not "
                             f"{suffix or 'a file without a suffix'}")
    if not np.isfinite(array).all():
        raise BrainDataError(f"{path}: the responses hold {int((~np.isfinite(array)).sum())} NaN or infinite values; "
                             "fill or remove them before encoding")
    mean = array.mean(axis=0) if array.ndim == 3 else array
    check_responses_vary(mean, columns, str(path))
    if reps is not None and len(reps) < 2:
        reps = None
    if regions is None:
        labels = list(columns)
    else:
        labels = (read_names(regions) if isinstance(regions, (str, os.PathLike)) else [str(r) for r in regions])
        if len(labels) != len(columns):
            raise BrainDataError(f"{regions if isinstance(regions, (str, os.PathLike)) else 'regions'} gives "
                                 f"{len(labels)} region labels for the {len(columns)} response columns of {path}; "
                                 "give one label per column")
    return BrainResponses(mean, listed, columns, labels, reps, str(path))


def match_images(names: list[str], paths: list[str], source: str) -> tuple[np.ndarray, np.ndarray]:
    """Match data names to a run's images: by relative path when the names hold a ``/``, by file name otherwise.

    Parameters
    ----------
    names : list of str
        The data's image names, in data order.
    paths : list of str
        The run's image paths relative to its data folder, in run order.
    source : str
        The data file, named in messages.

    Returns
    -------
    data_rows, run_rows : ndarray of int
        Paired indices of the images on both sides, in run order.

    Raises
    ------
    BrainDataError
        Duplicated names, a file name that two of the run's images share, or
        fewer than 3 images in common.

    Warns
    -----
    UserWarning
        One line naming the images found on one side only (they are left out).
    """
    by_path = any("/" in n or "\\" in n for n in names)
    clean = [n.replace("\\", "/").lstrip("./") if by_path else n for n in names]
    keys = [p.replace("\\", "/") if by_path else p.replace("\\", "/").rsplit("/", 1)[-1] for p in paths]
    seen, doubled = set(), []
    for n in clean:
        (doubled.append(n) if n in seen else seen.add(n))
    if doubled:
        raise BrainDataError(f"{source}: {len(doubled)} image names appear twice ({', '.join(doubled[:3])}); each "
                             "row of the data is one image")
    run_index = {}
    shared = []
    for i, k in enumerate(keys):
        if k in run_index:
            shared.append(k)
        run_index[k] = i
    data_index = {n: i for i, n in enumerate(clean)}
    if shared and any(n in set(shared) for n in clean):
        raise BrainDataError(f"{source}: the file name {shared[0]} belongs to several of the run's images (in "
                             "different categories); name the images by their path in the data folder "
                             "(category/file)")
    common = [k for k in keys if k in data_index]
    only_data = [n for n in clean if n not in run_index]
    only_run = [k for k in keys if k not in data_index]
    if len(common) < 3:
        example = f" (data: {clean[0]}; run: {keys[0]})" if clean and keys else ""
        raise BrainDataError(f"{source}: {len(common)} of its {len(clean)} image names match the run's {len(keys)} "
                             f"images{example}; name them by file name or by path in the data folder")
    if only_data or only_run:
        parts = []
        if only_data:
            parts.append(f"{len(only_data)} of its images are not in the run ({', '.join(only_data[:3])}"
                         f"{', ...' if len(only_data) > 3 else ''})")
        if only_run:
            parts.append(f"{len(only_run)} of the run's images are not in it ({', '.join(only_run[:3])}"
                         f"{', ...' if len(only_run) > 3 else ''})")
        warnings.warn(f"{source}: {'; '.join(parts)}: the {len(common)} images on both sides are compared",
                      stacklevel=2)
    run_rows = np.array([run_index[k] for k in common] if not shared else
                        [i for i, k in enumerate(keys) if k in data_index], dtype=int)
    data_rows = np.array([data_index[keys[i]] for i in run_rows], dtype=int)
    return data_rows, run_rows
