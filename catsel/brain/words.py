"""The sentences of a brain comparison: what the printout and the report say, read from its table alone."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["brain_sentences"]


def _number(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3f}"


def _layers(names) -> str:
    names = [str(n) for n in names]
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "") if names else "none"


def brain_sentences(table: pd.DataFrame, level: float = 0.05) -> list[str]:
    """One sentence per target: the closest layer, the ceiling, the untrained twin, selective against random.

    Parameters
    ----------
    table : DataFrame
        From :func:`catsel.brain.compare_brain`.
    level : float, default 0.05
        The false-discovery rate the verdicts were made at.

    Returns
    -------
    list of str
    """
    out = []
    trained = table[(table["network"] == "trained") & (table["units"] == "all")]
    for analysis, kind in (("rsa", "RDM"), ("encoding", "encoding")):
        rows = trained[trained["analysis"] == analysis]
        targets = ["brain"] if analysis == "rsa" else list(dict.fromkeys(rows["target"]))
        for target in targets:
            part = rows[rows["target"] == target]
            if not len(part) or not part["value"].notna().any():
                continue
            best = part.loc[part["value"].idxmax()]
            label = "brain RDM" if analysis == "rsa" else f"region {target}"
            text = (f"{label}: closest layer {best['layer']} ({best['measure']} {_number(best['value'])}, 95% "
                    f"interval {_number(best['low'])} to {_number(best['high'])})")
            if analysis == "rsa" and np.isfinite(best["ceiling_low"]):
                text += (f"; noise ceiling {_number(best['ceiling_low'])} to {_number(best['ceiling_high'])}"
                         + (", reached" if best["value"] >= best["ceiling_low"] else ""))
                if best["value"] > best["ceiling_high"]:
                    text += (", and ABOVE its upper bound: more than the brain data's own reliability allows; check "
                             "the ceiling (too few subjects or repetitions?) and that the RDMs are the ones meant")
            elif analysis == "encoding" and np.isfinite(best["ceiling_high"]):
                text += f"; {best['normalised']:.0%} of its noise ceiling ({_number(best['ceiling_high'])})"
            if "beats_untrained" in part and part["beats_untrained"].notna().any():
                beats = part[part["beats_untrained"] == True]["layer"]  # noqa: E712 (NaN: no twin)
                not_beats = part[part["beats_untrained"] == False]["layer"]  # noqa: E712
                text += (f"; beyond the untrained twin's (paired bootstrap, q <= {level:g} over the layers) in "
                         + (_layers(beats) if len(beats) else "no layer")
                         + (f"; not in {_layers(not_beats)}" if len(not_beats) else ""))
            out.append(text + ".")
        if analysis == "rsa":
            models = rows[rows["target"] != "brain"]
            if len(models):
                best = models.loc[models.groupby("target", sort=False)["value"].idxmax()]
                out.append("Category models, closest layers: " + "; ".join(
                    f"{r['target']} {r['layer']} ({_number(r['value'])})" for _, r in best.iterrows()) + ".")
    chosen = table[table["units"].astype(str).str.startswith("selective: ")]
    for _, r in chosen.iterrows():
        what = "brain RDM" if r["analysis"] == "rsa" else f"region {r['target']}"
        verdict = "beyond random units" if r["beats_random"] == True else "within random units"  # noqa: E712
        out.append(f"{r['units'].split(': ', 1)[1]} units of {r['layer']} against {what} ({int(r['n_units'])} units "
                   f"chosen on the {r['selection']}, {int(r['n_images'])} images): {_number(r['value'])} against "
                   f"random sets' mean {_number(r['random_mean'])} (95th percentile {_number(r['random_95'])}), "
                   f"p = {r['p']:.3g}, q = {r['q']:.3g} over the {int((chosen['analysis'] == r['analysis']).sum())} "
                   f"tests: {verdict}.")
    return out
