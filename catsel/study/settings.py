"""A run's choices, by stage: what the capture is made of, what is computed from it, and how it is written.

:class:`Settings` is what :func:`catsel.run` and ``catsel run`` take: given flat, as keywords of any stage
(``Settings(model="vgg19", threshold=0.05)``), it keeps them in three parts, each checked when made (one line
naming the option at fault): :class:`CaptureSettings` (the network, its input, how images are read and where
the capture runs: the store's key and record are made from these and the images only),
:class:`AnalysisSettings` (the selective rule, the nulls and the tests) and :class:`OutputSettings`.
``catsel run --help`` shows the options in the same groups.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

from ..errors import CatselError
from ..options import (FDR_METHODS, FITS, INDEX, LEVEL, PRECISIONS, SELECT_BY, SHUFFLES, check_preprocess,
                       TABLE_FORMATS, THRESHOLD, check_choice, check_finite, check_fraction, check_layers, check_positive,
                       check_seed, check_weights, image_shape, named)
from .record import RunRecord

__all__ = ["Settings", "CaptureSettings", "AnalysisSettings", "OutputSettings"]


@dataclass(frozen=True)
class CaptureSettings:
    """What a capture is made of: the network, its input, how the images are read, and where it runs.

    Parameters
    ----------
    model : str, path or keras.Model, default "vgg16"
        A ``keras.applications`` name, a ``.keras`` file, or a model in memory.
    weights : str or None, default "auto"
        ``"imagenet"``, ``"none"`` (untrained, seeded), a weights file, or
        ``"auto"`` (ImageNet when it can be had, else the untrained network,
        announced loudly).
    layers : sequence of str, optional
        Default: every conv layer and every dense layer but the classifier.
    image_size : int, (int, int) or str, optional
        Side of the square input, or ``(height, width)`` (``"48x96"``);
        default: the model's own.
    fit : {"squash", "crop"}
    preprocess : {"caffe", "tf", "torch", "raw"}, optional
        Default: the model's own.
    precision : {"float32", "bfloat16", "float16"}
    seed : int, default 0
        Seed of the untrained network's random init.
    batch_size : int, default 32
    workers : int, optional
        Image-decoding workers (default: one per CPU core).
    cache : str, optional
        Folder for decoded images, reused by later captures.
    devices : "all", int or list of str, optional
        Split each batch over several devices (JAX only).
    limit : int, optional
        Only the first N images of each category.
    strict : bool
        Stop at the first unreadable file.
    verify : bool
        Recognise an earlier capture's images by their contents, not by size
        and modification time (``catsel.capturing.key.store_key``).
    scheduler : str, optional
        Capture on a Dask cluster: ``"local:N"`` (N worker processes here) or
        a scheduler's address (``"tcp://host:8786"``); see
        :mod:`catsel.capturing.cluster`.
    block : int, optional
        With ``scheduler``: images per block (default
        ``catsel.capturing.cluster.BLOCK``).
    """

    model: Any = "vgg16"
    weights: str | os.PathLike | None = "auto"
    layers: Sequence[str] | None = None
    image_size: int | tuple[int, int] | None = None
    fit: str = "squash"
    preprocess: str | None = None
    precision: str = "float32"
    seed: int = 0
    batch_size: int = 32
    workers: int | None = None
    cache: str | os.PathLike | None = None
    devices: Any = None
    limit: int | None = None
    strict: bool = False
    verify: bool = False
    scheduler: str | None = None
    block: int | None = None

    def __post_init__(self):
        check_choice(named("fit"), self.fit, FITS)
        check_weights(self.model, self.weights)
        object.__setattr__(self, "layers", check_layers(named("layers"), self.layers))  # "c1" is one layer
        if self.preprocess is not None:
            check_preprocess(self.preprocess, name=named("preprocess"))
        check_choice(named("precision"), self.precision, PRECISIONS)
        if self.scheduler is not None:
            from ..capturing.cluster import local_workers

            local_workers(self.scheduler)  # a malformed local:N stops here, before any work
        object.__setattr__(self, "image_size", image_shape(self.image_size, named("image_size")))  # 48x96 → (48, 96)
        check_seed(named("seed"), self.seed)
        for name in ("workers", "limit", "block"):
            check_positive(named(name), getattr(self, name))
        check_positive(named("batch_size"), self.batch_size, optional=False)


@dataclass(frozen=True)
class AnalysisSettings:
    """What is computed from a capture: the selective rule, the nulls beside every count, and the tests.

    Parameters
    ----------
    threshold : float, default 0.01
        The paper's margin above chance.
    index : str, default "paper"
        A name in :data:`catsel.INDICES`.
    permutations : int, optional
        Add ``p_value`` and ``q_value`` columns (a label-permutation test).
    fdr : {"bh", "by"}
    alpha : float, default 0.05
        The level of every test: a unit is significant when its q-value is
        below it, and a layer's count is evidence of selectivity when its
        q-value over the run's layers and categories is at or below it (see
        :func:`catsel.stats.layer_evidence`).
    select_by : {"threshold", "q", "both", "pairwise"}
        What makes a unit selective (see :func:`catsel.selecting.tables.selective_rule`):
        ``"pairwise"`` tests each category against every other, all tests
        FDR-corrected together (:func:`catsel.stats.pairwise_selectivity`).
    pairwise_test : {"welch", "ranksum"}, default "welch"
        The test of the pairwise rule.
    bootstrap : int, optional
        Resamples for confidence intervals in the layer summary.
    reliability : bool
        Add split-half columns to the table.
    null : bool
        Add the untrained network's proportions (for a trained network: a
        second capture). The shuffled-label null is always there with the
        threshold rule.
    untrained_seeds : int, default 1
        With ``null``: untrained networks of as many initialisations (seeds
        ``seed``, ``seed + 1``...); the summary gets their mean
        (``proportion_untrained``) and range (``untrained_low``,
        ``untrained_high``). Five is what the documentation suggests.
    shuffles : int, default 1000
        Label shuffles of the shuffled-label null that stands beside every
        count (recorded in ``run.json``); a count's p-value is at least
        1 / (shuffles + 1), so fewer shuffles than
        :func:`catsel.stats.shuffles_needed` of the run's cells cannot mark a
        lone layer as evidence (the printout says so).
    localizer : str or path, optional
        A folder of independent images of the same categories (a localizer
        set): units are chosen on them and counted on the data folder's images
        (see :func:`catsel.selectivity`'s ``select_from``); the null then
        counts the chosen units only. The threshold rule only.
    """

    threshold: float = THRESHOLD
    index: str = INDEX
    permutations: int | None = None
    fdr: str = "bh"
    alpha: float = LEVEL
    select_by: str = "threshold"
    pairwise_test: str = "welch"
    bootstrap: int | None = None
    reliability: bool = False
    null: bool = False
    untrained_seeds: int = 1
    shuffles: int = SHUFFLES
    localizer: str | os.PathLike | None = None

    def __post_init__(self):
        from ..selecting.indices import INDICES

        check_finite(named("threshold"), self.threshold)
        check_choice(named("index"), self.index, list(INDICES))
        check_choice(named("fdr"), self.fdr, FDR_METHODS)
        check_choice(named("select_by"), self.select_by, SELECT_BY)
        for name in ("permutations", "bootstrap", "shuffles", "untrained_seeds"):
            check_positive(named(name), getattr(self, name))
        check_fraction(named("alpha"), self.alpha)
        check_choice(named("pairwise_test"), self.pairwise_test, ("welch", "ranksum"))
        if self.untrained_seeds != 1 and not self.null:
            raise CatselError(f"{named('untrained_seeds')} {self.untrained_seeds} sets how many untrained networks "
                              f"{named('null')} captures; add {named('null')}, or leave {named('untrained_seeds')} out")
        if self.select_by in ("q", "both") and not self.permutations:
            raise CatselError(f"{named('select_by')} {self.select_by} needs p-values: add {named('permutations')} N "
                              "(e.g. 1000)")
        if self.localizer is not None and (self.select_by != "threshold" or self.bootstrap or self.reliability):
            raise CatselError(f"{named('localizer')} chooses units by the threshold rule on its images; use it "
                              f"without {named('select_by')}, {named('bootstrap')} and {named('reliability')}")
        if self.select_by != "threshold" and (self.bootstrap or self.null):
            raise CatselError(f"{named('bootstrap')} and {named('null')} redo the threshold rule on resampled or "
                              f"shuffled data; use them with {named('select_by')} threshold (the default)")


@dataclass(frozen=True)
class OutputSettings:
    """How a run is written and shown.

    Parameters
    ----------
    progress : bool, default True
        Show a progress bar.
    tables : {"auto", "csv", "parquet"}
        The selectivity table as CSV or Parquet; ``"auto"``: Parquet above
        :data:`PARQUET_ABOVE` rows.
    """

    progress: bool = True
    tables: str = "auto"

    def __post_init__(self):
        check_choice(named("tables"), self.tables, TABLE_FORMATS)


_PARTS = {"capture": CaptureSettings, "analysis": AnalysisSettings, "output": OutputSettings}
#: Each option's stage, by name.
_STAGE_OF = {f.name: part for part, kind in _PARTS.items() for f in fields(kind)}


class Settings:
    """Every choice of a run, by stage, checked when made (one line naming the option at fault).

    Given flat, as keywords of any part (``Settings(model="vgg19", threshold=0.05, progress=False)``), or by
    part. Each option reads as an attribute (``settings.threshold``), whichever part holds it.

    Parameters
    ----------
    capture : CaptureSettings, optional
        The network, its input, how the images are read and where the capture runs.
    analysis : AnalysisSettings, optional
        The selective rule, the nulls and the tests.
    output : OutputSettings, optional
        How the run is written and shown.
    **options
        Any option of the three parts, by name (see each part); it overrides the part given.

    Attributes
    ----------
    capture : CaptureSettings
    analysis : AnalysisSettings
    output : OutputSettings
    """

    __slots__ = ("capture", "analysis", "output")

    def __init__(self, capture: CaptureSettings | None = None, analysis: AnalysisSettings | None = None,
                 output: OutputSettings | None = None, **options):
        given = {"capture": capture or CaptureSettings(), "analysis": analysis or AnalysisSettings(),
                 "output": output or OutputSettings()}
        unknown = [name for name in options if name not in _STAGE_OF]
        if unknown:
            raise TypeError(f"Settings got an unexpected keyword argument {unknown[0]!r}; the options are "
                            f"{', '.join(sorted(_STAGE_OF))}")
        for part in ("capture", "analysis", "output"):
            changes = {name: value for name, value in options.items() if _STAGE_OF[name] == part}
            object.__setattr__(self, part, replace(given[part], **changes) if changes else given[part])

    def __getattr__(self, name: str):
        part = _STAGE_OF.get(name)
        if part is None:
            raise AttributeError(f"'Settings' object has no attribute {name!r}")
        return getattr(object.__getattribute__(self, part), name)

    def __setattr__(self, name, value):
        raise AttributeError("Settings are frozen: make new ones with settings.replace(...)")

    def __eq__(self, other) -> bool:
        return isinstance(other, Settings) and all(getattr(self, p) == getattr(other, p) for p in _PARTS)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, p) for p in _PARTS))

    def __repr__(self) -> str:
        return f"Settings(capture={self.capture!r}, analysis={self.analysis!r}, output={self.output!r})"

    def __reduce__(self):  # pickled (to a Dask worker) as its parts; __slots__ and __getattr__ need telling
        return (_settings, (self.capture, self.analysis, self.output))

    def replace(self, **options) -> "Settings":
        """These settings with some options changed (checked as when made).

        Parameters
        ----------
        **options
            Options of any part, by name.

        Returns
        -------
        Settings
        """
        return Settings(self.capture, self.analysis, self.output, **options)

    @classmethod
    def from_record(cls, record: RunRecord) -> "Settings":
        """The settings of a run, from its record (``run.json``), field by field.

        Parameters
        ----------
        record : RunRecord

        Returns
        -------
        Settings
        """
        optional = {"permutations": record.permutations, "bootstrap": record.bootstrap, "fdr": record.fdr,
                    "alpha": record.alpha, "shuffles": record.shuffles, "pairwise_test": record.pairwise_test,
                    "untrained_seeds": record.untrained_seeds}
        return cls(model=record.model, weights=record.weights_requested, layers=list(record.layers) or None,
                   image_size=record.image_size, fit=record.fit, preprocess=record.preprocess,
                   batch_size=record.batch_size, precision=record.precision, index=record.index,
                   threshold=record.threshold, select_by=record.select_by, reliability=record.split_half,
                   null=record.null_baselines, seed=record.seed, scheduler=record.scheduler,
                   localizer=record.localizer, **{k: v for k, v in optional.items() if v is not None})


def _settings(capture, analysis, output) -> Settings:
    return Settings(capture, analysis, output)
