"""Selectivity: eq. 1 and eq. 2 of the paper, the selective rule, and the tables they fill.

Takes a store (:class:`~catsel.store.Activations`) and gives the long table (one row per layer x unit x
category: the index, chance, the margin, selective or not) and the layer summary (the proportion of selective
units per layer and category, Figure 1's numbers). The index registry, the constant and silent units, and the
out-of-core block engine for stores larger than memory live here.
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['blocks', 'indices', 'selection', 'tables'])
