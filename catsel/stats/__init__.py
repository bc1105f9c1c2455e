"""Statistics and controls: when is a selectivity index a finding?

An index above a threshold is not a test. This stage offers what
neuroscience practice uses for single units, applied to filters:

* :func:`permutation_test` — per unit × category, a one-sided label-permutation
  test of any index (all permutations of a block as one matrix product,
  refined adaptively where the permutation floor binds), with :func:`fdr`
  (Benjamini–Hochberg or Benjamini–Yekutieli);
* :func:`must_beat` — the unit must respond more to c than to *every* other
  category (rank-sum or Welch t-tests; Baek et al. 2021 use rank-sum p < 0.001);
* :func:`bootstrap_proportions` — confidence intervals for the per-layer
  proportions (images resampled within each category);
* :func:`shuffled_baseline` — the same pipeline under shuffled labels (the
  untrained network is the other null, see ``catsel run --null``), and the
  verdict of every layer's count against it: :func:`null_p_values`,
  :func:`layer_evidence` (one rule, used by every output);
* :func:`split_half` — units chosen on one half of the images, measured on the other;
* :func:`image_statistics`, :func:`confound_audit`, :func:`phase_scramble` —
  how much low-level statistics explain each unit's preference, and a control
  set with the images' amplitude spectra but random phases;
* :func:`linear_probe` — a cross-validated linear read-out per layer, to test
  the paper's proposal that the layer with the most selective filters is the
  one to extract features from;
* :func:`complexity_profile` — where in depth each category's selective units sit.

Each job is a module of its own: ``permutation``, ``pairwise``,
``nulls``, ``reliability``, ``controls`` and
``probe``; this package gives their names together.

:func:`permutation_test` tests whichever index it is given, recomputed under
every shuffle of the labels, and gives rare strong units the permutations
they need (see its docstring and ``docs/statistics.md``).
"""

from __future__ import annotations

from .nulls import (ShuffledMargins, bootstrap_proportions, layer_evidence, null_p_values, shuffled_baseline,
                    shuffled_draws, shuffles_needed, with_baselines)
from .pairwise import PAIRWISE_TESTS, must_beat, pairwise_selectivity
from .permutation import permutation_test, fdr, add_significance, significant_counts
from .reliability import split_half, reliability_summary
from .controls import (image_statistics, CONFOUND_D, CONFOUND_GRAYSCALE, CONFOUND_MIN_IMAGES, CONFOUND_IMAGES,
                       CONFOUND_AT_LEAST, confound_check, untrained_confounds, confound_audit, phase_scramble)
from .probe import linear_probe, complexity_profile

__all__ = ["permutation_test", "fdr", "must_beat", "pairwise_selectivity", "PAIRWISE_TESTS",
           "bootstrap_proportions", "shuffled_baseline", "split_half", "image_statistics", "confound_audit",
           "phase_scramble", "linear_probe", "complexity_profile", "add_significance", "with_baselines",
           "reliability_summary", "significant_counts", "ShuffledMargins", "confound_check", "CONFOUND_D",
           "CONFOUND_GRAYSCALE", "CONFOUND_AT_LEAST", "CONFOUND_MIN_IMAGES", "CONFOUND_IMAGES",
           "shuffled_draws", "null_p_values", "layer_evidence", "shuffles_needed", "untrained_confounds"]
