"""A run's choices, by stage: what the capture is made of, what is computed from it, and how it is written.

:class:`Settings` is what :func:`catsel.run` and ``catsel run`` take: given flat, as keywords of any stage
(``Settings(model="vgg19", threshold=0.05)``), it keeps them in three parts, each checked when made (one line
naming the option at fault): :class:`CaptureSettings` (the network, its input, how images are read and where
the capture runs: the store's key and record are made from these and the images only),
:class:`AnalysisSettings` (the selective rule, the nulls and the tests) and :class:`OutputSettings`.
``catsel run --help`` shows the options in the same groups. Every option is declared once, in
:mod:`catsel.study.declared`: the three parts, their documentation and checks, the command's flags and the
round trip through ``run.json`` are made from that declaration.
"""

from __future__ import annotations

from dataclasses import field, fields, make_dataclass, replace
from typing import Any

from ..errors import CatselError
from ..options import check_weights, named
from .declared import from_record, options_of, stage_docs
from .record import RunRecord

__all__ = ["Settings", "CaptureSettings", "AnalysisSettings", "OutputSettings"]


def _part(name: str, stage: str, summary: str, rules=()):
    """One part of :class:`Settings`: a frozen dataclass of its options (:mod:`catsel.study.declared`), each
    checked when made by its own check, then by the rules that join several of them."""
    options = options_of(stage)

    def __post_init__(self):
        for option in options:
            if option.check is not None:
                object.__setattr__(self, option.name, option.check(option.name, getattr(self, option.name)))
        for rule in rules:
            rule(self)

    cls = make_dataclass(name, [(o.name, Any, field(default=o.default)) for o in options], frozen=True,
                         namespace={"__post_init__": __post_init__})
    cls.__module__, cls.__qualname__ = __name__, name
    cls.__doc__ = f"{summary}\n\n{stage_docs(stage)}\n"
    return cls


def _weights_apply(part) -> None:
    check_weights(part.model, part.weights)  # a saved or in-memory model carries its own: never silently ignored


def _analysis_rules(part) -> None:
    if part.untrained_seeds != 1 and not part.null:
        raise CatselError(f"{named('untrained_seeds')} {part.untrained_seeds} sets how many untrained networks "
                          f"{named('null')} captures; add {named('null')}, or leave {named('untrained_seeds')} out")
    if part.select_by in ("q", "both") and not part.permutations:
        raise CatselError(f"{named('select_by')} {part.select_by} needs p-values: add {named('permutations')} N "
                          "(e.g. 1000)")
    if part.localizer is not None and (part.select_by != "threshold" or part.bootstrap or part.reliability):
        raise CatselError(f"{named('localizer')} chooses units by the threshold rule on its images; use it "
                          f"without {named('select_by')}, {named('bootstrap')} and {named('reliability')}")
    if part.select_by != "threshold" and (part.bootstrap or part.null):
        raise CatselError(f"{named('bootstrap')} and {named('null')} redo the threshold rule on resampled or "
                          f"shuffled data; use them with {named('select_by')} threshold (the default)")


CaptureSettings = _part("CaptureSettings", "capture", "What a capture is made of: the network, its input, how the "
                        "images are read, and where it runs.", (_weights_apply,))
AnalysisSettings = _part("AnalysisSettings", "analysis", "What is computed from a capture: the selective rule, the "
                         "nulls beside every count, and the tests.", (_analysis_rules,))
OutputSettings = _part("OutputSettings", "output", "How a run is written and shown.")


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
        """The settings of a run, from its record (``run.json``): each option from the field its declaration
        names (:func:`catsel.study.declared.from_record`).

        Parameters
        ----------
        record : RunRecord

        Returns
        -------
        Settings
        """
        return cls(**from_record(record))


def _settings(capture, analysis, output) -> Settings:
    return Settings(capture, analysis, output)
