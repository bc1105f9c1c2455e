"""Every option of a run, declared once: its name, stage, default, type, command-line form, help and check.

:data:`OPTIONS` is the one list. From it come :class:`catsel.Settings`'s three parts (their fields, defaults,
documentation and checks: :mod:`catsel.study.settings`), ``catsel run``'s option groups and the way its
arguments become settings (:func:`add_options`, :func:`from_args`), and the way a run's record gives its settings
back (:func:`from_record`). Adding an option is one :class:`Option` here, and its use.

The checks say what is wrong in one line naming the option as its caller wrote it (``image_size`` from Python,
``--image-size`` from the command line: :func:`catsel.options.named`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..errors import CatselError
from ..options import (FDR_METHODS, FITS, INDEX, LEVEL, PRECISIONS, PREPROCESS_MODES, SELECT_BY, SHUFFLES,
                       TABLE_FORMATS, THRESHOLD, check_choice, check_finite, check_fraction, check_layers,
                       check_positive, check_preprocess, check_seed, image_shape, named)

__all__ = ["Option", "OPTIONS", "STAGES", "GROUPS", "option", "options_of", "add_options", "from_args",
           "from_record", "stage_docs", "positive", "size", "devices"]

#: The stages a run's options belong to, as :class:`catsel.Settings` keeps them.
STAGES = ("capture", "analysis", "output")

#: ``catsel run --help``'s groups, in order: (name, description).
GROUPS = (("input", "the images"), ("network", "the network and its input"),
          ("capture", "how the images go through it, and where"),
          ("statistics", "the selective rule, the nulls beside every count, and the tests"),
          ("output", "what is written, and shown"))


# --- command-line types: what argparse makes of the text typed ------------------------------------------------


def positive(text: str) -> int:
    """A positive whole number typed on the command line.

    Parameters
    ----------
    text : str

    Returns
    -------
    int
    """
    try:
        value = int(text)
    except ValueError:  # argparse would say "invalid positive value"
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def size(text: str):
    """An image size typed on the command line: ``224`` or ``48x96``.

    Parameters
    ----------
    text : str

    Returns
    -------
    int or (int, int)
    """
    try:
        return image_shape(text)
    except CatselError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def devices(text: str) -> str | int | list[str]:
    """``all``, a number, or comma-separated device names (``gpu:0,gpu:1``).

    Parameters
    ----------
    text : str

    Returns
    -------
    str, int or list of str
    """
    if text == "all":
        return text
    if text.isdigit():
        return positive(text)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names or not all(":" in n for n in names):
        raise argparse.ArgumentTypeError(f"use all, a number, or names such as gpu:0,gpu:1, not {text}")
    return names


def _comma_list(text: str) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] or None


# --- checks: each takes the option's value and gives it back, normalised, or raises one line ---------------------


def _choice(choices):
    def check(name, value):
        return check_choice(named(name), value, choices() if callable(choices) else choices)
    return check


def _optional_positive(name, value):
    return check_positive(named(name), value)


def _required_positive(name, value):
    return check_positive(named(name), value, optional=False)


def _scheduler(name, value):
    if value is not None:
        from ..capturing.cluster import local_workers

        local_workers(value)  # a malformed local:N stops here, before any work
    return value


def _indices() -> list[str]:
    from ..selecting.indices import INDICES

    return list(INDICES)


@dataclass(frozen=True)
class Option:
    """One option of a run.

    Parameters
    ----------
    name : str
        Its keyword (``catsel.run(..., image_size=64)``, ``Settings.image_size``); the command line's flag is
        ``--image-size``.
    stage : {"capture", "analysis", "output"}
        The part of :class:`catsel.Settings` that keeps it.
    group : str
        Its group in ``catsel run --help`` (:data:`GROUPS`).
    default : object
    kind : str
        Its type, as the settings' documentation gives it.
    doc : str
        What it is, for the settings' documentation (the Python side).
    help : str
        What it is, for ``catsel run --help`` (``{default}`` is replaced by the default).
    check : callable, optional
        ``check(name, value) -> value``: the value, normalised, or one line naming the option.
    cli : mapping
        argparse's keywords for the flag (``type``, ``choices`` (a callable is called), ``action``, ``metavar``).
    flag : str, optional
        The flag when it is not ``--`` and the name (``--no-progress`` for ``progress``, its value inverted).
    parse : callable, optional
        The typed text to the option's value, after argparse (``--layers a,b`` to a list).
    record : str or None
        The field of ``run.json`` that gives the option back in :meth:`catsel.Settings.from_record`
        (default: its name; ``None``: not given back).
    none_recorded : bool
        A null in the record is the option's value (``weights``: ``None`` is the untrained network), not "not
        recorded".
    """

    name: str
    stage: str
    group: str
    default: Any
    kind: str
    doc: str
    help: str
    check: Callable[[str, Any], Any] | None = None
    cli: Mapping[str, Any] = field(default_factory=dict)
    flag: str | None = None
    parse: Callable[[Any], Any] | None = None
    record: str | None = ""
    none_recorded: bool = False

    @property
    def dest(self) -> str:
        """The attribute argparse keeps the flag's value in."""
        return (self.flag or f"--{self.name}").lstrip("-").replace("-", "_")

    @property
    def inverted(self) -> bool:
        """A ``--no-NAME`` flag for a setting that is on by default."""
        return self.flag is not None and self.flag.startswith("--no-")

    @property
    def recorded_as(self) -> str | None:
        """The run record's field that gives it back."""
        return self.name if self.record == "" else self.record


#: Every option of a run: the order of each part's fields, and of the flags within each group of
#: ``catsel run --help``.
OPTIONS: tuple[Option, ...] = (
    # the network and its input
    Option("model", "capture", "network", "vgg16", "str, path or model, default \"vgg16\"",
           "A ``keras.applications`` name, a ``.keras`` file, ``hub:PRESET``, ``torchvision:NAME``, ``timm:NAME``, "
           "a lab's ``PREFIX:NAME`` (:func:`catsel.register_source`), or a model in memory.",
           "keras.applications name, .keras file, hub:PRESET (a keras-hub preset or preset folder), "
           "torchvision:NAME or timm:NAME (default: vgg16)"),
    Option("weights", "capture", "network", "auto", "str or None, default \"auto\"",
           "``\"imagenet\"``, ``\"none\"`` (untrained, seeded), a weights file, or ``\"auto\"`` (ImageNet when it "
           "can be had, else the untrained network, announced loudly).",
           "imagenet, none (untrained, seeded), a weights file, or auto (default): imagenet when it can be had, else "
           "the untrained network with a loud warning; for hub:PRESET, auto (the preset's) or none; for "
           "torchvision: and timm:, auto, pretrained, none or a state-dict file", record="weights_requested",
           none_recorded=True),
    Option("layers", "capture", "network", None, "sequence of str, optional",
           "Default: every conv layer and every dense layer but the classifier.",
           "comma-separated layer names (default: all conv layers and fc1, fc2)",
           lambda name, value: check_layers(named(name), value), parse=lambda text: _comma_list(text) if text else None),
    Option("image_size", "capture", "network", None, "int, (int, int) or str, optional",
           "Side of the square input, or ``(height, width)`` (``\"48x96\"``); default: the model's own.",
           "input side in pixels, or HEIGHTxWIDTH (48x96); default: the model's own",
           lambda name, value: image_shape(value, named(name)), {"type": size}),
    Option("fit", "capture", "network", "squash", "{\"squash\", \"crop\"}",
           "Squash the whole image to the input, or keep its central part.",
           "squash the whole image (default) or keep the central square", _choice(FITS), {"choices": FITS}),
    Option("preprocess", "capture", "network", None, "{\"caffe\", \"tf\", \"torch\", \"raw\"}, optional",
           "Default: the model's own.", "input preprocessing (default: the model's own)",
           lambda name, value: value if value is None else check_preprocess(value, name=named(name)),
           {"choices": PREPROCESS_MODES}),
    Option("precision", "capture", "network", "float32", "{\"float32\", \"bfloat16\", \"float16\"}",
           "The computation's precision (mixed bfloat16 or float16 for GPUs).",
           "computation precision (mixed bfloat16/float16 for GPUs; see docs/performance.md)",
           _choice(PRECISIONS), {"choices": PRECISIONS}),
    Option("seed", "capture", "network", 0, "int, default 0", "Seed of the untrained network's random init.",
           "seed of the untrained network's random init", lambda name, value: check_seed(named(name), value),
           {"type": int}),
    # how the images go through it, and where
    Option("batch_size", "capture", "capture", 32, "int, default 32", "Images per forward pass.",
           "images per forward pass (default {default})", _required_positive, {"type": positive}),
    Option("workers", "capture", "capture", None, "int, optional", "Image-decoding workers (default: one per CPU core).",
           "image-decoding workers (default: one per CPU core)", _optional_positive, {"type": positive}, record=None),
    Option("cache", "capture", "capture", None, "str, optional", "Folder for decoded images, reused by later captures.",
           "folder for decoded images, reused by later captures of the same images", record=None),
    Option("devices", "capture", "capture", None, "\"all\", int or list of str, optional",
           "Split each batch over several devices (JAX only).",
           "split each batch over several GPUs: all, a number, or gpu:0,gpu:1 (Keras data parallelism, JAX backend "
           "only; the batch size must be a multiple of their number)", cli={"type": devices}, record=None),
    # the images (in the input group of --help)
    Option("limit", "capture", "input", None, "int, optional", "Only the first N images of each category.",
           "use only the first N images of each category", _optional_positive, {"type": positive}, record=None),
    Option("strict", "capture", "input", False, "bool", "Stop at the first unreadable file.",
           "stop at the first unreadable file instead of skipping it", cli={"action": "store_true"}, record=None),
    Option("verify", "capture", "input", False, "bool",
           "Recognise an earlier capture's images by their contents, not by size and modification time "
           "(``catsel.capturing.key.store_key``).",
           "recognise the images of an earlier capture by their contents (reads every file) instead of their size "
           "and modification time", cli={"action": "store_true"}, record=None),
    Option("scheduler", "capture", "capture", None, "str, optional",
           "Capture on a Dask cluster: ``\"local:N\"`` (N worker processes here) or a scheduler's address "
           "(``\"tcp://host:8786\"``); see :mod:`catsel.capturing.cluster`.",
           "capture on a Dask cluster: local:N (N worker processes here), cuda (one worker per GPU, with dask-cuda) "
           "or a scheduler's address such as tcp://host:8786; the store is then chunked (Zarr)", _scheduler,
           {"metavar": "ADDRESS"}),
    Option("block", "capture", "capture", None, "int, optional",
           "With ``scheduler``: images per block (default ``catsel.capturing.cluster.BLOCK``).",
           "with --scheduler: images per task (default 1024)", _optional_positive, {"type": positive}, record=None),
    # the selective rule, the nulls and the tests
    Option("threshold", "analysis", "statistics", THRESHOLD, "float, default 0.01", "The paper's margin above chance.",
           "selective when the index exceeds chance by more than this (default 0.01, the paper's)",
           lambda name, value: check_finite(named(name), value), {"type": float}),
    Option("index", "analysis", "statistics", INDEX, "str, default \"paper\"", "A name in :data:`catsel.INDICES`.",
           "selectivity index: paper (eq. 2, default), unit_contrast (the public code's contrast on each unit's own "
           "maxima), fsi, dprime, auroc, or any registered one; each is compared with its own chance level",
           _choice(_indices), {"type": str.lower, "choices": _indices}),
    Option("permutations", "analysis", "statistics", None, "int, optional",
           "Add ``p_value`` and ``q_value`` columns (a label-permutation test).",
           "add p_value and q_value columns: a label-permutation test of the chosen index with N permutations per "
           "test, more (up to 100 N) for rare units that N cannot resolve", _optional_positive, {"type": positive}),
    Option("fdr", "analysis", "statistics", "bh", "{\"bh\", \"by\"}", "The false-discovery-rate correction.",
           "false-discovery-rate correction of the p-values (Benjamini-Hochberg or -Yekutieli)", _choice(FDR_METHODS),
           {"choices": FDR_METHODS}),
    Option("alpha", "analysis", "statistics", LEVEL, "float, default 0.05",
           "The level of every test: a unit is significant when its q-value is below it, and a layer's count is "
           "evidence of selectivity when its q-value over the run's layers and categories is at or below it (see "
           ":func:`catsel.stats.layer_evidence`).", "level for q-values (default 0.05)",
           lambda name, value: check_fraction(named(name), value), {"type": float}),
    Option("select_by", "analysis", "statistics", "threshold", "{\"threshold\", \"q\", \"both\", \"pairwise\"}",
           "What makes a unit selective (see :func:`catsel.selecting.tables.selective_rule`): ``\"pairwise\"`` tests "
           "each category against every other, all tests FDR-corrected together "
           "(:func:`catsel.stats.pairwise_selectivity`).",
           "what makes a unit selective: the index threshold (default, the paper's), q_value < alpha (needs "
           "--permutations), both, or pairwise (beats every other category, each test's q < --alpha, all tests "
           "corrected together with --fdr)", _choice(SELECT_BY), {"choices": SELECT_BY}),
    Option("pairwise_test", "analysis", "statistics", "welch", "{\"welch\", \"ranksum\"}, default \"welch\"",
           "The test of the pairwise rule.", "with --select-by pairwise: Welch's t-test (default) or the rank-sum test",
           _choice(("welch", "ranksum")), {"choices": ("welch", "ranksum")}),
    Option("bootstrap", "analysis", "statistics", None, "int, optional",
           "Resamples for confidence intervals in the layer summary.",
           "add confidence intervals (N resamples) to the layer summary", _optional_positive, {"type": positive}),
    Option("reliability", "analysis", "statistics", False, "bool", "Add split-half columns to the table.",
           "add split-half columns to selectivity.csv: per-unit reliability, and whether a unit selective on one "
           "half of the images is selective on the other", cli={"action": "store_true"}, record="split_half"),
    Option("null", "analysis", "statistics", False, "bool",
           "Add the untrained network's proportions (for a trained network: a second capture). The shuffled-label "
           "null is always there with the threshold rule.",
           "add the same architecture untrained beside the result (for a trained network, a second capture); the "
           "shuffled-label null is always in layer_summary.csv and the figure", cli={"action": "store_true"},
           record="null_baselines"),
    Option("untrained_seeds", "analysis", "statistics", 1, "int, default 1",
           "With ``null``: untrained networks of as many initialisations (seeds ``seed``, ``seed + 1``...); the "
           "summary gets their mean (``proportion_untrained``) and range (``untrained_low``, ``untrained_high``). "
           "Five is what the documentation suggests.",
           "with --null: untrained networks of N initialisations, their mean and range beside the result (default 1; "
           "5 for a paper)", _optional_positive, {"type": positive}),
    Option("shuffles", "analysis", "statistics", SHUFFLES, "int, default 1000",
           "Label shuffles of the shuffled-label null that stands beside every count (recorded in ``run.json``); a "
           "count's p-value is at least 1 / (shuffles + 1), so fewer shuffles than "
           ":func:`catsel.stats.shuffles_needed` of the run's cells cannot mark a lone layer as evidence (the "
           "printout says so).", "label shuffles of the shuffled-label null beside every count (default {default})",
           _optional_positive, {"type": positive}),
    # the localizer (in the input group of --help)
    Option("localizer", "analysis", "input", None, "str or path, optional",
           "A folder of independent images of the same categories (a localizer set): units are chosen on them and "
           "counted on the data folder's images (see :func:`catsel.selectivity`'s ``select_from``); the null then "
           "counts the chosen units only. The threshold rule only.",
           "a folder of other images of the same categories: units are chosen on them and counted on DATA_DIR's "
           "(no double dipping)", cli={"metavar": "DIR"}),
    # what is written, and shown
    Option("tables", "output", "output", "auto", "{\"auto\", \"csv\", \"parquet\"}",
           "The selectivity table as CSV or Parquet; ``\"auto\"``: Parquet above "
           ":data:`catsel.study.pipeline.PARQUET_ABOVE` rows.",
           "the selectivity table as csv or parquet (default auto: parquet above a million rows, e.g. many "
           "categories)", _choice(TABLE_FORMATS), {"choices": TABLE_FORMATS}, record=None),
    Option("progress", "output", "output", True, "bool, default True", "Show a progress bar.", "no progress bar",
           cli={"action": "store_true"}, flag="--no-progress", record=None),
)

_BY_NAME = {o.name: o for o in OPTIONS}


def options_of(stage: str) -> list[Option]:
    """The options one part of :class:`catsel.Settings` keeps, in order.

    Parameters
    ----------
    stage : {"capture", "analysis", "output"}

    Returns
    -------
    list of Option
    """
    return [o for o in OPTIONS if o.stage == stage]


def add_options(group, name: str) -> None:
    """The flags of one ``--help`` group, added to an argparse group.

    Parameters
    ----------
    group : argparse group or parser
    name : str
        One of :data:`GROUPS`.
    """
    for option in OPTIONS:
        if option.group != name:
            continue
        cli = dict(option.cli)
        if callable(cli.get("choices")):
            cli["choices"] = cli["choices"]()
        if not option.inverted and cli.get("action") != "store_true":
            cli.setdefault("default", option.default)
        group.add_argument(option.flag or f"--{option.name.replace('_', '-')}", dest=option.dest,
                           help=option.help.format(default=option.default), **cli)


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings' keywords of parsed ``catsel run`` arguments.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    dict
    """
    values = {}
    for option in OPTIONS:
        value = getattr(args, option.dest)
        if option.inverted:
            value = not value
        if option.parse is not None:
            value = option.parse(value)
        values[option.name] = value
    return values


def from_record(record) -> dict[str, Any]:
    """The settings' keywords that a run's record gives back (each option's field of ``run.json``; an option
    the record does not keep, or keeps as null, takes its default).

    Parameters
    ----------
    record : RunRecord

    Returns
    -------
    dict
    """
    values = {}
    for option in OPTIONS:
        field_name = option.recorded_as
        if field_name is None:
            continue
        value = getattr(record, field_name)
        if value is None and not option.none_recorded:
            continue
        if option.name == "layers":
            value = list(value) or None
            if value is None:
                continue
        values[option.name] = value
    return values


def stage_docs(stage: str) -> str:
    """The Parameters section of one part's documentation, from its options.

    Parameters
    ----------
    stage : str

    Returns
    -------
    str
    """
    import textwrap

    lines = ["Parameters", "----------"]
    for option in options_of(stage):
        lines.append(f"{option.name} : {option.kind}")
        lines += textwrap.wrap(option.doc, 100, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)


def option(name: str) -> Option:
    """One option by its name.

    Parameters
    ----------
    name : str

    Returns
    -------
    Option
    """
    return _BY_NAME[name]
