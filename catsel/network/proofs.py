"""What a check of a network's capture found (framework-free): the record :mod:`catsel.network.torch.proof` and
:mod:`catsel.network.keras.proof` fill, and ``benchmarks/zoo.py`` tabulates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Proof", "check_values", "check_fields_and_listing"]


@dataclass
class Proof:
    """What :func:`prove` found for one network.

    Attributes
    ----------
    layers : int
        Default layers.
    rule, values, fields, listed : list of str
        The problems found by each check (empty: passed).
    computed, measured, without : int
        Map layers whose receptive field was computed, measured, or is not known.
    worst : float
        The largest relative difference between catsel's maxima and the plain forward pass's.
    capture_s, plain_s : float
        Seconds for catsel's capture of the batch and for a plain forward pass of it.
    """

    layers: int = 0
    rule: list = field(default_factory=list)
    values: list = field(default_factory=list)
    fields: list = field(default_factory=list)
    listed: list = field(default_factory=list)
    computed: int = 0
    measured: int = 0
    without: int = 0
    worst: float = 0.0
    capture_s: float = float("nan")
    plain_s: float = float("nan")

    @property
    def passed(self) -> bool:
        """Whether all four checks passed."""
        return not (self.rule or self.values or self.fields or self.listed)

    def reason(self) -> str:
        """The first problem, in one line ("" when it passed)."""
        for kind in ("rule", "values", "fields", "listed"):
            found = getattr(self, kind)
            if found:
                return f"({kind}) {found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
        return ""


def check_values(proof: Proof, layers, maxima: dict, positions: dict, plain: dict, tolerance: float) -> None:
    """Check (b): catsel's maxima, and the value at catsel's position, against a plain forward pass's outputs.

    Parameters
    ----------
    proof : Proof
        Filled in place (``values``, ``worst``).
    layers : sequence of str
    maxima, positions : dict of str to ndarray
        catsel's, (batch, units).
    plain : dict of str to ndarray
        The plain forward pass's: (batch, positions, units), or (batch, units) for a vector.
    tolerance : float
        Relative to the layer's largest absolute value.
    """
    for name in layers:
        ref = np.asarray(plain[name], dtype=np.float64)
        got = np.asarray(maxima[name], dtype=np.float64)
        scale = max(float(np.abs(ref).max()), 1e-12)
        if ref.ndim == 2:
            diff = float(np.abs(got - ref).max()) / scale
        else:
            best = ref.max(axis=1)
            diff = float(np.abs(got - best).max()) / scale
            at = np.asarray(positions[name]).astype(np.int64)
            if at.min() < 0 or at.max() >= ref.shape[1]:
                proof.values.append(f"{name}: a position outside its {ref.shape[1]} positions")
                continue
            picked = np.take_along_axis(ref, at[:, None, :], axis=1)[:, 0]
            diff = max(diff, float(np.abs(picked - best).max()) / scale)
        proof.worst = max(proof.worst, diff)
        if not diff <= tolerance:
            proof.values.append(f"{name}: maxima differ from a plain forward pass by {diff:.2g} of its range")


def check_fields_and_listing(proof: Proof, network) -> None:
    """Checks (c) and (d): each map layer's receptive field computed, measured or none; ``catsel.layers``
    lists each default as a default.

    Parameters
    ----------
    proof : Proof
        Filled in place.
    network : Network
    """
    from .models import layers as list_layers

    for name in network.layers:
        shape = network.map_shapes[name]
        if shape is None or len(shape) != 2:
            continue
        found = network._field(name)
        if found is None:
            proof.without += 1
        elif found.get("measured"):
            proof.measured += 1
        else:
            proof.computed += 1
    table = list_layers(network)
    listed = set(table.loc[table["default"], "layer"])
    proof.listed = [f"{name} is not listed as a default by catsel.layers" for name in network.layers
                    if name not in listed]
