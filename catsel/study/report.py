"""A run as one self-contained HTML file: results that travel without a server.

``catsel report OUT`` (or ``catsel run ... --report``) writes ``OUT/report.html``:
the run's settings and weights, Figure 1 with its shuffled-label null, the
layer table, each category's representative filters with their top images
and receptive-field crops, the skipped files and the statistics that were
run. Every picture is embedded as a PNG data URI, so the file can be mailed
or put on a course page as it is.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import pandas as pd

from ..errors import StoreError
from ..store import atomic_write
from ..options import size_text

__all__ = ["write_report", "REPORT"]

#: The file name of the report in a run's output folder.
REPORT = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.untrained { color: #b00000; font-weight: bold; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { padding: 2px 8px; text-align: right; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
"""


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img src="{_png(fig)}" alt="{html.escape(alt)}">'


def _representatives(result, *, per_category: int, k: int) -> list[str]:
    from ..selecting.indices import MIN_ACTIVE
    from ..selecting.selection import representative_units
    from ..figures.visualize import plot_crops, plot_top_images

    acts, table = result.activations, result.table
    parts = [f'<p class="note">Per category, the most selective filter of each layer; the {per_category} furthest '
             f"above chance are shown with their top {k} images (receptive field of the maximum outlined) and "
             f"the crops of those fields. Filters active on fewer than {MIN_ACTIVE:.0%} of the images are left "
             "out (eq. 2 rewards sparsity).</p>"]
    for category in acts.categories:
        parts.append(f"<h3>{html.escape(category)}</h3>")
        reps = representative_units(table, category, per_layer=1)
        if reps.empty:
            parts.append("<p>No filter is selective for this category at this threshold.</p>")
            continue
        for row in reps.nlargest(per_category, "above_chance").sort_values("layer").itertuples():
            layer, unit = str(row.layer), int(row.unit)
            caption = (f"{layer} / unit {unit}: selectivity {row.selectivity:.3f} (chance {row.chance:.3f}), "
                       f"active on {int(row.n_active)} of {len(acts)} images")
            parts.append(f"<p><b>{html.escape(caption)}</b></p>")
            try:
                parts.append(_img(plot_top_images(acts, layer, unit, k=k), caption))
                if acts.map_shape(layer) is not None:
                    parts.append(_img(plot_crops(acts, layer, unit, k=k), f"{caption}: crops"))
            except (OSError, ValueError, StoreError) as exc:  # images moved, deleted or changed since the run
                parts.append(f'<p class="note">Images unavailable: {html.escape(str(exc))}</p>')
    return parts


def _brain_section(result) -> list[str]:
    """The run's comparison with brain data (``catsel brain``), when one of this capture is in its folder."""
    from ..brain import read_brain, selection_rule

    from ..errors import BrainDataError

    acts = result.activations
    try:
        brain = read_brain(result.out, acts.meta.key if acts.meta is not None else None,
                           selection_rule(result.settings, result.record.get("localizer")))
    except BrainDataError as exc:  # an edited table or a damaged record: left out, said once, the rest written
        import warnings

        warnings.warn(str(exc), stacklevel=2)
        return [f'<p class="note">{html.escape(str(exc))}</p>']
    if brain is None:
        if (Path(result.out) / "brain.json").is_file():  # a comparison of an earlier run: said, not shown
            return ['<p class="note">brain.csv in this folder was made from another capture or another selection '
                    "rule than this run's: rerun <code>catsel brain</code> to compare this run.</p>"]
        return []
    brain.table["layer"] = pd.Categorical(brain.table["layer"].astype(str), categories=list(acts.layers),
                                          ordered=True)
    sources = ", ".join(str(brain.record[k]) for k in ("rdm", "responses") if brain.record.get(k))
    parts = ["<h2>Against the brain</h2>",
             f"<p>Compared with <code>{html.escape(sources)}</code> ({html.escape(str(brain.record.get('measure')))}"
             f", selective units chosen on the {html.escape(str(brain.record.get('selection')))}; "
             "<code>catsel brain</code>).</p>",
             _img(brain.display().plot().figure_, "Layers against the brain"),
             "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in brain.notes) + "</ul>"]
    return parts


def write_report(run, out: str | os.PathLike | None = None, *, per_category: int = 3, k: int = 6,
                 data_dir: str | os.PathLike | None = None) -> Path:
    """Write a run's results as one self-contained HTML file.

    Parameters
    ----------
    run : RunResult, str or path
        A result of :func:`catsel.run`, or the output folder of a finished run
        (read with :func:`catsel.load_run`).
    out : str or path, optional
        Where to write it (default: ``report.html`` in the run's folder).
    per_category : int, default 3
        Representative filters shown per category.
    k : int, default 6
        Top images shown per unit.
    data_dir : str or path, optional
        Where the images are now, when not where they were captured (see
        :func:`catsel.load_activations`).

    Returns
    -------
    Path
        The report file.
    """
    from .pipeline import RunResult, load_run
    from .verdict import (negative_excess_sentence, null_sentence, shuffles_sentence, significant_sentence,
                          verdict_sentences)

    result = run if isinstance(run, RunResult) else load_run(run, data_dir=data_dir)
    record, summary = result.record, result.summary
    out = Path(out) if out is not None else Path(result.out) / REPORT
    title = f"catsel: {record.get('model')}, {record.get('weights')}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    if not record.get("trained", True):
        parts.append('<p class="untrained">UNTRAINED NETWORK (random weights): a control, not the study\'s '
                     "result.</p>")
    counts = ", ".join(f"{html.escape(str(c))}: {n}" for c, n in record.get("images_per_category", {}).items())
    parts.append(f"<p>{sum(record.get('images_per_category', {}).values())} images ({counts}) from "
                 f"<code>{html.escape(str(record.get('data_dir')))}</code>, {html.escape(size_text(record.get('image_size')))}, "
                 f"{html.escape(str(record.get('index')))} index, selective above chance + "
                 f"{record.get('threshold')}; catsel {html.escape(str(record.get('catsel_version')))}, Keras "
                 f"{html.escape(str(record.get('keras_version')))} on {html.escape(str(record.get('keras_backend')))}."
                 "</p>")

    for finding in record.get("confounds") or []:  # low-level differences that could tell the categories apart
        parts.append(f'<p class="untrained">Confound: {html.escape(finding)}; a filter "selective" for it may answer '
                     "to that alone (compare with the low-level controls).</p>")
    parts.append("<h2>Figure 1: selective filters per layer</h2>")
    fig = result.figure()
    parts.append(_img(fig, "Figure 1: proportion of selective filters per layer"))
    verdict = verdict_sentences(summary)
    if verdict:
        parts.append("<h2>Verdict</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in verdict)
                     + "</ul>")
    for sentence in (shuffles_sentence(summary), null_sentence(summary), significant_sentence(summary),
                     negative_excess_sentence(summary)):
        if sentence:
            parts.append(f'<p class="note">{html.escape(sentence)}</p>')

    parts.append("<h2>Per layer</h2>")
    columns = [c for c in ("proportion", "null_proportion", "excess", "proportion_untrained", "proportion_significant",
                           "verdict") if c in summary]
    pivot = summary.pivot(index="layer", columns="category", values=columns)
    pivot.columns = [f"{c} {v}" if len(columns) > 1 else str(c) for v, c in pivot.columns]
    parts.append(pivot.map(lambda v: (v if isinstance(v, str) else f"{v:.1%}") if pd.notna(v) else "")
                 .to_html(border=0))

    parts += _brain_section(result)

    parts.append("<h2>Representative filters</h2>")
    parts += _representatives(result, per_category=per_category, k=k)

    parts.append("<h2>Statistics run</h2><ul>")
    shuffles = record.get("shuffles")
    done = {"shuffled-label null" + (f" ({shuffles} label shuffles)" if shuffles else ""): record.get("shuffled_null"),
            f"permutation test, {record.get('permutations')} permutations per test, {record.get('fdr')} FDR "
            f"at {record.get('alpha')}": record.get("permutations"),
            f"bootstrap intervals, {record.get('bootstrap')} resamples": record.get("bootstrap"),
            "split-half reliability and replication with their null": record.get("split_half"),
            "the same architecture untrained": record.get("null_baselines")}
    parts += [f"<li>{html.escape(text)}</li>" for text, ran in done.items() if ran]
    parts.append(f"<li>selective by: {html.escape(str(record.get('select_by')))}</li></ul>")

    skipped = result.skipped
    parts.append(f"<h2>Skipped files ({len(skipped)})</h2>")
    if skipped:
        parts.append("<ul>" + "".join(f"<li><code>{html.escape(s['path'])}</code>: {html.escape(s['reason'])}</li>"
                                      for s in skipped) + "</ul>")
    else:
        parts.append("<p>None: every image was read.</p>")
    parts.append("</body></html>")
    with atomic_write(out) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return out
