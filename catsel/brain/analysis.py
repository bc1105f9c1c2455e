"""A finished run against brain or behaviour data: every layer, the category models, selective against random
units, encoding, and the untrained twin beside them; one table, its sentences, and a figure.

:func:`compare_brain` is what ``catsel brain RUN`` runs. Its table has one row per analysis (``rsa`` or
``encoding``) × network × layer × target (``brain``, a category model, or a region) × units (``all``, or
``selective: C``), with the value, its interval, the noise ceiling, and for selective units the random
sets' mean, 95th percentile and p-value.

**Which images choose the selective units.** A unit chosen and tested on the same images favours itself.
When the run has a localizer, its units were chosen there and every matched image is used. Otherwise the
matched images are split in two halves (stratified by category, seeded): the units are chosen on one half
with the run's index and threshold, and their RDM and encoding are computed on the other. The ``selection``
column says which.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..store import Activations
from .data import (BrainRDMs, BrainResponses, check_responses_vary, check_varies, load_rdms, load_responses,
                   match_images)
from .encoding import COMPONENTS, column_ceilings, encoding_scores, region_draws, region_means
from .rsa import (MEASURES, Target, bootstrap_rows, brain_rdms, category_models, layer_rdm, pair_vector,
                  random_sets_p, rdm_table, threads)

__all__ = ["BrainResult", "compare_brain", "read_inputs", "selection_rule", "RANDOM_SETS", "BOOTSTRAP"]

#: Random unit sets drawn against each category's selective units.
RANDOM_SETS = 1000
#: Bootstrap resamples of the images for each RDM comparison's interval.
BOOTSTRAP = 100

COLUMNS = ["analysis", "network", "layer", "target", "units", "measure", "value", "low", "high", "ceiling_low",
           "ceiling_high", "normalised", "untrained_value", "untrained_p", "untrained_q", "beats_untrained",
           "random_mean", "random_95", "p", "q", "beats_random", "n_units", "n_images", "selection", "above_ceiling"]


@dataclass
class BrainResult:
    """The comparison of a run with brain data.

    Parameters
    ----------
    table : DataFrame
        One row per analysis × network × layer × target × units (see
        :func:`compare_brain`).
    notes : list of str
        The sentences the printout and the report show.
    model_label : str
        The network, for the figure's title ("" when not known).
    trained : bool or None
        False for an untrained network (its figure is marked); None when not known.
    record : dict
        What was compared and how: the data files, the options, the
        capture's store key (``brain.json``).
    """

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    model_label: str = ""
    trained: bool | None = True
    record: dict = field(default_factory=dict)

    def display(self):
        """The figure's :class:`~catsel.brain.BrainDisplay`.

        Returns
        -------
        BrainDisplay
        """
        from .display import BrainDisplay

        return BrainDisplay.from_result(self)


def _split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the rows, stratified by label (a seeded shuffle within each category)."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        first += rows[: len(rows) // 2].tolist()
        second += rows[len(rows) // 2:].tolist()
    return np.sort(first), np.sort(second)


def _selected_units(acts: Activations, rows: np.ndarray, layer: str, category: int, index: str,
                    threshold: float) -> np.ndarray:
    from ..selecting.selection import selectivity

    half = Activations.from_arrays({layer: acts[layer][rows]}, acts.labels[rows], acts.categories)
    table = selectivity(half, index=index, threshold=threshold)
    chosen = table[(table["category"] == acts.categories[category]) & table["selective"]]
    return np.sort(chosen["unit"].to_numpy(dtype=int))


def _rows_of(acts: Activations, paths: list[str]) -> np.ndarray | None:
    """The rows of ``acts`` holding these image paths (None when one is missing)."""
    where = {p: i for i, p in enumerate(acts.paths)}
    rows = [where.get(p) for p in paths]
    return None if any(r is None for r in rows) else np.asarray(rows, dtype=int)


def _category_layers(run, acts, categories, layers) -> dict:
    """Category → the layers its selective units are tested in: the layers asked, else its best with evidence
    (None when the run holds no verdict to choose by)."""
    if layers is not None:
        return {c: list(layers) for c in categories}
    summary = getattr(run, "summary", None)
    if summary is None or "evidence" not in getattr(summary, "columns", ()):
        return None
    from ..selecting.selection import best_layers

    best = best_layers(summary).set_index("category")["layer"]
    return {c: ([str(best[c])] if c in best.index and isinstance(best[c], str) else []) for c in categories}


def _check_ranges(*, folds, bootstrap, random_sets, components) -> None:
    """The options' ranges, before any work: each out of range is one line naming it (from Python and the command
    line alike)."""
    from ..errors import CatselError

    def whole(value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not whole(folds) or folds < 2:
        raise CatselError(f"folds {folds}: encoding needs at least 2 folds (each image is predicted by a model fitted "
                          "on the others); give --folds 2 or more (folds= from Python)")
    for name, value, low in (("bootstrap", bootstrap, 0), ("random sets", random_sets, 0), ("components", components, 1)):
        if name in ("bootstrap", "components") and value is None:  # chosen from the layers compared, or the images
            continue
        if not whole(value) or value < low:
            flag = name.replace(" ", "-")
            raise CatselError(f"{name} {value}: give a whole number of at least {low} (--{flag}, "
                              f"{name.replace(' ', '_')}= from Python)")


def _check_against_images(images: int, folds: int, components: int | None, source: str) -> int:
    """Encoding's options against the images the data shares with the run, before any work: each fold needs images
    to predict and to fit on, and a layer keeps fewer dimensions than a fold fits on. Returns the components
    used (the default, :data:`COMPONENTS`, is lowered to fit)."""
    from ..errors import CatselError

    if folds > images // 2:
        raise CatselError(f"folds {folds}: {source} shares {images} images with the run, enough for at most "
                          f"{images // 2} folds of 2 or more; give --folds {max(2, min(5, images // 2))} "
                          "(folds= from Python)")
    fitted = images - -(-images // folds)  # the fewest images a fold fits on
    if components is None:
        return max(1, min(COMPONENTS, fitted - 1))
    if components >= fitted:
        raise CatselError(f"components {components}: with {images} images in {folds} folds a fold fits on "
                          f"{fitted} images, so a layer keeps at most {fitted - 1} dimensions; give --components "
                          f"{max(1, fitted - 1)} or fewer (components= from Python)")
    return components


def compare_brain(run, *, rdm=None, responses=None, names=None, variable: str | None = None, regions=None,
                  measure: str = "spearman", distance: str = "correlation", categories=None, layers=None,
                  selective_layers=None, random_sets: int = RANDOM_SETS, bootstrap: int | None = None,
                  folds: int = 5, components: int | None = None, untrained: Activations | None = None,
                  level: float | None = None, seed: int = 0, progress: bool | None = None,
                  rdm_kind: str = "dissimilarity") -> BrainResult:
    """Compare a finished run's layers and selective units with brain (or behaviour) data.

    Parameters
    ----------
    run : RunResult or Activations
        A run (:func:`catsel.load_run`, :func:`catsel.run`): its capture,
        summary, settings and untrained twin are used. Bare activations work
        too (no best layer is known then: pass ``selective_layers``).
    rdm : str, path, list of them, or BrainRDMs, optional
        Dissimilarity matrices (see :func:`catsel.brain.load_rdms`).
    responses : str, path or BrainResponses, optional
        Responses, images × columns (see :func:`catsel.brain.load_responses`).
    names : str, path or list of str, optional
        The image of each row of ``rdm`` or ``responses``.
    variable : str, optional
        The variable of a ``.mat`` RDM.
    regions : str, path or list of str, optional
        The region of each response column.
    measure : str, default "spearman"
        How RDMs are compared: ``"spearman"``, ``"tau-a"``, ``"kendall"``,
        ``"corr"`` or ``"cosine"`` (rsatoolbox's names).
    distance : str, default "correlation"
        A layer RDM's dissimilarity (``"correlation"`` or ``"euclidean"``).
    categories : list of str, optional
        The categories whose selective units are tested (default: all).
    layers : list of str, optional
        The layers compared (default: all captured).
    selective_layers : list of str, optional
        The layers where selective units are tested against random ones
        (default: each category's best layer with evidence, see
        :func:`catsel.best_layers`; none for a category without evidence).
    random_sets : int, default 1000
        Random unit sets against the selective units (0: none).
    bootstrap : int, optional
        Image resamples for the intervals and the test against the untrained twin. Default: enough for one
        layer alone to reach ``level`` over the layers compared (layers / level - 1), and at least
        ``BOOTSTRAP`` (100); a smaller number given is warned of before the work.
    folds : int, default 5
        Encoding folds over images.
    components : int, optional
        The most dimensions a layer keeps for encoding (default: 100, or
        fewer where a fold fits on fewer images; a number given must be
        below the images a fold fits on).
    untrained : Activations, optional
        The untrained twin's capture (default: the run's, when it has one).
    level : float, optional
        The false-discovery rate for the verdicts (default: the run's
        ``alpha``, else 0.05): over the layers, whether the trained network
        beats its twin (``untrained_q``, ``beats_untrained``); over the tests,
        whether selective units beat random ones (``q``, ``beats_random``).
    seed : int, default 0
    progress : bool, optional
        A progress bar (default: when a terminal shows it).
    rdm_kind : {"dissimilarity", "similarity"}, default "dissimilarity"
        What the ``rdm`` files hold (see :func:`catsel.brain.load_rdms`).

    Returns
    -------
    BrainResult

    Raises
    ------
    BrainDataError
        Data that cannot be read or matched: one line naming the file.
    """
    from ..errors import BrainDataError
    from ..selecting.indices import INDEX
    from ..selecting.selection import THRESHOLD

    if rdm is None and responses is None:
        raise BrainDataError("nothing to compare with: give --rdm FILE (dissimilarity matrices) or --responses FILE")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    _check_ranges(folds=folds, bootstrap=bootstrap, random_sets=random_sets, components=components)
    acts = run if isinstance(run, Activations) else run.activations
    settings = getattr(run, "settings", None)
    index = getattr(settings, "index", INDEX)
    if level is None:
        from ..options import LEVEL

        level = getattr(settings, "alpha", None) or LEVEL
    threshold = getattr(settings, "threshold", THRESHOLD)
    localizer = getattr(getattr(run, "record", None), "localizer", None)
    # with a localizer, the run's own table chose its units there
    localizer_table = getattr(run, "table", None) if localizer else None
    untrained = untrained if untrained is not None else getattr(run, "untrained", None)
    wanted = list(layers) if layers is not None else list(acts.layers)
    unknown = [l for l in wanted + list(selective_layers or []) if l not in acts.layers]
    if unknown:
        from ..options import did_you_mean

        raise BrainDataError(f"layer {unknown[0]} was not captured in this run{did_you_mean(unknown[0], acts.layers)}")
    chosen = list(categories) if categories is not None else list(acts.categories)
    from ..options import check_category

    for c in chosen:
        check_category(c, acts.categories, "this run", BrainDataError)
    twin = untrained is not None and (rdm is not None or responses is not None)
    if bootstrap is None:  # enough for a layer alone to beat its twin over the layers compared
        bootstrap = max(BOOTSTRAP, int(np.ceil(len(wanted) / level)) - 1) if twin else BOOTSTRAP
    elif twin and bootstrap and 1 / (bootstrap + 1) > level / max(len(wanted), 1):  # said once, before the work
        import warnings

        need = int(np.ceil(len(wanted) / level)) - 1
        warnings.warn(f"{bootstrap} image resamples for {len(wanted)} layers: the smallest p against the untrained "
                      f"twin is 1/{bootstrap + 1}, so a layer reaches q <= {level:g} only beside others that do; "
                      f"--bootstrap {need} (bootstrap={need}) lets each layer be judged alone", stacklevel=2)
    tested = _category_layers(run, acts, chosen, selective_layers)
    notes, frames, sources = [], [], {}
    if tested is None:
        tested = {c: [] for c in chosen}
        if random_sets:
            notes.append("These activations hold no verdict per layer (no run summary with its null): selective units "
                         "are tested only in the layers named with selective_layers (--selective-layers).")
    elif random_sets:
        untested = [c for c in chosen if not tested[c]]
        if untested:
            notes.append(f"No layer shows evidence for {', '.join(untested)} in this run: its selective units are not "
                         "tested against random ones (name a layer with --selective-layers to test them anyway).")
    total = len(wanted) * ((rdm is not None) + (responses is not None)) * (1 + (untrained is not None)) + \
        sum(len(v) for v in tested.values()) * ((rdm is not None) + (responses is not None))
    from tqdm.auto import tqdm

    # the data read, matched to the run's images and checked against the options before any work
    matched = {}
    if rdm is not None:
        brain = rdm if isinstance(rdm, BrainRDMs) else load_rdms(rdm, names, variable=variable, kind=rdm_kind)
        data_rows, rows = match_images(brain.names, acts.paths, brain.source)
        brain = brain.take(data_rows)
        check_varies(brain.matrices, f"{brain.source} (its {len(rows)} images in the run)")
        matched["rdm"] = brain, rows
    if responses is not None:
        data = responses if isinstance(responses, BrainResponses) else load_responses(responses, names,
                                                                                     regions=regions)
        data_rows, rows = match_images(data.names, acts.paths, data.source)
        data = data.take(data_rows)
        check_responses_vary(data.values, data.columns, f"{data.source} (its {len(rows)} images in the run)")
        components = _check_against_images(len(rows), folds, components, data.source)
        matched["responses"] = data, rows
    bar = tqdm(total=total, desc="brain", unit="step", disable=(not progress) if progress is not None else None,
               leave=False)
    try:
        if "rdm" in matched:
            brain, rows = matched["rdm"]
            sources["rdm"] = brain.source
            chooser = _chooser(acts, rows, tested, index, threshold, localizer_table, seed)
            frames.append(_rsa_rows(acts, untrained, brain, rows, wanted, measure, distance, bootstrap, random_sets,
                                    chooser, seed, bar, notes))
        if "responses" in matched:
            data, rows = matched["responses"]
            sources["responses"] = data.source
            chooser = _chooser(acts, rows, tested, index, threshold, localizer_table, seed)
            frames.append(_encoding_rows(acts, untrained, data, rows, wanted, folds, components, random_sets,
                                         bootstrap, chooser, seed, bar, notes))
    finally:
        bar.close()
    table = _judge(pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS), level).reindex(columns=COLUMNS)
    table["above_ceiling"] = _above_ceiling(table)
    table["layer"] = pd.Categorical(table["layer"], categories=list(acts.layers), ordered=True)
    from .words import brain_sentences

    notes = brain_sentences(table, level) + notes + _resolution(table, bootstrap, random_sets, level)
    meta = acts.meta
    label = acts.model_label if meta is not None and meta.model else ""
    record = {"store_key": getattr(meta, "key", None), "rdm": sources.get("rdm"), "responses": sources.get("responses"),
              "rdm_kind": rdm_kind if rdm is not None else None,
              "measure": measure, "distance": distance, "bootstrap": bootstrap, "random_sets": random_sets,
              "folds": folds, "components": components, "seed": seed,
              "selection": "localizer" if localizer_table is not None else "other half", "level": level,
              "untrained": untrained is not None, "rule": selection_rule(settings, localizer)}
    return BrainResult(table, notes, label, None if meta is None else meta.trained, record)


def _paired_p(trained, untrained) -> float:
    """The share of image resamples where the trained value does not exceed the untrained one (one-sided).

    Both networks saw the same resamples, so the difference is paired; the observation counts itself, so a
    p-value is never finer than the resamples allow.
    """
    if trained is None or untrained is None or not len(trained):
        return np.nan
    difference = np.asarray(trained) - np.asarray(untrained)
    difference = difference[np.isfinite(difference)]
    return float((1 + np.sum(difference <= 0)) / (1 + len(difference)))


def _judge(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """q-values over the layers for the twin, and over the tests for selective units; the verdicts from them."""
    from ..stats.permutation import fdr

    table = table.copy()
    table["untrained_q"] = np.nan
    table["q"] = np.nan
    for _, part in table[table["untrained_p"].notna()].groupby(["analysis", "target"], sort=False):
        table.loc[part.index, "untrained_q"] = fdr(part["untrained_p"].to_numpy())
    chosen = table[table["p"].notna()]
    for _, part in chosen.groupby("analysis", sort=False):
        table.loc[part.index, "q"] = fdr(part["p"].to_numpy())
    for q, verdict in (("untrained_q", "beats_untrained"), ("q", "beats_random")):  # True, False, or NaN: no test
        table[verdict] = [bool(v <= level) if np.isfinite(v) else np.nan for v in table[q]]
    return table


def _resolution(table: pd.DataFrame, bootstrap: int, random_sets: int, level: float) -> list[str]:
    """Only where it explains a result: the tests that missed the level with the smallest p their draws can
    give (1 / (draws + 1)), which more draws could tell apart."""
    out = []
    tried = table[table["untrained_p"].notna()]
    if bootstrap and len(tried):
        floor = tried[(tried["beats_untrained"] == False)  # noqa: E712 (NaN: no test)
                      & (tried["untrained_p"] <= 1 / (bootstrap + 1) + 1e-12)]
        if len(floor):
            m = int(tried.groupby(["analysis", "target"]).size().max())
            need = int(np.ceil(m / level)) - 1
            out.append(f"{_few(floor['layer'])} missed q <= {level:g} against the untrained twin with the smallest p "
                       f"{bootstrap} image resamples can give (1/{bootstrap + 1}) over {m} layers: more resamples "
                       f"(--bootstrap {need} or more) could tell them apart.")
    tests = table[table["p"].notna()]
    if random_sets and len(tests):
        floor = tests[(tests["beats_random"] == False) & (tests["p"] <= 1 / (random_sets + 1) + 1e-12)]  # noqa: E712
        if len(floor):
            m = int(tests.groupby("analysis").size().max())
            need = int(np.ceil(m / level)) - 1
            out.append(f"{len(floor)} test(s) of selective units missed q <= {level:g} with the smallest p "
                       f"{random_sets} random sets can give (1/{random_sets + 1}) over {m} tests: --random-sets {need} "
                       "or more could tell them apart.")
    return out


def _few(layers) -> str:
    names = list(dict.fromkeys(str(l) for l in layers))
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _above_ceiling(table: pd.DataFrame) -> pd.Series:
    """Rows whose value is above the noise ceiling's upper bound: more than the brain data's own reliability
    allows, a sign of a ceiling underestimated (too few subjects, repetitions) or of data not what they say."""
    high = table["ceiling_high"].astype(float)
    value = table["value"].astype(float)
    return (np.isfinite(high) & np.isfinite(value) & (table["analysis"] == "rsa") & (value > high)).astype(bool)


def _chooser(acts, rows, tested, index, threshold, localizer_table, seed):
    """A function yielding (category, layer, units, evaluation rows, selection words) for each test."""
    def pairs():
        if localizer_table is not None:  # the run's units were chosen on its localizer: every image evaluates
            first, second, words = None, np.arange(len(rows)), "localizer"
        else:
            first, second = _split(acts.labels[rows], seed)
            words = "other half"
        for category, layer_list in tested.items():
            c = acts.categories.index(category)
            for layer in layer_list:
                units = (_localizer_units(localizer_table, layer, category) if localizer_table is not None
                         else _selected_units(acts, rows[first], layer, c, index, threshold))
                yield category, layer, units, second, words
    return pairs


def _localizer_units(table, layer, category) -> np.ndarray:
    chosen = table[(table["layer"].astype(str) == layer) & (table["category"].astype(str) == category)
                   & table["selective"].astype(bool)]
    return np.sort(chosen["unit"].to_numpy(dtype=int))


def _rsa_rows(acts, untrained, brain, rows, wanted, measure, distance, bootstrap, random_sets, chooser, seed, bar,
              notes) -> pd.DataFrame:
    targets = {"brain": brain_rdms(brain)}
    targets.update(category_models(acts.labels[rows], acts.categories))
    models = {}
    for layer in wanted:
        models[layer] = layer_rdm(acts[layer][rows], distance=distance)
    shared: dict = {}  # the ceilings and ranked targets, once for both networks
    table, draws = rdm_table(models, targets, measure=measure, bootstrap=bootstrap, seed=seed,
                             progress=bar.update, shared=shared)
    table.insert(0, "analysis", "rsa")
    if untrained is not None:
        twin_rows = _rows_of(untrained, [acts.paths[r] for r in rows])
        if twin_rows is None:
            notes.append("The untrained capture does not hold every matched image: it is left out.")
        else:
            twin = {l: layer_rdm(untrained[l][twin_rows], distance=distance) for l in wanted if l in untrained.layers}
            twin_table, twin_draws = rdm_table(twin, targets, measure=measure, bootstrap=bootstrap, seed=seed,
                                               network="untrained", progress=bar.update, shared=shared)
            twin_table.insert(0, "analysis", "rsa")
            lookup = twin_table.set_index(["layer", "target"])["value"]
            table["untrained_value"] = [lookup.get((l, t), np.nan) for l, t in zip(table["layer"], table["target"])]
            table["untrained_p"] = [_paired_p(draws.get((l, t)), twin_draws.get((l, t)))
                                    for l, t in zip(table["layer"], table["target"])]
            table = pd.concat([table, twin_table], ignore_index=True)
    if random_sets:
        table = pd.concat([table, _rsa_selective(acts, brain, rows, measure, distance, random_sets, chooser, seed,
                                                 bar, notes)], ignore_index=True)
    return table


def _random_sets(units: int, size: int, sets: int, rng) -> list[np.ndarray]:
    return [np.sort(rng.choice(units, size, replace=False)) for _ in range(sets)]


def _rsa_selective(acts, brain, rows, measure, distance, random_sets, chooser, seed, bar, notes) -> pd.DataFrame:
    out = []
    rng = np.random.default_rng(seed + 1)
    for category, layer, units, evaluate, selection in chooser():
        bar.update()
        n_units = acts[layer].shape[1]
        if len(units) < 2 or len(units) >= n_units:
            notes.append(f"{category} in {layer}: {len(units)} of {n_units} units are selective (chosen on the "
                         f"{selection}); random sets of as many units cannot be compared with them.")
            continue
        values = acts[layer][rows[evaluate]]
        target = Target(brain_rdms(brain.take(evaluate)).get_vectors(), measure)  # ranked once for every set

        def score(units):
            return target.score(pair_vector(values[:, units], distance))

        observed = score(units)
        with ThreadPoolExecutor(threads()) as pool:  # BLAS and the sorts release the interpreter's lock
            null = np.array(list(pool.map(score, _random_sets(n_units, len(units), random_sets, rng))))
        out.append({"analysis": "rsa", "network": "trained", "layer": layer, "target": "brain",
                    "units": f"selective: {category}", "measure": measure, "value": observed,
                    "random_mean": float(np.nanmean(null)), "random_95": float(np.nanpercentile(null, 95)),
                    "p": random_sets_p(observed, null), "n_units": len(units), "n_images": len(evaluate),
                    "selection": selection})
    return pd.DataFrame(out)


def _encoding_rows(acts, untrained, data, rows, wanted, folds, components, random_sets, bootstrap, chooser, seed,
                   bar, notes) -> pd.DataFrame:
    ceilings = column_ceilings(data.repetitions, len(data.columns))
    region_ceiling = region_means(ceilings, data.regions)
    names = data.region_names
    samples = bootstrap_rows(len(rows), bootstrap, seed) if bootstrap else None
    out, draws = [], {}

    def row(network, layer, region, value, n_units, n_images, **extra):
        ceiling = region_ceiling[region]
        return {"analysis": "encoding", "network": network, "layer": layer, "target": region, "measure": "pearson r",
                "value": value, "ceiling_high": ceiling,
                "normalised": value / ceiling if np.isfinite(ceiling) and ceiling > 0 else np.nan,
                "n_units": n_units, "n_images": n_images, **extra}

    def layer_rows(source, source_rows, network):
        for layer in wanted:
            if layer not in source.layers:
                continue
            scores, predicted = encoding_scores(source[layer][source_rows], data.values, folds=folds,
                                                components=components, seed=seed, predictions=True)
            boot = region_draws(predicted, data.values, data.regions, samples) if samples is not None else None
            for k, (region, value) in enumerate(region_means(scores, data.regions).items()):
                low, high = (np.nanpercentile(boot[:, k], [2.5, 97.5]) if boot is not None else (np.nan, np.nan))
                draws[(network, layer, region)] = boot[:, k] if boot is not None else None
                out.append(row(network, layer, region, value, source[layer].shape[1], len(source_rows),
                               units="all", low=float(low), high=float(high)))
            bar.update()

    layer_rows(acts, rows, "trained")
    twin_rows = None if untrained is None else _rows_of(untrained, [acts.paths[r] for r in rows])
    if untrained is not None and twin_rows is None:
        notes.append("The untrained capture does not hold every matched image: it is left out of the encoding.")
    if twin_rows is not None:
        layer_rows(untrained, twin_rows, "untrained")
        values = {(r["layer"], r["target"]): r["value"] for r in out if r["network"] == "untrained"}
        for r in out:
            if r["network"] == "trained":
                r["untrained_value"] = values.get((r["layer"], r["target"]), np.nan)
                r["untrained_p"] = _paired_p(draws.get(("trained", r["layer"], r["target"])),
                                             draws.get(("untrained", r["layer"], r["target"])))
    if random_sets:
        rng = np.random.default_rng(seed + 2)
        for category, layer, units, evaluate, selection in chooser():
            bar.update()
            n_units = acts[layer].shape[1]
            if len(units) < 2 or len(units) >= n_units:
                continue
            values = acts[layer][rows[evaluate]]
            y = data.values[evaluate]
            observed = region_means(encoding_scores(values[:, units], y, folds=folds, components=components,
                                                    seed=seed), data.regions)
            null = _random_encoding(values, y, _random_sets(n_units, len(units), random_sets, rng), data.regions,
                                    folds, components, seed)
            for k, region in enumerate(names):
                out.append(row("trained", layer, region, observed[region], len(units), len(evaluate),
                               units=f"selective: {category}", random_mean=float(np.nanmean(null[:, k])),
                               random_95=float(np.nanpercentile(null[:, k], 95)),
                               p=random_sets_p(observed[region], null[:, k]), selection=selection))
    return pd.DataFrame(out)


def _set_scores(values, y, sets, regions, folds, components, seed) -> list:
    return [list(region_means(encoding_scores(values[:, s], y, folds=folds, components=components, seed=seed),
                              regions).values()) for s in sets]


def _random_encoding(values, y, sets, regions, folds, components, seed) -> np.ndarray:
    """Each random set's region scores (sets × regions), the sets shared among the machine's cores.

    Each set is a cross-validated fit of its own (a quarter of a second at 500 images): joblib's processes
    run them side by side, in chunks, each process with its share of the BLAS threads.
    """
    import os

    from joblib import Parallel, delayed

    jobs = min(os.cpu_count() or 1, max(1, len(sets) // 8))
    if jobs == 1:
        return np.array(_set_scores(values, y, sets, regions, folds, components, seed))
    chunks = [sets[k::jobs] for k in range(jobs)]
    done = Parallel(n_jobs=jobs)(delayed(_set_scores)(values, y, chunk, regions, folds, components, seed)
                                 for chunk in chunks)
    out = np.empty((len(sets), len(dict.fromkeys(regions))))
    for k, scores in enumerate(done):
        out[k::jobs] = scores
    return out


def read_inputs(rdm=None, responses=None, names=None, variable=None, regions=None, rdm_kind="dissimilarity"):
    """Read the data files alone (the command checks them before any work).

    Parameters
    ----------
    rdm, responses, names, variable, regions, rdm_kind
        As for :func:`compare_brain`.

    Returns
    -------
    (BrainRDMs or None, BrainResponses or None)
    """
    brain = load_rdms(rdm, names, variable=variable, kind=rdm_kind) if rdm is not None else None
    data = load_responses(responses, names, regions=regions) if responses is not None else None
    return brain, data


def selection_rule(settings, localizer=None) -> dict:
    """The run's rule for choosing selective units, as ``brain.json`` records it.

    Parameters
    ----------
    settings : Settings or None
        The run's settings (None: catsel's defaults).
    localizer : str, optional
        The run's localizer folder.

    Returns
    -------
    dict
        ``index``, ``threshold``, ``select_by`` and ``localizer``.
    """
    from ..selecting.indices import INDEX
    from ..selecting.selection import THRESHOLD

    return {"index": getattr(settings, "index", INDEX), "threshold": getattr(settings, "threshold", THRESHOLD),
            "select_by": getattr(settings, "select_by", None), "localizer": str(localizer) if localizer else None}
