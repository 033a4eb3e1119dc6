import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """All four core ablations run once at the smoke preset: the results folder (CSVs, ERF maps, cost sweep)."""
    from segformer_lab.cli import load_experiment
    from segformer_lab.report import ABLATIONS
    from segformer_lab.runner import run_experiment
    root = tmp_path_factory.mktemp("smoke")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGFORMER_LAB_CACHE", str(root / "cache"))
        for name in ABLATIONS:
            run_experiment(load_experiment(name), "smoke", root / "results", root / "runs", progress=False)
    return root / "results"
