"""The ``catsel`` command.

``catsel run DATA_DIR --out OUT`` captures, computes selectivity, and writes
the store, the tables, the layer figure and ``run.json`` into OUT.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..options import INDEX, THRESHOLD
from ..study.declared import positive as _positive, size as _size

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # a prefix of an option is not that option: --preproces tf ran as --preprocess tf without a word
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, exit 2, as for every user error
        self.print_usage(sys.stderr)
        self.exit(2, f"catsel: error: {message}\n")


_DATA_HELP = ("the data folder, when the images are no longer where they were captured (a run folder from "
              "someone else)")


#: The address space catsel needs to start: TensorFlow, NumPy's and SciPy's BLAS reserve it when imported (a
#: tiny network ran at 3 GB and failed at 2 GB on a 2-core machine; with less, TensorFlow raised ImportError,
#: std::bad_alloc, or OpenBLAS hung at full CPU while SciPy was imported).
MIN_ADDRESS_SPACE = 3 * 2**30


def _memory_problem() -> str | None:
    """One line when this process may not use the memory catsel needs to start (``ulimit -v``), else None."""
    try:
        import resource
    except ImportError:  # not on this system (Windows)
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft >= MIN_ADDRESS_SPACE:
        return None
    return (f"this process may use at most {soft / 2**30:.1f} GB of memory (ulimit -v), and catsel needs about "
            f"{MIN_ADDRESS_SPACE / 2**30:.0f} GB to start its numerical libraries and the deep-learning backend; "
            "raise the limit (ulimit -v unlimited) or run where more memory is allowed")


def _verbose(command) -> None:
    """The ``--verbose`` option of every command that starts Keras."""
    command.add_argument("--verbose", action="store_true", help="show the deep-learning backend's own start-up messages")


def _import_keras(verbose: bool) -> None:
    from ..startup import import_keras

    import_keras(verbose=verbose)


def _on_keras(args) -> bool:
    """Whether the command's network runs on Keras, so that Keras is started first, quietly: a network of
    another source (a PyTorch module) never starts Keras or TensorFlow. A run folder says which its store was
    captured with; a folder that cannot be read is left to the command itself to report."""
    from ..network.sources import source_of

    if getattr(args, "model", None) is not None and args.command in ("run", "layers"):
        try:
            return source_of(args.model).framework == "keras"
        except Exception:  # the command says what is wrong with the name, in its own line
            return True
    import json

    try:
        meta = json.loads((Path(args.run_dir) / "activations" / "meta.json").read_text(encoding="utf-8"))
        return (meta.get("framework") or "keras") == "keras"
    except Exception:  # damaged or crafted: the command reads the folder itself, and says what is wrong in one line
        return True


_CODE_HELP = ("for a run captured from a lab's code: that code named again (FILE.py:FACTORY); catsel runs no "
              "code a record names, and checks the file's bytes against the capture's")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..study.declared import GROUPS, add_options

    parser = _Parser(prog="catsel", description="Which filters of a CNN are selective for your image categories?")
    parser.add_argument("--version", action="version", version=f"catsel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="capture activations and compute category selectivity",
                         description="Capture each filter's maximum over a category folder, compute its "
                                     "selectivity for each category (eq. 1-2), and write tables and the layer figure.")
    groups = {name: run.add_argument_group(name, description) for name, description in GROUPS}
    groups["input"].add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder of images per category")
    groups["output"].add_argument("--out", required=True,
                                  help="output folder (created; an earlier capture there is reused)")
    for name in groups:  # every option of a run, as declared once (catsel.study.declared)
        add_options(groups[name], name)
    groups["output"].add_argument("--report", action="store_true", help="also write OUT/report.html (see catsel report)")
    _verbose(run)

    vis = sub.add_parser("visualize", aliases=["visualise"], help="pictures of a run's filters",
                         description="For one filter: its top images, receptive-field crops and an activation-"
                                     "maximisation picture in one panel; or a category's representative filters.")
    vis.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `catsel run`")
    vis.add_argument("--out", required=True, help="PNG file to write")
    vis.add_argument("--data", metavar="DIR", help=_DATA_HELP)
    vis.add_argument("--layer", help="layer of the filter")
    vis.add_argument("--unit", "--filter", dest="unit", type=int, help="unit (filter) index within the layer")
    vis.add_argument("--category", help="show this category's representative filters instead")
    vis.add_argument("--top", type=_positive, default=4, help="how many representative units (default 4)")
    vis.add_argument("--steps", type=_positive, default=256,
                     help="the most activation-maximisation steps (default 256; a picture stops earlier when it "
                          "has converged)")
    vis.add_argument("--seed", type=int, default=0)
    vis.add_argument("--threshold", type=float, default=None, help="selectivity threshold (default: the run's)")
    vis.add_argument("--model", metavar="FILE.py:FACTORY", help=_CODE_HELP)
    _verbose(vis)

    report = sub.add_parser("report", help="write a finished run as one self-contained HTML file",
                            description="Write RUN_DIR/report.html: settings, Figure 1 with its null, the layer "
                                        "table, representative filters with top images and crops, skipped files "
                                        "and statistics, every picture embedded (mail it, or put it on a course page).")
    report.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `catsel run`")
    report.add_argument("--out", help="HTML file to write (default: RUN_DIR/report.html)")
    report.add_argument("--data", metavar="DIR", help=_DATA_HELP)
    _verbose(report)

    compare = sub.add_parser("compare", help="several networks' runs side by side: which has filters for my "
                                             "categories?",
                             description="Plot each run's proportion of selective units per category against relative "
                                         "depth (0 input, 1 output), with its shuffled-label null, and write the best "
                                         "layer per category per network with a linear probe's score (FIG.csv).")
    compare.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                         help="output folders of `catsel run`, one per network")
    compare.add_argument("--out", required=True, help="PNG file to write; the table goes beside it as .csv")
    compare.add_argument("--labels", help="comma-separated names of the networks, in the order of the runs")
    compare.add_argument("--no-probe", action="store_true", help="leave out the linear probe of each best layer")

    lesion = sub.add_parser("lesion", help="silence a category's selective units and measure each category's "
                                           "read-out accuracy, against random and least-selective units",
                            description="On a finished run: the units of one layer selective for a category (chosen "
                                        "on training folds) are silenced inside the network, the images run on to "
                                        "a read-out layer, and a cross-validated linear read-out of the categories "
                                        "is scored per category on the held-out folds. Writes lesion.csv and "
                                        "lesion.png.")
    lesion.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `catsel run`")
    lesion.add_argument("--category", required=True, help="the category whose units are silenced")
    lesion.add_argument("--layer", help="the layer lesioned (default: the one most selective for the category, "
                                        "by its excess over the null)")
    lesion.add_argument("--readout", help="the layer read out (default: the last captured layer)")
    lesion.add_argument("--units", default="selected", help="selected (the run's rule) or top:K (default selected)")
    lesion.add_argument("--repeats", type=_positive, default=20, help="random sets of the same size (default 20)")
    lesion.add_argument("--mode", choices=("zero", "mean"), default="zero",
                        help="silence to zero, or to each unit's mean map over the training images")
    lesion.add_argument("--out", help="folder for lesion.csv and lesion.png (default: RUN_DIR/lesion-CATEGORY)")
    lesion.add_argument("--model", metavar="FILE.py:FACTORY", help=_CODE_HELP)
    _verbose(lesion)

    course = sub.add_parser("course", help="the course notebook for a class: the students' copy",
                            description="Write the students' copy of the course notebook (notebooks/06_course.ipynb): "
                                        "every cell tagged `solution` left out, nothing else changed; or run a "
                                        "student's notebook and score each exercise.")
    task = course.add_mutually_exclusive_group(required=True)
    task.add_argument("--student", metavar="OUT", help="write the students' notebook (no solution cells) to OUT")
    task.add_argument("--grade", metavar="NOTEBOOK",
                      help="run a student's notebook and print a score per exercise (for an autograder)")
    course.add_argument("--source", metavar="NOTEBOOK", help="with --student: the teacher's notebook (default: "
                                                             "catsel's course)")
    course.add_argument("--fail", action="store_true",
                        help="with --grade: exit with status 1 unless every exercise is correct")
    course.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="with --grade: a value for the notebook's parameters cell (e.g. -p image_size 32)")

    layers = sub.add_parser("layers", help="list a network's layers: which catsel can capture and which by default",
                            description="Every layer of MODEL that catsel can capture, through nested models: its "
                                        "kind, output shape, units, whether it is captured by default, which layer a "
                                        "conv or dense layer's units are taken from by default, and its receptive "
                                        "field. The names are those --layers takes.")
    layers.add_argument("model", metavar="MODEL",
                        help="keras.applications name, a .keras or .h5 file, hub:PRESET, torchvision:NAME or timm:NAME")
    layers.add_argument("--image-size", type=_size,
                        help="input side in pixels, or HEIGHTxWIDTH (needed for a network that takes any size)")
    layers.add_argument("--weights", default=None,
                        help="weights to build an application with (default: none; the layers are the same)")
    layers.add_argument("--defaults", action="store_true", help="list only the layers captured by default")
    _verbose(layers)

    brain = sub.add_parser("brain", help="a run's layers and selective units against brain data: RDMs, noise "
                                         "ceilings, encoding, random units, the untrained twin",
                           description="Compare every layer of a finished run with brain (or behaviour) data matched "
                                       "by image name: its RDM against the brain RDM(s) by rank correlation, with a "
                                       "bootstrap interval and the noise ceiling, beside the category-model RDMs; "
                                       "cross-validated ridge encoding of responses per region; each category's "
                                       "selective units against random sets of as many units. Writes brain.csv, "
                                       "brain.png and brain.json (what was compared), which catsel report shows.")
    brain.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `catsel run`")
    given = brain.add_mutually_exclusive_group(required=True)
    given.add_argument("--rdm", nargs="+", metavar="FILE",
                       help="dissimilarity matrices (.npy n x n or subjects x n x n, .csv, .mat); several files are "
                            "several subjects")
    given.add_argument("--responses", metavar="FILE",
                       help="responses, images x columns (.npy, or .csv/.parquet with an 'image' column and an "
                            "optional 'repetition' column)")
    brain.add_argument("--names", metavar="FILE", help="the image of each row, one per line (file name or path "
                                                       "in the data folder)")
    brain.add_argument("--variable", help="the variable of a .mat file")
    brain.add_argument("--rdm-kind", default="dissimilarity", choices=("dissimilarity", "similarity"),
                       help="what the --rdm files hold (default dissimilarity; similarity: turned into "
                            "dissimilarities, 1 - r for correlations)")
    brain.add_argument("--regions", metavar="FILE", help="the region of each response column, one per line")
    brain.add_argument("--measure", default="spearman", choices=("spearman", "tau-a", "kendall", "corr", "cosine"),
                       help="how RDMs are compared (default spearman)")
    brain.add_argument("--distance", default="correlation", choices=("correlation", "euclidean"),
                       help="a layer RDM's dissimilarity (default correlation)")
    brain.add_argument("--categories", help="comma-separated categories whose selective units are tested "
                                            "(default: all)")
    brain.add_argument("--layers", help="comma-separated layers compared (default: all captured)")
    brain.add_argument("--selective-layers", help="comma-separated layers where selective units meet random ones "
                                                  "(default: each category's best layer with evidence)")
    brain.add_argument("--random-sets", type=int, default=1000, help="random unit sets (default 1000; 0: none)")
    brain.add_argument("--bootstrap", type=int, default=None,
                       help="image resamples for the intervals and the test against the untrained twin (default: "
                            "enough for one layer alone to reach the level over the layers compared, at least 100)")
    brain.add_argument("--folds", type=_positive, default=5, help="encoding folds over images (default 5)")
    brain.add_argument("--components", type=_positive, default=None,
                       help="the most dimensions a layer keeps for encoding (default 100, fewer where a fold fits "
                            "on fewer images)")
    brain.add_argument("--seed", type=int, default=0, help="the resamples', splits' and random sets' seed")
    brain.add_argument("--out", help="folder for brain.csv, brain.png and brain.json (default: RUN_DIR)")
    brain.add_argument("--data", metavar="DIR", help=_DATA_HELP)
    brain.add_argument("--no-progress", action="store_true", help="no progress bar")
    _verbose(brain)

    explore = sub.add_parser("explore", help="open a run's interactive explorers as a Voila dashboard",
                             description="Show the threshold, layer and filter explorers of a finished run in "
                                         "Voila: a web page with the widgets and no code.")
    explore.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `catsel run`")
    explore.add_argument("--port", type=_positive, help="port to serve on (default: Voila's)")
    explore.add_argument("--ip", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    explore.add_argument("--token", help="access token (default: none on a loopback address such as 127.0.0.1; "
                                          "a generated one, printed with the address, on any other)")
    explore.add_argument("--no-token", action="store_true",
                         help="serve an address other machines can reach without a token (anyone who can reach it "
                              "can run the explorers)")
    explore.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    return parser


def settings_from_args(args):
    """The :class:`catsel.Settings` of parsed ``catsel run`` arguments (checked before anything runs)."""
    from ..options import as_options
    from ..study.declared import from_args
    from ..study.settings import Settings

    with as_options():  # errors name the options typed, not Python's keywords
        return Settings(**from_args(args))


def cmd_run(args) -> int:
    from ..options import as_options, check_output_folder
    from ..study.pipeline import run

    settings = settings_from_args(args)
    with as_options():
        check_output_folder(args.out)
    import warnings

    from ..errors import ConfoundWarning

    with warnings.catch_warnings():  # the printout says every confound with the results: once, not twice
        warnings.simplefilter("ignore", ConfoundWarning)
        result = run(args.data_dir, args.out, settings)
    _report(result.record, result.summary, result.skipped, result.out)
    if args.report:
        from ..study.report import write_report

        print(f"Wrote {write_report(result)}")
    return 0


def cmd_report(args) -> int:
    from ..study.report import write_report

    print(f"Wrote {write_report(args.run_dir, args.out, data_dir=args.data)}")
    return 0


EXPLORE_NOTEBOOK = "explore.ipynb"


def _markdown_text(text: str) -> str:
    """``text`` shown as it is in Markdown: HTML escaped, Markdown's own characters backslashed."""
    import html

    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", html.escape(text, quote=False)).replace("\n", " ")


def explore_notebook(run_dir: Path) -> Path:
    """Write ``RUN_DIR/explore.ipynb``: the dashboard that ``catsel explore`` serves."""
    import nbformat

    from ..study.pipeline import run_settings
    from ..study.record import RunRecord
    from ..store import load_activations

    load_activations(run_dir)  # a clear error now rather than in the browser
    settings = run_settings(run_dir) or RunRecord()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        # the folder's name is data: escaped for Markdown's HTML, and its Markdown characters taken literally
        nbformat.v4.new_markdown_cell(f"# catsel: {_markdown_text(run_dir.resolve().name)}\n\nWhich filters prefer which category, "
                                      "layer by layer. Move the threshold; open a layer; pick a filter."),
        nbformat.v4.new_code_cell(
            "import catsel\nfrom catsel.apps import widgets\n\n"
            f"acts = catsel.load_activations({str(run_dir.resolve())!r})\n"
            f"index, threshold = {settings.get('index', INDEX)!r}, {settings.get('threshold', THRESHOLD)!r}\n"
            "table = catsel.selectivity(acts, index=index, threshold=threshold)\n"
            "widgets.explore(acts, table, threshold=threshold)"),
    ]
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    path = run_dir / EXPLORE_NOTEBOOK
    nbformat.write(nb, path)
    return path


def cmd_explore(args) -> int:
    import importlib.util

    from ..errors import CatselError

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise CatselError(f"{run_dir} is not a folder; give the output folder of `catsel run`")
    if importlib.util.find_spec("voila") is None:
        raise CatselError("`catsel explore` needs Voila: pip install voila (or open the explorers in JupyterLab, "
                          "see notebooks/03_selectivity.ipynb)")
    path = explore_notebook(run_dir)
    # the same Python as catsel, whether or not its environment is on PATH
    command = [sys.executable, "-m", "voila", str(path), f"--Voila.ip={args.ip}", "--strip_sources=True", "--theme=light"]
    if args.port:
        command += [f"--port={args.port}", "--Voila.port_retries=0"]
    token = args.token
    if token is None and not args.no_token and not _loopback(args.ip):
        import secrets

        token = secrets.token_hex(24)
        print(f"{args.ip} can be reached from other machines, so the explorers ask for a token: open "
              f"http://{args.ip}:{args.port or 8866}/?token={token}", flush=True)
    command += [f"--Voila.token={token}"] if token else []
    if args.no_browser:
        command.append("--no-browser")
    print(f"Serving {path} with Voila (Ctrl-C to stop)", flush=True)
    return _serve(command)


def _stop_cleanly_on_sigterm() -> None:
    """Let SIGTERM stop a run as Ctrl-C does: the capture saves its rows and releases its shared memory."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _loopback(address: str) -> bool:
    """Whether only this machine can reach ``address``."""
    import ipaddress

    if address == "localhost":
        return True
    try:  # "" (every interface) and host names are not loopback
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name
        return False


class _Stop(Exception):
    """SIGTERM reached ``catsel explore``."""


def _serve(command: list[str]) -> int:
    """Run Voila until it ends, or until Ctrl-C or SIGTERM: then stop it (and with it its kernels), and wait."""
    import signal
    import subprocess

    def on_term(signum, frame):
        raise _Stop

    child = subprocess.Popen(command)
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return child.wait()
    except (KeyboardInterrupt, _Stop):
        child.terminate()  # Voila shuts its kernels down on SIGTERM
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_compare(args) -> int:
    from ..study.comparison import compare, write_comparison

    labels = [l.strip() for l in args.labels.split(",")] if args.labels else None
    comparison = compare(args.run_dirs, labels=labels, probe=not args.no_probe)
    figure, table = write_comparison(comparison, args.out)
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(comparison.best.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for note in comparison.notes:
        print(f"Note: {note}")
    print(f"Wrote {figure}, {table} and {figure.with_suffix('.json')}")
    return 0


def cmd_visualize(args) -> int:
    from ..errors import CatselError

    if args.category is None and (args.layer is None or args.unit is None):
        raise CatselError("give --layer and --unit for one unit, or --category for its representative units")
    from ..selecting.selection import selectivity
    from ..network.models import from_store
    from ..study.pipeline import run_settings
    from ..study.record import RunRecord
    from ..store import load_activations
    from ..figures.visualize import field_note, plot_unit, plot_representatives

    from ..paths import not_a_link
    from ..store import atomic_write

    out = not_a_link(args.out, what="the figure")  # before the minutes of activation maximisation
    kind = out.suffix.lower().lstrip(".")
    from matplotlib.backend_bases import FigureCanvasBase

    if kind not in FigureCanvasBase.get_supported_filetypes():
        raise CatselError(f"--out {out}: matplotlib cannot write a {out.suffix or 'file without an extension'}; "
                          "name a .png, .pdf or .svg file")
    run_dir = Path(args.run_dir)
    acts = load_activations(run_dir, data_dir=args.data)
    amodel = from_store(acts, _code(args.model))
    if args.category is not None:
        settings = run_settings(run_dir) or RunRecord()
        threshold = args.threshold if args.threshold is not None else settings.get("threshold", THRESHOLD)
        from ..options import check_category

        check_category(args.category, acts.categories, str(run_dir))
        table = selectivity(acts, index=settings.get("index", INDEX), threshold=threshold)
        try:
            fig, pictures = plot_representatives(acts, table, args.category, amodel, n_units=args.top,
                                                 steps=args.steps, seed=args.seed, progress=True,
                                                 return_pictures=True)
        except ValueError as exc:
            raise CatselError(str(exc)) from None
    else:
        if args.layer not in acts.layers:
            raise CatselError(f"no layer {args.layer!r} in {run_dir}; captured layers: {', '.join(acts.layers)}")
        if not 0 <= args.unit < acts.units[args.layer]:
            raise CatselError(f"{args.layer} has units 0 to {acts.units[args.layer] - 1}, not {args.unit}")
        if field_note(acts, args.layer):  # said before the minutes of activation maximisation
            print(f"Note: {field_note(acts, args.layer)}", flush=True)
        fig, pictures = plot_unit(acts, args.layer, args.unit, amodel, steps=args.steps, seed=args.seed,
                                    progress=True, return_pictures=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        fig.savefig(tmp, dpi=110, format=kind)
    print(f"Wrote {out}")
    width = max(len(f"{r.layer}/{r.unit}") for r in pictures) if pictures else 0
    print("Pictures (activation maximisation):")
    for result in pictures:  # a flat picture is a failure of the picture, said as such, never shown as the unit
        name = f"{result.layer}/{result.unit}".ljust(width)
        if not result.flat:
            print(f"  {name}  made (its maximum {result.peak:.3g})")
            continue
        bar = (f", below its median on the dataset's images ({result.typical:.3g})"
               if result.typical is not None else "")
        again = " even without the random transformations" if result.retried else ""
        print(f"  {name}  FAILED{again}: flat, its maximum {result.peak:.3g}{bar}, its mean {result.start:.3g} on "
              f"the starting noise and {result.final:.3g} at the end (a unit nothing drives, or too few --steps: "
              f"{len(result.trace)}); marked FLAT in the figure")
    return 0


def _report(run, summary, skipped: list, out: Path) -> None:
    label = f"{run['model']}, {run['weights']}"
    from ..options import size_text

    print(f"\n{label}, {size_text(run['image_size'])}, {sum(run['images_per_category'].values())} images "
          f"({', '.join(f'{c}: {n}' for c, n in run['images_per_category'].items())})")
    if run.get("preprocessing"):
        print(f"Preprocessing: {run['preprocessing']}")
    if run.get("layers_note"):
        print(f"Layers: {run['layers_note']}")
    from ..selecting.tables import Counting
    from ..study.verdict import (negative_excess_sentence, null_sentence, shuffles_sentence, significant_sentence,
                                 verdict_sentences)

    import pandas as pd

    def known(row, column) -> bool:
        return column in row and pd.notna(row[column])

    def cell(row) -> str:  # each proportion beside its null, its verdict, the untrained twin and the q share
        text = f"{row['proportion'] * 100:.1f}%"
        if known(row, "evidence"):
            text += "*" if row["evidence"] else ""
        if known(row, "null_proportion"):  # beside the excess, what the verdict reads: the null's tail and q
            tail = f"/{row['null_high'] * 100:.1f}" if known(row, "null_high") else ""
            q = f", q {row['null_q']:.2g}" if known(row, "null_q") else ""
            text += f" (null {row['null_proportion'] * 100:.1f}{tail}, {row['excess'] * 100:+.1f}{q})"
        if known(row, "proportion_untrained"):
            spread = (f" {row['untrained_low'] * 100:.1f}-{row['untrained_high'] * 100:.1f}"
                      if known(row, "untrained_low") else "")
            text += f" untr. {row['proportion_untrained'] * 100:.1f}{spread}"
        if known(row, "proportion_significant"):
            within = known(row, "evidence") and not row["evidence"]
            text += f" [q: {row['proportion_significant'] * 100:.1f}%{', within null' if within else ''}]"
        return text

    shown = summary.assign(cell=[cell(r) for _, r in summary.iterrows()])
    pivot = shown.pivot(index="layer", columns="category", values="cell")
    what = "Selective units per layer"
    if "null_proportion" in summary:
        what += (", with the shuffled-label null (null MEAN/95TH PERCENTILE), the excess over its mean "
                 "(points)" + (" and the q-value the verdict reads" if "null_q" in summary else ""))
    if "evidence" in summary:
        what += f"; * beyond chance (q <= {Counting.of(summary).level or 0.05:g})"
    if "proportion_untrained" in summary:
        what += "; untr.: the untrained network" + (" (mean, range over seeds)" if "untrained_low" in summary
                                                      else "")
    if "proportion_significant" in summary:
        what += "; [q: units significant by their permutation test]"
    print(f"\n{what}:")
    print(pivot.to_string())
    verdict = verdict_sentences(summary)
    if verdict:
        print("\nVerdict:")
        for line in verdict:
            print(f"  {line}")
    for line in (shuffles_sentence(summary), null_sentence(summary), significant_sentence(summary),
                 negative_excess_sentence(summary)):
        if line:
            print(f"\n{line}")
    for line in run.get("confounds") or []:
        print(f"\nConfound: {line}; a unit 'selective' for it may answer to that alone. Compare with the "
              "low-level controls (catsel.stats.confound_audit, catsel.stats.phase_scramble).")
    if run.get("localizer"):
        print(f"\nUnits were chosen on the localizer images ({run['localizer']}) and counted on these: a unit "
              "counts when it is selective on both.")
    elif not run.get("split_half"):
        print("\nUnits were chosen and counted on the same images: add --localizer DIR (independent images) or "
              "--reliability (split halves, in selectivity.csv) to see how many replicate.")
    if skipped:
        print(f"\nSkipped {len(skipped)} file(s):")
        for s in skipped:
            print(f"  {s['path']}: {s['reason']}")
    if not run["trained"]:
        print("\nNOTE: untrained network (random weights): a control, not the study's result.")
    print(f"\nWrote {out}/: {', '.join(run['outputs'])}")
    files = capture_words(run.get("images_captured", 0), sum(run["images_per_category"].values()))
    captured = run.get("images_captured", 0)
    speed = (f"{files} at {run['images_per_second']} per second" if captured and run["images_per_second"]
             else "the existing capture reused, no image captured")
    print(f"Capture: {speed} on {run['keras_backend']} ({run['device']}); total {run['total_seconds']:.1f} s")


def os_problem(exc: OSError) -> str:
    """One line for an error of the file system: the file, what is wrong, and what to do."""
    import errno

    where = exc.filename if exc.filename is not None else "a file"
    fixes = {
        errno.EACCES: "it cannot be written or read here (permission denied): choose a folder you can write "
                      "(--out), or change its permissions",
        errno.EPERM: "the operation is not permitted there: choose another folder (--out)",
        errno.EROFS: "it is on a read-only file system: choose a folder you can write (--out)",
        errno.ENOSPC: "the disk is full: free space, or write elsewhere (--out), and rerun",
        errno.EISDIR: "it is a folder, where a file is meant: name a file (--out)",
        errno.ENOTDIR: "a part of the path is a file, where a folder is meant: name another path",
        errno.EEXIST: "it exists already and is in the way: remove it, or name another path",
    }
    return f"{where}: {fixes.get(exc.errno, (exc.strerror or type(exc).__name__) + ': check the path and rerun')}"


def capture_words(captured: int, images: int) -> str:
    """What this run captured, in words: its files beside the study's images.

    Rows of files that could not be read are computed too (as zeros; they are
    not images of the study), and a resumed capture computes only the rows
    the stopped one had not: either may differ from the study's count.
    """
    if captured > images:
        return f"{captured} files ({captured - images} unreadable)"
    if 0 < captured < images:
        return f"{captured} images (the other {images - captured} from the earlier, stopped capture)"
    return f"{captured} images"


def _unknown(parser, command: str, extra: list) -> None:
    """Unknown arguments of a subcommand: its usage and, for a misspelled option, the one it most likely is."""
    import difflib

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    options = [o for action in sub._actions for o in action.option_strings if o.startswith("--")]
    hints = []
    for word in extra:
        close = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.6) if word.startswith("-") else []
        if close:
            hints.append(f"did you mean {close[0]}?")
    sub.error(f"unrecognized arguments: {' '.join(extra)}" + (f" ({'; '.join(hints)})" if hints else ""))


def _code(model):
    """``--model`` of a command on a run folder: only FILE.py:FACTORY, the code the run was captured from."""
    from ..errors import CatselError
    from ..network.models import is_code

    if model is not None and not is_code(model):
        raise CatselError(f"--model {model}: a run folder rebuilds its own network; --model names only the code a "
                          "run was captured from, FILE.py:FACTORY")
    return model


def cmd_lesion(args) -> int:
    from ..study.lesions import lesion, lesion_sentences, write_lesion
    from ..paths import inside, not_a_link, plain_name

    name = args.category if plain_name(args.category) and "/" not in args.category else "category"
    # where it writes, checked before the minutes of the lesion: a folder of the run is joined by the run
    # folder's rule (a link out of it is refused); a folder the user names must not be a link
    out = (not_a_link(args.out, what="the lesion's folder") if args.out
           else inside(args.run_dir, f"lesion-{name}", what="lesion's folder"))
    from ..store import reusable
    from ..study.pipeline import run_settings

    record = run_settings(args.run_dir)
    model = _code(args.model)
    # the run as it is now: its capture, and its tables by their digests (a run made again with another rule or
    # null chooses other units)
    request = None if record is None or record.store_key is None else {
        "catsel": _version(), "store_key": record.store_key, "run_files": record.files,
        "model": _identities(model.rpartition(":")[0]) if model else None,
        **{name: getattr(args, name) for name in ("category", "layer", "readout", "units", "repeats", "mode")}}
    reused = request is not None and reusable(out / "lesion.json", request, ("lesion.csv", "lesion.png"))
    if reused:
        import pandas as pd

        table = pd.read_csv(out / "lesion.csv", dtype={"layer": str, "readout_layer": str, "lesioned_category": str,
                                                       "scored_category": str})
        print(f"(the lesion {out / 'lesion.json'} records for this very request, reused: remove it to run again)")
    else:
        table = lesion(args.run_dir, args.category, layer=args.layer, readout=args.readout, units=args.units,
                       repeats=args.repeats, mode=args.mode, progress=True, model=model)
        write_lesion(table, out, request)
    for line in lesion_sentences(table):
        print(line)
    print(f"Wrote {out / 'lesion.csv'}, {out / 'lesion.png'} and lesion.json")
    return 0


def _version() -> str:
    """catsel's version, part of a request: another version's outputs are made again, never reused."""
    from .. import __version__

    return __version__


def _identities(files) -> list | None:
    """Each input file named with its SHA-256: a request made again with edited data is another request."""
    import os

    from ..paths import file_digest

    files = [files] if isinstance(files, (str, os.PathLike)) else files
    return None if not files else [[str(f), file_digest(f)] for f in files]


def cmd_brain(args) -> int:
    from ..brain import compare_brain, read_brain, read_inputs, selection_rule, write_brain
    from ..brain.outputs import OUTPUTS
    from ..errors import BrainDataError
    from ..paths import inside, not_a_link
    from ..store import reusable
    from ..study.pipeline import load_run

    out = not_a_link(args.out, what="the brain comparison's folder") if args.out else \
        inside(args.run_dir, "brain.csv", what="brain table").parent
    if args.random_sets < 0 or (args.bootstrap is not None and args.bootstrap < 0):
        raise BrainDataError("--random-sets and --bootstrap take 0 or more")
    split = (lambda text: [v.strip() for v in text.split(",") if v.strip()] if text else None)  # noqa: E731
    brain, data = read_inputs(args.rdm, args.responses, args.names, args.variable, args.regions,
                              args.rdm_kind)  # before any work
    run = load_run(args.run_dir, data_dir=args.data)
    key = run.activations.meta.key if run.activations.meta is not None else None
    rule = selection_rule(run.settings, run.record.get("localizer"))
    request = {"catsel": _version(), "store_key": key, "untrained_key": getattr(getattr(run.untrained, "meta", None), "key", None),
               "rule": rule, "run_files": run.record.files,
               "rdm": _identities(args.rdm), "responses": _identities(args.responses),
               "names": _identities(args.names), "regions": _identities(args.regions),
               **{name: getattr(args, name) for name in ("variable", "rdm_kind", "measure", "distance", "categories",
                                                         "layers", "selective_layers", "random_sets", "bootstrap",
                                                         "folds", "components", "seed")}}
    result = None
    if reusable(out / "brain.json", request, OUTPUTS):
        try:
            result = read_brain(out, key, rule)
        except BrainDataError as exc:  # the record itself edited: made again
            import warnings

            warnings.warn(f"{exc.args[0].split(': rerun')[0]}: made again", stacklevel=2)
    if result is None:
        result = compare_brain(run, rdm=brain, responses=data, measure=args.measure, distance=args.distance,
                               categories=split(args.categories), layers=split(args.layers),
                               selective_layers=split(args.selective_layers), random_sets=args.random_sets,
                               bootstrap=args.bootstrap, folds=args.folds, components=args.components,
                               seed=args.seed, rdm_kind=args.rdm_kind,
                               progress=False if args.no_progress else None)
        write_brain(result, out, request)
    else:
        print(f"(the comparison {out / 'brain.json'} records for this very request, reused: remove it to run again)")
    for note in result.notes:
        print(note)
    if result.trained is False:
        print("\nNOTE: untrained network (random weights): a control, not the study's result.")
    print(f"Wrote {out / 'brain.csv'}, {out / 'brain.png'} and brain.json")
    return 0


def cmd_course(args) -> int:
    import ast

    from .course import grade, student_copy

    if args.student:
        out = student_copy(args.student, source=args.source)
        print(f"Wrote {out} (the students' copy: the solution cells left out)")
        return 0
    parameters = {}
    for name, value in args.parameter:
        try:
            parameters[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parameters[name] = value  # a string
    results = grade(args.grade, parameters=parameters, progress=True)
    width = max([len(r["exercise"]) for r in results] + [8])
    for r in results:
        print(f"{r['exercise']:<{width}}  {r['verdict']}" + (f": {r['reason']}" if r.get("reason") else ""))
    right = sum(r["verdict"] == "correct" for r in results)
    print(f"score: {right}/{len(results)}")
    return 1 if args.fail and right < len(results) else 0


def cmd_layers(args) -> int:
    import pandas as pd

    from ..network.models import layers

    table = layers(args.model, weights=args.weights, image_size=args.image_size)
    if args.defaults:
        table = table[table["default"]]
    shown = table.assign(default=table["default"].map({True: "yes", False: ""}),
                         **{"output shape": table["output shape"].map(lambda s: "x".join(map(str, s)))})
    shown["step"] = shown["step"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.max_colwidth", 60):
        print(shown.drop(columns=["path"] if (table["path"] == table["layer"]).all() else []).to_string(index=False))
    print(f"\n{int(table['default'].sum())} of {len(table)} layers captured by default. A conv or dense layer's units "
          "are taken after the normalisation and activation that follow it, and a residual or multi-branch block's "
          "from the block's output (its merge and the activation after it), once per block; --layers takes any "
          "name above.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``catsel`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0, 2 for a problem the user can fix (one line on
        standard error), 130 when interrupted.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand, with the option it most likely means
        _unknown(parser, args.command, extra)
    from ..errors import CatselError, warnings_as_one_line

    warnings_as_one_line()
    problem = _memory_problem()
    if problem is not None:  # before NumPy, SciPy or the backend start: they fail, or hang, without a word
        print(f"catsel: error: {problem}", file=sys.stderr)
        return 2
    if args.command in ("run", "visualize", "visualise", "report", "layers", "lesion") and _on_keras(args):
        try:
            _import_keras(verbose=args.verbose)
        except (ImportError, MemoryError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            print(f"catsel: error: Keras and its backend could not start ({type(exc).__name__}: {first}); when memory "
                  "is short or limited (ulimit -v), free or allow more; otherwise reinstall (make setup)",
                  file=sys.stderr)
            return 2

    if args.command == "run":
        _stop_cleanly_on_sigterm()
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command in ("visualize", "visualise"):
            return cmd_visualize(args)
        if args.command == "explore":
            return cmd_explore(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "layers":
            return cmd_layers(args)
        if args.command == "course":
            return cmd_course(args)
        if args.command == "lesion":
            return cmd_lesion(args)
        if args.command == "brain":
            return cmd_brain(args)
    except CatselError as exc:
        print(f"catsel: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # what the file system refuses, where catsel has no better word: the file and the fix
        print(f"catsel: error: {os_problem(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _quiet_interrupts_from_now_on()
        print("catsel: interrupted; rerun the same command to resume the capture", file=sys.stderr)
        return 130
    return 0


def _quiet_interrupts_from_now_on() -> None:
    """After the one line an interrupt gets, keep a late interrupt's traceback off the terminal.

    Python cannot raise from inside a garbage-collection callback (JAX registers one, and TensorFlow's import
    brings JAX in where it is installed): an interrupt that lands there as the run winds down was printed as
    "Exception ignored in: <function _xla_gc_callback>" with its traceback, after catsel's line. Other
    exceptions Python cannot raise are printed as before.
    """
    previous = sys.unraisablehook

    def hook(unraisable):
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)

    sys.unraisablehook = hook


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
