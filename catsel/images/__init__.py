"""Image folders: one sub-folder of images per category, found, ordered and decoded.

Takes a data folder; gives :class:`~catsel.images.folder.ImageFolder` (the candidate files, their categories, the
skipped files with their reasons) and decoded batches of pixels (``uint8``, the network's input size), by
threads or processes.
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['folder'])
