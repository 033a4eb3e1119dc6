"""What an experiment file declares: one typed object, checked when the file is loaded.

An `Experiment` is a sweep of runs declared as data: a base TrainConfig, named variants (the fields each
replaces), the fields each preset replaces, seeds, extra evaluations and measurements. The runner trains it and
writes one CSV row per run. An `Ablation` is an experiment that tests claims of the paper: beside its runs it
declares its title, its place in the report, the function that computes its claims, its figures and the display
names of its variants. A `Script` is a study that is not a sweep of trained runs (the pretraining grid, the
released models a user holds): `run` calls its `run`.

A field that is missing, unknown or of the wrong type raises TypeError when the object is built, naming the
field; the loader (`repo.load_experiment`) adds the file's path.
"""
from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields

from . import names
from .engine import TrainConfig
from .presets import PRESETS, SEEDS


@dataclass(frozen=True, kw_only=True)
class Display:
    """The words a reader sees for an ablation's ids (segformer_lab.names): variant parts ("mixffn" -> "Mix-FFN"),
    qualifiers after them ("fine" -> "36 fine classes"), test settings, and id patterns with a number in them
    (a compiled regex and a function of its match)."""

    parts: Mapping[str, str] = field(default_factory=dict)
    qualifiers: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    patterns: Sequence[tuple] = ()

    def __post_init__(self):
        check_types(self)


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """A sweep of training runs (see segformer_lab.runner)."""

    name: str  # the file's stem; the CSV is results/<name>.csv
    base: TrainConfig
    variants: Mapping[str, Mapping]  # {variant id: TrainConfig fields it replaces}
    presets: Mapping[str, Mapping]  # {preset: TrainConfig fields it replaces} (presets.standard_presets)
    preset_variants: Mapping[str, Sequence[str]] = field(default_factory=dict)  # {preset: variants it runs}
    seeds: Mapping[str, Sequence[int]] = field(default_factory=lambda: dict(SEEDS))  # {preset: seeds}
    variant_seeds: Mapping[str, Mapping[str, Sequence[int]]] = field(default_factory=dict)  # fewer for some
    evals: Mapping[str, Mapping] = field(default_factory=dict)  # {name: evaluate_run keyword arguments}
    extra_columns: Sequence[str] = ()  # columns of extra_metrics or condition_rows
    priority: Sequence[str] = ()  # variant patterns trained first under `run --time-budget`
    extra_metrics: Callable | None = None  # (run_dir, cfg, results_dir) -> {column: value}
    condition_rows: Callable | None = None  # (run_dir, cfg, preset, runs_dir) -> [{column: value}], a row each
    analysis: Callable | None = None  # (results_dir, preset, runs_dir) -> None, after the runs

    def __post_init__(self):
        check_types(self)
        missing = sorted(set(PRESETS) - set(self.presets))
        if missing:
            raise TypeError(f"presets: no entry for {', '.join(missing)}; expected one per preset {PRESETS}")
        for preset, planned in self.preset_variants.items():
            unknown = sorted(set(planned) - set(self.variants))
            if unknown:
                raise TypeError(f"preset_variants[{preset!r}]: unknown variant(s) {unknown}")


@dataclass(frozen=True, kw_only=True)
class Ablation(Experiment):
    """An experiment that tests the paper's claims: its runs, and how the report and notebooks show them."""

    title: str  # the report's heading
    order: int  # its place in the report (the paper's order)
    claims: Callable  # (section, results_dir, paper) -> None: fills the report Section's claims, tables, notes
    figures: Mapping[str, Callable]  # {view: (results_dir, preset) -> Figure | None}; "" is the key figure
    display: Display = field(default_factory=Display)
    caption: str = ""  # what its table holds, where not "mean over seeds (seed range)" alone
    deviations: Sequence = ()  # declared.Deviation: changes made after rows it judges existed

    def __post_init__(self):
        super().__post_init__()
        if "" not in self.figures:
            raise TypeError("figures: no key figure (the entry \"\")")
        names.declare(self.display)


@dataclass(frozen=True, kw_only=True)
class Script:
    """A study that is not a sweep of trained runs (a grid of pretrainings, a count of costs, the models a user
    holds): `segformer-lab run <name>` calls run(results=, runs=, preset=, config=, progress=) and prints what it
    returns (e.g. the file it wrote)."""

    name: str
    run: Callable  # (results, runs, preset, config, progress) -> what it wrote

    def __post_init__(self):
        check_types(self)


def check_types(obj) -> None:
    """Raise TypeError naming the first field of a dataclass whose value is not of its annotated type (checked
    to the outer type: a Mapping, a Sequence, a callable, a str, an int, a TrainConfig)."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        value, expected = getattr(obj, f.name), outer_types(hints[f.name])
        if not isinstance(value, expected):
            wanted = " or ".join(t.__name__ for t in expected)
            raise TypeError(f"field {f.name}: expected {wanted}, got {type(value).__name__} {value!r:.60}")


def outer_types(hint) -> tuple:
    """The classes an annotation admits at its outer level: Mapping[str, str] -> (Mapping,)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for arg in typing.get_args(hint) for t in outer_types(arg))
    if hint is None or hint is type(None):
        return (type(None),)
    if origin is Callable or hint is Callable:
        return (Callable,)
    if origin is not None:
        return (origin,)
    return (hint,) if isinstance(hint, type) else (object,)
