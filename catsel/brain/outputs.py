"""A brain comparison's outputs as a record: ``brain.csv`` and ``brain.png``, then ``brain.json`` holding what was
compared, the capture's key, the selection rule and each file's SHA-256 (as ``run.json`` keeps its tables').

A report shows a comparison only when it is this run's (the same capture and rule) and its table is the bytes
``catsel brain`` wrote; an edited table, or a damaged record, is left out with one line saying why.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import pandas as pd

from ..errors import BrainDataError
from .analysis import COLUMNS, BrainResult

__all__ = ["write_brain", "read_brain", "OUTPUTS"]

#: The files ``catsel brain`` writes beside its record, whose digests ``brain.json`` keeps.
OUTPUTS = ("brain.csv", "brain.png")


def write_brain(result: BrainResult, out, request: dict | None = None) -> tuple:
    """Write ``brain.csv``, ``brain.png`` and ``brain.json`` (what was compared, with the capture's key and each
    file's SHA-256).

    Each file is written under a temporary name and renamed; ``brain.json``
    goes last, so a report never shows a table without its record.

    Parameters
    ----------
    result : BrainResult
    out : str or path
        A folder (made when missing).
    request : dict, optional
        What the command was asked, with its inputs' identities: the same
        request made again reuses these outputs while they are intact
        (the command checks the record first).

    Returns
    -------
    (Path, Path)
        The table and the figure.
    """
    from ..store import atomic_write, output_digests

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv, png, record = out / "brain.csv", out / "brain.png", out / "brain.json"
    record.unlink(missing_ok=True)
    with atomic_write(csv) as tmp:
        result.table.to_csv(tmp, index=False)
    figure = result.display().plot().figure_
    with atomic_write(png) as tmp:
        figure.savefig(tmp, dpi=120, format="png")
    with atomic_write(record) as tmp:
        tmp.write_text(json.dumps({**result.record, "model_label": result.model_label, "trained": result.trained,
                                   "request": request, "files": output_digests(out, OUTPUTS)}, indent=2,
                                  default=str),
                       encoding="utf-8")
    return csv, png


def _level(record: dict, path: Path) -> float:
    level = record.get("level", 0.05)
    if level is None:
        return 0.05
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise BrainDataError(f"{path} is damaged (its level is {level!r}, not a number between 0 and 1): rerun "
                             "`catsel brain` to write it again")
    return float(level)


def read_brain(folder, store_key: str | None = None, rule: dict | None = None) -> BrainResult | None:
    """The brain comparison written into ``folder`` by :func:`write_brain`, if it belongs to this run.

    Parameters
    ----------
    folder : str or path
        A run folder.
    store_key : str, optional
        The run's capture key: a comparison of another capture is not this
        run's (None: not checked).
    rule : dict, optional
        The run's :func:`selection_rule`: a comparison whose selective units
        were chosen by another rule is not this run's (None: not checked).

    Returns
    -------
    BrainResult or None
        None when there is none, or when it was made from another capture
        or another rule.

    Raises
    ------
    BrainDataError
        One line: ``brain.json`` is damaged, or ``brain.csv`` is not the
        table it records (edited or replaced since), or the record keeps no
        digest of it (written before records kept them).
    """
    from ..paths import inside
    from ..store import changed_outputs

    record_file = inside(folder, "brain.json", what="brain record")
    table_file = inside(folder, "brain.csv", what="brain table")
    if not record_file.is_file():
        return None
    rerun = "rerun `catsel brain` to write it again"
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as exc:
        raise BrainDataError(f"{record_file} cannot be read ({type(exc).__name__}): the record is damaged; "
                             f"{rerun}") from None
    if not isinstance(record, dict):
        raise BrainDataError(f"{record_file} does not hold a record: {rerun}")
    if (store_key is not None and record.get("store_key") != store_key) or \
            (rule is not None and record.get("rule") != rule):
        return None  # another capture's or another rule's comparison
    level = _level(record, record_file)
    changed = changed_outputs(Path(folder), record.get("files"), ("brain.csv",))
    if changed:
        why = ("keeps no digest of it (written by an older catsel)" if not isinstance(record.get("files"), dict)
               else "records other bytes: it was edited or replaced after `catsel brain` wrote it")
        raise BrainDataError(f"{table_file} is left out: {record_file.name} {why}; {rerun}")
    try:
        table = pd.read_csv(table_file, dtype={"layer": str})  # a layer "1" stays a name
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise BrainDataError(f"{table_file} cannot be read ({str(exc).splitlines()[0][:80]}): {rerun}") from None
    if not set(COLUMNS) <= set(table.columns):
        raise BrainDataError(f"{table_file} lacks the columns of a brain table: {rerun}")
    table["layer"] = pd.Categorical(table["layer"], categories=list(dict.fromkeys(table["layer"])), ordered=True)
    from .words import brain_sentences

    return BrainResult(table, brain_sentences(table, level), str(record.get("model_label") or ""),
                       record.get("trained"), record)
