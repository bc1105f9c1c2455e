"""What a check of a network's capture found (framework-free): the record :mod:`catsel.network.torch.proof` and
:mod:`catsel.network.keras.proof` fill, and ``benchmarks/zoo.py`` tabulates."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Proof"]


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
