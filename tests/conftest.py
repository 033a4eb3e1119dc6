import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """All four core ablations run once at the smoke preset: the results folder (CSVs, ERF maps, cost sweep)."""
    from segformer_lab.repo import load_experiment
    from segformer_lab.report import ablation_names
    from segformer_lab.runner import run_experiment
    root = tmp_path_factory.mktemp("smoke")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGFORMER_LAB_CACHE", str(root / "cache"))
        for name in ablation_names():
            run_experiment(load_experiment(name), "smoke", root / "results", root / "runs", progress=False)
    return root / "results"


@pytest.fixture
def cli_error(capsys):
    """Run the command line expecting a user error: exit status 2 and one line `segformer-lab: error: ...` on
    stderr, which it returns."""
    from segformer_lab.cli import main

    def run(argv: list) -> str:
        capsys.readouterr()
        assert main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("segformer-lab: error: ") and err.count("\n") == 1, err
        return err
    return run
