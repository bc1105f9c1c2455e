"""A capture's identity: the images, the network and every choice that changes the numbers.

The same key means the same capture, whichever layout keeps its arrays (one
process's ``.npy`` rows, or a cluster's Zarr chunks): a finished store of
either is reused by the other.
"""

from __future__ import annotations

import hashlib
import json

from typing import TYPE_CHECKING

from ..images.folder import DECODING, ImageFolder
from ..store import VERSION

if TYPE_CHECKING:
    from ..network.interface import Network

__all__ = ["files_signature", "store_key", "decoded_cache_key"]


def files_signature(folder: ImageFolder, verify: bool = False) -> list:
    """Each image's identity: ``[path, size, mtime_ns]``, or ``[path, sha256]`` with ``verify``.

    Parameters
    ----------
    folder : ImageFolder
    verify : bool, default False

    Returns
    -------
    list
    """
    sig = []
    for rel, path in zip(folder.relative_paths(), folder.paths):
        if verify:  # the bytes themselves
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            sig.append([rel, digest.hexdigest()])
        else:
            st = path.stat()
            sig.append([rel, st.st_size, st.st_mtime_ns])
    return sig


def store_key(amodel: "Network", folder: ImageFolder, verify: bool = False,
              signature: list | None = None) -> str:
    """Identity of a capture.

    The images (path, size, modification time; or, with ``verify``, path and
    contents), the network (architecture and weights), preprocessing,
    precision, image size, fit and layers. The same key means the store can
    be reused or resumed; any change gives another key and a fresh capture.

    Parameters
    ----------
    amodel : Network
    folder : ImageFolder
    verify : bool, default False
        Key the images by a SHA-256 digest of their contents instead of their
        size and modification time: an edit that keeps both is noticed, at
        the cost of reading every file.
    signature : list, optional
        The files' identity, when the caller has computed it already.

    Returns
    -------
    str
        A SHA-256 hex digest.
    """
    from ..store.meta import capture_key

    files = signature if signature is not None else files_signature(folder, verify)
    model = {k: v for k, v in amodel.describe().items() if k != "model"}
    return capture_key(files, folder.categories, folder.labels.tolist(), folder.fit, model, VERSION)


def decoded_cache_key(folder: ImageFolder, verify: bool = False, signature: list | None = None) -> str:
    """Identity of a folder's decoded images: the files, the size and the fit.

    The files are identified as the store key identifies them: by size and
    modification time, or with ``verify`` by their contents, so a capture
    with ``verify`` never reuses pixels decoded from an earlier version of a
    file.

    Parameters
    ----------
    folder : ImageFolder
    verify : bool, default False
    signature : list, optional
        The files' identity, when the caller has computed it already.

    Returns
    -------
    str
        20 hex digits, part of the cache's file names.
    """
    files = signature if signature is not None else files_signature(folder, verify)
    payload = {"files": files, "size": folder.image_size, "fit": folder.fit, "decoding": DECODING}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


