"""Where the repository's experiments live, and the one loader of them: the command line, the runner, the report,
the figures and the notebooks reach an experiment through `load_experiment`, and the experiment files reach each
other through it (e.g. erf.py reuses decoder_vs_cnn's runs). The package imports no experiment file by name.

An experiment file declares one typed object (segformer_lab.ablation: an Ablation, an Experiment or a Script);
the loader finds it, and a file that declares none, several, or one with a wrong field raises ValueError naming
the file.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .ablation import Ablation, Experiment, Script

DECLARED = (Ablation, Experiment, Script)
LOADED: dict = {}  # {path: (modification time, module)}: each file executed once while it is unchanged


def repo_root() -> Path:
    """The repository holding `experiments/` and `results/`: the package's parent in a source checkout,
    otherwise the current directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "experiments").is_dir() else Path.cwd()


def experiments_dir() -> Path:
    return repo_root() / "experiments"


def experiment_names(folder: Path | None = None) -> list:
    """The experiments of the repository (or of `folder`): the stems of experiments/*.py, helpers (a leading
    underscore) left out."""
    folder = experiments_dir() if folder is None else Path(folder)
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def load_module(name: str, folder: Path | None = None):
    """The module of `experiments/<name>.py` (or of `<folder>/<name>.py`), executed once while the file is
    unchanged; an unknown name raises ValueError listing the experiments."""
    folder = experiments_dir() if folder is None else Path(folder)
    path = folder / f"{name}.py"
    if not path.is_file():
        raise ValueError(f"no experiment {name!r} ({path}); experiments: "
                         f"{', '.join(experiment_names(folder)) or 'none'}")
    stamp = path.stat().st_mtime_ns
    if path in LOADED and LOADED[path][0] == stamp:
        return LOADED[path][1]
    spec = importlib.util.spec_from_file_location(f"experiments.{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except TypeError as e:  # a declaration with a missing, unknown or mistyped field
        raise ValueError(f"{path}: {e}") from None
    LOADED[path] = (stamp, module)
    return module


def load_experiment(name: str, folder: Path | None = None):
    """The object `experiments/<name>.py` declares (an Ablation, Experiment or Script)."""
    module = load_module(name, folder)
    found = [v for v in vars(module).values() if isinstance(v, DECLARED) and v.name == name]
    if len(found) != 1:
        raise ValueError(f"{module.__file__}: expected one declaration (Ablation, Experiment or Script) named "
                         f"{name!r}, found {len(found)}")
    return found[0]


def source_of(declared) -> Path | None:
    """The file whose loading declared `declared` (an Ablation, Experiment or Script), or None for one made in code."""
    return next((path for path, (_, module) in LOADED.items() if any(v is declared for v in vars(module).values())),
                None)


def ablations(folder: Path | None = None) -> list:
    """Every Ablation of experiments/ (or of `folder`), in report order."""
    found = [e for e in (load_experiment(n, folder) for n in experiment_names(folder)) if isinstance(e, Ablation)]
    return sorted(found, key=lambda a: (a.order, a.name))


def ablation(name: str, folder: Path | None = None) -> Ablation:
    """The Ablation named `name`; ValueError when it is not one (or not found)."""
    found = load_experiment(name, folder)
    if not isinstance(found, Ablation):
        raise ValueError(f"{name!r} is not an ablation; ablations: {', '.join(a.name for a in ablations(folder))}")
    return found
