"""Where the repository's experiments live, and loading one: shared by the command line, the runner, the report
and the experiment files themselves (which load each other, e.g. erf.py reuses decoder_vs_cnn's runs)."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def repo_root() -> Path:
    """The repository holding `experiments/` and `results/`: the package's parent in a source checkout,
    otherwise the current directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "experiments").is_dir() else Path.cwd()


def experiment_names() -> list:
    """The experiments of the repository: the stems of experiments/*.py."""
    return sorted(p.stem for p in (repo_root() / "experiments").glob("*.py") if not p.stem.startswith("_"))


def load_experiment(name: str):
    """Import `experiments/<name>.py` of the repository as a module; an unknown name raises ValueError listing
    the experiments."""
    path = repo_root() / "experiments" / f"{name}.py"
    if not path.is_file():
        raise ValueError(f"no experiment {name!r} ({path}); experiments: {', '.join(experiment_names()) or 'none'}")
    spec = importlib.util.spec_from_file_location(f"experiments.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
