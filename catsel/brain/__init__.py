"""Units against the brain: a run's layers and selective units compared with brain or behaviour data.

* :func:`compare_brain` — every layer's RDM against brain RDMs (with an interval and the noise ceiling) and
  the category models; encoding of responses by cross-validated ridge regression; a category's selective
  units against random sets of as many units; the untrained twin beside every curve;
* :func:`load_rdms`, :func:`load_responses` — the data, read and checked (``.npy``, ``.csv``, ``.mat``,
  Parquet; never a pickle);
* :class:`BrainDisplay` — the figure.

RDMs, their comparisons and noise ceilings are rsatoolbox's (``pip install 'catsel[brain]'``); encoding is
scikit-learn's. ``catsel brain RUN --rdm FILE`` runs it on a finished run.
"""

from __future__ import annotations

from .analysis import BOOTSTRAP, RANDOM_SETS, BrainResult, compare_brain, read_inputs, selection_rule
from .data import BrainRDMs, BrainResponses, load_rdms, load_responses, match_images, read_names
from .display import BrainDisplay
from .outputs import read_brain, write_brain
from .rsa import DISTANCES, MEASURES, category_models, layer_rdm

__all__ = ["compare_brain", "BrainResult", "BrainDisplay", "load_rdms", "load_responses", "read_names",
           "match_images", "read_inputs", "write_brain", "read_brain", "selection_rule", "BrainRDMs", "BrainResponses", "category_models", "layer_rdm", "MEASURES",
           "DISTANCES", "RANDOM_SETS", "BOOTSTRAP"]
