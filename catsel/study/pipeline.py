"""The whole study in one call: :func:`run`, what ``catsel run`` does, from Python.

Data flows one way::

    image folder → activation model → store → selectivity table → statistics → figures and record

:func:`run` takes the data folder, an output folder and :class:`Settings`,
and returns a :class:`RunResult` holding every product: the activations,
the selectivity table and layer summary, the baselines and significance
that were asked for, the skipped files and the run record (``run.json``).
The command line is argument parsing and printing around it; the notebooks
call it or its parts. :func:`load_run` reads a finished run back, for the
explorers and pictures.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import CatselError, ConfoundWarning, StoreError
from ..paths import file_digest, inside, shown
from .record import RunRecord
from ..options import check_output_folder, check_path, named
from .settings import Settings

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..network.interface import Network
    from ..store import Activations

__all__ = ["RunResult", "run", "load_run", "run_settings", "table_format", "OUTPUTS", "PARQUET_ABOVE",
           "TABLE_FILES", "file_digest"]

#: What :func:`run` writes into its output folder (besides ``untrained/`` with ``null``).
OUTPUTS = ("activations/", "selectivity.csv", "layer_summary.csv", "layer_proportions.png", "run.json")

#: Above this many rows (units × categories), the selectivity table is written as ``selectivity.parquet``
#: instead of ``selectivity.csv`` (``tables="auto"``): VGG16 with 1,000 categories is 12.4 million rows, about
#: a gigabyte of CSV.
PARQUET_ABOVE = 1_000_000

#: The selectivity table's file, by format.
TABLE_FILES = {"csv": "selectivity.csv", "parquet": "selectivity.parquet"}


@dataclass
class RunResult:
    """Everything one run produced; what the report, explorers and figures take whole.

    Parameters
    ----------
    out : Path
        The output folder.
    settings : Settings
    activations : Activations
        The capture (images × units per layer).
    table : DataFrame
        One row per layer × unit × category (see :func:`catsel.selectivity`),
        with ``p_value``/``q_value`` and split-half columns when asked for.
    summary : DataFrame
        One row per layer × category (see :func:`catsel.layer_summary`), with
        the baselines asked for as columns (see :func:`catsel.stats.with_baselines`).
    record : RunRecord
        The run record, as written to ``run.json``.
    skipped : list of dict
        ``{"path", "reason"}`` for every file that could not be used.
    model : Network or None
        The network (``None`` for a run read back with :func:`load_run`).
    untrained : Activations or None
        The untrained control's capture, with ``null`` on a trained network.
    """

    out: Path
    settings: Settings
    activations: "Activations"
    table: pd.DataFrame
    summary: pd.DataFrame
    record: "RunRecord"
    skipped: list[dict] = field(default_factory=list)
    model: "Network | None" = None
    untrained: "Activations | None" = None

    def __repr__(self) -> str:
        acts = self.activations
        return (f"RunResult({str(self.out)!r}: {self.record.get('model')} ({self.record.get('weights')}), "
                f"{len(acts)} images in {len(acts.categories)} categories, {len(acts.layers)} layers, "
                f"index={self.settings.index!r}, threshold={self.settings.threshold})")

    def figure(self, *, fig: "Figure | None" = None, ax: "Axes | None" = None) -> "Figure":
        """The paper's Figure 1 for this run (see :func:`catsel.layer_proportions`), as a whole figure.

        Parameters
        ----------
        fig : matplotlib Figure, optional
            Drawn on; default: a new one (11 × 5.5 inches), what
            ``layer_proportions.png`` is.
        ax : matplotlib Axes, optional
            Drawn in instead (a panel of a figure of your own).

        Returns
        -------
        matplotlib Figure
            The figure drawn on (``.savefig`` writes it).
        """
        from matplotlib.figure import Figure

        from ..figures.plots import layer_proportions

        if ax is None:
            fig = fig if fig is not None else Figure(figsize=(11, 5.5), layout="constrained")
            ax = fig.subplots()
        return layer_proportions(self.summary, ax=ax).get_figure(root=True)

    def best_layers(self) -> pd.DataFrame:
        """Per category, the layer with the largest proportion of selective units.

        Returns
        -------
        DataFrame
            See :func:`catsel.best_layers`.
        """
        from ..selecting.selection import best_layers

        return best_layers(self.summary)

    def save(self) -> None:
        """Write the tables, Figure 1 and ``run.json`` into ``out`` (the store is already there).

        The folder changes as a whole: the earlier ``run.json`` goes first,
        each file is written under a temporary name and renamed, and the new
        ``run.json``, written last, records the SHA-256 of every file of the
        run. A reader checks them (:func:`load_run`), so it sees the old run,
        the new one, or one line saying the folder is between two runs.
        """
        from ..store import atomic_write

        from ..store import sweep_temporaries

        for folder in (self.out, self.out / "activations"):  # what a killed run's writes left behind
            sweep_temporaries(folder)
        (self.out / "run.json").unlink(missing_ok=True)  # until the new record is written, no run is finished here
        digests = {}

        def written(name: str, write) -> None:
            with atomic_write(self.out / name) as tmp:
                write(tmp)
                digests[name] = file_digest(tmp)

        kind = table_format(self.settings.tables, len(self.table))
        # the columns alone: pandas writes a frame's attrs into Parquet's metadata as JSON, and what a table was
        # counted with (a Counting) is in run.json already
        plain = self.table.copy(deep=False)
        plain.attrs = {}
        written(TABLE_FILES[kind], (lambda tmp: plain.to_parquet(tmp, index=False)) if kind == "parquet"
                else (lambda tmp: plain.to_csv(tmp, index=False)))
        for other, name in TABLE_FILES.items():  # an earlier run's table in the other format is not this run's
            if other != kind:
                (self.out / name).unlink(missing_ok=True)
        written("layer_summary.csv", lambda tmp: self.summary.to_csv(tmp, index=False))
        fig = self.figure()
        written("layer_proportions.png", lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
        self.record = replace(
            self.record, files=digests,
            store_key=self.activations.meta.key if self.activations.meta is not None else None,
            untrained_key=self.untrained.meta.key if self.untrained is not None and self.untrained.meta is not None
            else None)
        with atomic_write(self.out / "run.json") as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.record.to_json(), f, indent=2)


def table_format(asked: str, rows: int) -> str:
    """The selectivity table's format: as asked, or Parquet when it is large.

    Parameters
    ----------
    asked : {"auto", "csv", "parquet"}
    rows : int

    Returns
    -------
    {"csv", "parquet"}
    """
    if asked != "auto":
        return asked
    return "parquet" if rows > PARQUET_ABOVE else "csv"


def _significance(table: pd.DataFrame, acts: "Activations", settings: Settings,
                  halves: pd.DataFrame | None) -> pd.DataFrame:
    """Split-half columns (from ``halves``), p/q-values and the select-by rule, as the settings ask."""
    from ..stats import add_significance
    from ..selecting.tables import Counting, selective_rule

    if halves is not None:
        table["reliability"] = halves["reliability"].to_numpy()
        table["replicated"] = (halves["selective_a"] & halves["selective_b"]).to_numpy()
    if settings.select_by == "pairwise":  # every pairwise test, FDR-corrected together, decides
        from ..stats import pairwise_selectivity

        pairs = pairwise_selectivity(acts, test=settings.pairwise_test, method=settings.fdr)
        table["p_pairwise"] = pairs["p_pairwise"].to_numpy()
        table["q_pairwise"] = pairs["q_pairwise"].to_numpy()
        table["selective"] = selective_rule(table["above_chance"].to_numpy(), table["constant"].to_numpy(),
                                            settings.threshold, q_value=table["q_pairwise"].to_numpy(),
                                            alpha=settings.alpha, select_by="pairwise")
        Counting.of(table).replace(select_by="pairwise").on(table)
    if not settings.permutations:
        return table
    table = add_significance(table, acts, permutations=settings.permutations, method=settings.fdr)
    if settings.select_by == "pairwise":
        return table
    table["selective"] = selective_rule(table["above_chance"].to_numpy(), table["constant"].to_numpy(),
                                        settings.threshold, q_value=table["q_value"].to_numpy(),
                                        alpha=settings.alpha, select_by=settings.select_by)
    return Counting.of(table).replace(select_by=settings.select_by).on(table)


def run(data_dir: str | os.PathLike, out: str | os.PathLike, settings: Settings | None = None,
        **options) -> RunResult:
    """Capture a category folder, compute selectivity and its statistics, and write the results.

    What ``catsel run DATA_DIR --out OUT`` does. An earlier capture with the
    same images, network and settings in ``out`` is reused; an interrupted
    one resumes.

    Parameters
    ----------
    data_dir : str or path
        One sub-folder of images per category.
    out : str or path
        Output folder (created). Receives ``catsel.study.pipeline.OUTPUTS``.
    settings : Settings, optional
        All choices at once; default ``Settings()``.
    **options
        Fields of :class:`Settings` to set or override (``image_size=64``,
        ``weights="none"``, ``null=True``, ...).

    Returns
    -------
    RunResult
        The activations, table, summary, record and skipped files, also written to ``out``.

    Raises
    ------
    CatselError
        For any problem with the options, the images, the model or the output folder.
    """
    from ..images.folder import ImageFolder
    from ..errors import DatasetError
    from ..store import folder_lock

    settings = (settings or Settings()).replace(**options)
    t0 = time.perf_counter()
    data_dir = check_path("data_dir", data_dir, "the folder of category folders")
    out = check_output_folder(out)
    if out.exists() and not out.is_dir():
        raise CatselError(f"{out} is a file; give a folder for the output (--out)")
    if Path(data_dir).is_dir() and out.resolve() == Path(data_dir).resolve():
        raise DatasetError(f"the output folder {out} is the data folder; choose another one (a sub-folder of the "
                           "data folder works too: catsel leaves it out of the scan)")
    with folder_lock(out):  # one run at a time into a folder
        # Scan the data folder before importing Keras and building a large network; its size is the model's.
        folder = ImageFolder(data_dir, image_size=settings.image_size or 224, fit=settings.fit,
                             max_per_category=settings.limit, exclude=(out,))
        return _run(folder, out, settings, t0)


def _run(folder, out: Path, settings: Settings, t0: float) -> RunResult:

    from ..capturing import capture
    from ..images.folder import ImageFolder
    from ..errors import DatasetError
    from ..network.models import activation_model, describe_preprocessing, untrained_control
    from ..selecting.indices import INDICES
    from ..selecting.selection import layer_summary, selectivity
    from ..stats import with_baselines

    amodel = activation_model(settings.model, settings.weights, settings.layers, image_size=settings.image_size,
                              preprocess=settings.preprocess, seed=settings.seed, precision=settings.precision)
    folder = folder.at_size(amodel.image_size)  # the network's size, known once it is built
    if settings.null and not amodel.trained:  # said before any capture; run.json records no untrained twin
        seeds = f" and {named('untrained_seeds')} {settings.untrained_seeds}" if settings.untrained_seeds != 1 else ""
        warnings.warn(f"{named('null')}{seeds} capture an untrained twin of a trained network; this network is "
                      "untrained itself, so none is captured (the shuffled-label null still stands beside every "
                      "count)", UserWarning, stacklevel=3)
    out.mkdir(parents=True, exist_ok=True)
    # the spatial means and minima only for an index that reads them: they cost a pass over every map
    capture_options = dict(batch_size=settings.batch_size, progress=settings.progress, workers=settings.workers,
                           cache=settings.cache, devices=settings.devices,
                           summaries=INDICES[settings.index].summaries)
    client = None
    if settings.scheduler is not None:  # the capture runs on a Dask cluster's workers
        from ..capturing.cluster import connect

        client = connect(settings.scheduler)
        capture_options.update(client=client, block=settings.block)
    try:
        t_capture = time.perf_counter()
        acts = capture(amodel, folder, out, strict=settings.strict, verify=settings.verify, **capture_options)
        capture_s = time.perf_counter() - t_capture
        localizer = None
        if settings.localizer is not None:  # units chosen on independent images
            chooser = ImageFolder(settings.localizer, image_size=amodel.image_size, fit=settings.fit,
                                  max_per_category=settings.limit, exclude=(out,))
            if tuple(chooser.categories) != tuple(folder.categories):
                raise DatasetError(f"the localizer {settings.localizer} has categories {', '.join(chooser.categories)}"
                                   f", the test images {', '.join(folder.categories)}: give both the same category "
                                   "folders")
            localizer = capture(amodel, chooser, out / "localizer", strict=settings.strict, verify=settings.verify,
                                **capture_options)
        untrained, controls = None, []
        if settings.null and amodel.trained:  # the untrained network, over as many initialisations as asked
            for k in range(settings.untrained_seeds):
                if settings.progress:  # its capture's bar is the next one: said whose it is
                    print(f"untrained network {k + 1} of {settings.untrained_seeds} (seed {settings.seed + k}): "
                          "the same images", file=sys.stderr, flush=True)
                control = untrained_control(amodel, seed=settings.seed + k)
                where = out / ("untrained" if k == 0 else f"untrained-seed{settings.seed + k}")
                controls.append(capture(control, folder, where, **capture_options))
            untrained = controls[0]
    finally:
        if client is not None:
            from ..capturing.cluster import close

            close(client)

    halves = None
    if settings.reliability:  # one split: the table's columns, and the first of the summary's splits
        from ..stats import split_half

        halves = split_half(acts, index=settings.index, threshold=settings.threshold)
    table = _significance(selectivity(acts, index=settings.index, threshold=settings.threshold,
                                      select_from=localizer), acts, settings, halves)
    among = None
    if localizer is not None:  # the null of the count on the test images: the chosen units only
        n_cat = len(acts.categories)
        among = table["chosen"].to_numpy().reshape(-1, n_cat).T  # rows are layer × unit × category
    # the shuffled-label null stands beside every count of the threshold rule (the q-value rule controls
    # false discoveries itself); it reuses the capture
    summary = with_baselines(layer_summary(table), acts, index=settings.index, threshold=settings.threshold,
                             bootstrap=settings.bootstrap,
                             shuffled=settings.select_by == "threshold", shuffles=settings.shuffles,
                             reliability=halves if settings.reliability else False,
                             controls={"untrained": controls} if controls else None, among=among,
                             significance=table if settings.permutations else None, level=settings.alpha)
    from .verdict import verdict_words

    words = verdict_words(summary)
    if words is not None:  # the verdict in words beside its numbers: what layer_summary.csv says of each count
        summary["verdict"] = words
    from ..stats import confound_check, untrained_confounds

    confounds = untrained_confounds(summary) + confound_check(acts)
    if confounds:  # one warning, the largest difference named
        more = f" (and {len(confounds) - 1} more in run.json)" if len(confounds) > 1 else ""
        warnings.warn(f"{confounds[0]}{more}: a filter 'selective' for it may answer to that alone; compare with "
                      "the low-level controls (catsel.stats.confound_audit, and catsel.stats.phase_scramble for a "
                      "scrambled copy of the images)", ConfoundWarning, stacklevel=3)
    skipped = [_as_listed(s["path"], s["reason"], folder.root)
               for s in [s.as_dict() for s in folder.skipped] + acts.skipped_files()]
    runtime = amodel.runtime()
    record = RunRecord.from_json({
        "catsel_version": _version(),
        "data_dir": shown(str(folder.root.resolve())),
        "model": amodel.source,
        "weights": amodel.weights_label,
        "trained": amodel.trained,
        "weights_requested": None if settings.weights is None else str(settings.weights),
        "weights_fallback_reason": amodel.fallback_reason,
        "layers": list(amodel.layers),
        "layers_note": amodel.layers_note(),
        "relative_depth": amodel.relative_depth(),  # 0 input, 1 output: what `catsel compare` plots against
        "image_size": list(amodel.image_size) if isinstance(amodel.image_size, tuple) else amodel.image_size,
        "colour": "grayscale" if amodel.channels == 1 else "RGB",
        "fit": settings.fit,
        "preprocess": amodel.preprocess,
        "preprocessing": describe_preprocessing(amodel, settings.preprocess),
        "keras_version": runtime["keras"],
        "keras_backend": runtime["backend"],
        "device": runtime["device"],
        "batch_size": settings.batch_size,
        "precision": amodel.precision,
        "index": settings.index,
        "threshold": settings.threshold,
        "select_by": settings.select_by,
        "permutations": settings.permutations,
        "fdr": settings.fdr if settings.permutations or settings.select_by == "pairwise" else None,
        "alpha": (settings.alpha if settings.permutations or settings.select_by in ("threshold", "pairwise")
                  else None),
        "pairwise_test": settings.pairwise_test if settings.select_by == "pairwise" else None,
        "bootstrap": settings.bootstrap,
        "split_half": bool(settings.reliability),
        "null_baselines": bool(controls),  # what was captured: no untrained twin of an untrained network
        "shuffled_null": settings.select_by == "threshold",
        "shuffles": settings.shuffles,
        "untrained_seeds": len(controls) if controls else None,
        "localizer": None if settings.localizer is None else shown(str(Path(settings.localizer).resolve())),
        "confounds": confounds,
        "seed": settings.seed,
        "images_per_category": acts.counts,
        "skipped": skipped,
        "scheduler": settings.scheduler,
        "capture_seconds": round(capture_s, 3),
        "images_captured": acts.captured,  # this run's: rows of a resumed or reused store are not counted
        "images_per_second": round(acts.captured / capture_s, 2) if acts.captured and capture_s > 0 else None,
        "total_seconds": round(time.perf_counter() - t0, 3),
        "outputs": [TABLE_FILES[table_format(settings.tables, len(table))] if name == "selectivity.csv" else name
                    for name in OUTPUTS],
    }, "the run's record")
    result = RunResult(out=out, settings=settings, activations=acts, table=table, summary=summary, record=record,
                       skipped=skipped, model=amodel, untrained=untrained)
    result.save()
    return result


def _as_listed(path: str, reason: str, root: Path) -> dict:
    """A skipped file as every list shows it: its path from the data folder (as it was given, when outside it),
    and the reason without the path again."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full, os.path.abspath(root))
    head, sep, rest = reason.partition(": ")
    if sep and os.path.abspath(head) == full:  # a decoding error names its file itself
        reason = rest
    return {"path": path if rel.startswith("..") else rel.replace(os.sep, "/"), "reason": reason}


def run_settings(out: str | os.PathLike) -> "RunRecord | None":
    """The record of the run in ``out`` (its ``run.json``, every field checked), or None for a bare store.

    Parameters
    ----------
    out : str or path
        An output folder of :func:`run`.

    Returns
    -------
    RunRecord or None

    Raises
    ------
    StoreError
        When ``run.json`` cannot be read, or a field has the wrong type: one
        line naming the field.
    """
    from .record import RunRecord

    path = inside(out, "run.json", what="record")  # never through a link out of the folder
    return RunRecord.read(path) if path.is_file() else None


def load_run(out: str | os.PathLike, *, data_dir: str | os.PathLike | None = None) -> RunResult:
    """Read a finished run back: its store, tables and record (no network is built).

    Parameters
    ----------
    out : str or path
        An output folder of :func:`run` / ``catsel run``.
    data_dir : str or path, optional
        Where the images are now, when not where they were captured (see
        :func:`catsel.load_activations`).

    Returns
    -------
    RunResult
        With ``model=None``; ``table`` and ``summary`` as written, with
        ``layer`` and ``category`` in network and label order.
    """
    from ..selecting.tables import Counting
    from ..store import load_activations

    out = check_path("out", out, "a run folder")
    acts = load_activations(out, data_dir=data_dir)
    record = run_settings(out)
    # the table this run wrote, as run.json names it; another one beside it is an earlier run's
    named = [name for name in (record.outputs if record is not None else ()) if name in TABLE_FILES.values()]
    written = [name for name in named + list(TABLE_FILES.values()) if (out / name).is_file()]
    missing = [name for name in (written[:1] or ["selectivity.csv"]) + ["layer_summary.csv"]
               if not (out / name).is_file()]
    if record is None or missing:
        raise StoreError(f"{out} holds a capture but not a finished run ({', '.join(missing) or 'run.json'} "
                         "missing); rerun `catsel run` with the same options to finish it")
    settings = Settings.from_record(record)
    counting = Counting(index=settings.index, threshold=settings.threshold, select_by=settings.select_by,
                        n_images=len(acts), images_per_category=acts.counts, model_label=acts.model_label,
                        trained=acts.meta.trained, level=settings.alpha, shuffles=settings.shuffles,
                        permutations=settings.permutations, fdr=settings.fdr if settings.permutations else None,
                        select_from=None if settings.localizer is None else str(settings.localizer))
    # one run's files: each as run.json recorded it (the folder may be between two runs, or a run stopped
    # while writing them); the bytes checked are the bytes read
    between = (f"{out} holds files of two runs ({{}} is not the file run.json records): a run was stopped, or is "
               "running, while writing them; rerun `catsel run` with the same options (or wait for it to end)")
    files = record.files
    if files is not None and record.store_key not in (None, acts.meta.key):
        raise StoreError(between.format("activations/"))
    contents = {}
    for name in (written[0], "layer_summary.csv"):
        contents[name] = inside(out, name, what="table").read_bytes()  # never through a link out of the folder
        if files is not None and hashlib.sha256(contents[name]).hexdigest() != files.get(name):
            raise StoreError(between.format(name))
    frames = []
    for name in (written[0], "layer_summary.csv"):
        frame = (pd.read_parquet(io.BytesIO(contents[name])) if name.endswith(".parquet")
                 else pd.read_csv(io.BytesIO(contents[name]), dtype={"layer": str, "category": str}))
        # (names are text: a PyTorch Sequential's layer "1", a category folder "2019", never read as numbers)
        frame = frame.rename(columns={"filter": "unit"})  # a table written before the column was renamed
        frame["layer"] = pd.Categorical(frame["layer"], categories=list(acts.layers), ordered=True)
        frame["category"] = pd.Categorical(frame["category"], categories=list(acts.categories), ordered=True)
        frames.append(counting.on(frame))
    untrained = None
    if (out / "untrained").is_dir():
        try:
            untrained = load_activations(out / "untrained")
        except StoreError:
            untrained = None
    if files is not None and record.untrained_key is not None and \
            (untrained is None or untrained.meta.key != record.untrained_key):
        raise StoreError(between.format("untrained/"))
    return RunResult(out=out, settings=settings, activations=acts, table=frames[0], summary=frames[1],
                     record=record, skipped=list(record.skipped), untrained=untrained)


def _version() -> str:
    from .. import __version__

    return __version__
