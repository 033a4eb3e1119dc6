"""The budget presets every experiment shares (smoke, quick, default, gpu), their seeds, and the seeds that 80 %
power needs: what an experiment file starts its PRESETS and SEEDS from."""
from __future__ import annotations

PRESETS = ("smoke", "quick", "default", "gpu")
SEEDS = {"smoke": (0,), "quick": (0,), "default": (0, 1, 2), "gpu": (0, 1, 2)}  # unless an experiment says
BUDGETS = {  # TrainConfig fields of each preset shared by the ablations
    "smoke": {"iterations": 2, "batch_size": 2, "train_scenes": 4, "val_scenes": 2, "warmup_iters": 1},
    # quick: every code path and every figure in minutes, not a test of the claims (the report says so)
    "quick": {"iterations": 20, "warmup_iters": 5, "val_scenes": 8},
    "default": {"iterations": 1000},
    # gpu: the default preset's 1000 steps and schedule with 8x its batch (64k images per run, as the first gpu plan's
    # 2000 x 32), the lr kept at the recipe's 6e-5 (the paper uses it at batch 8 and 16 alike and gives no rule for
    # more). The scenes sit on the GPU (loader "bank", drawn by 8 processes): the CPU-drawn samples fed an H200 at
    # 410 images/s. These small models are bound by kernel launches below batch 512 (MiT-B1 at 128 px: 45 ms a step
    # at batch 32 and at 128), so batch 64 costs about what 32 did and `run --jobs 4` packs four runs on one GPU.
    # Sized in docs/ablations.md ("The gpu preset"): the runs behind the claims not tested on the CPU, first.
    "gpu": {"iterations": 1000, "batch_size": 64, "loader": "bank", "num_workers": 8},
}


def standard_presets(**additions) -> dict:
    """The shared budgets with an experiment's additions per preset, e.g. smoke={"model": "segformer_tiny"}."""
    unknown = sorted(set(additions) - set(PRESETS))
    if unknown:
        raise ValueError(f"unknown preset(s) {unknown}; expected {PRESETS}")
    return {name: {**budget, **additions.get(name, {})} for name, budget in BUDGETS.items()}


def powered_seeds(needed: dict, variants, presets=("gpu",)) -> tuple[dict, dict]:
    """(SEEDS, VARIANT_SEEDS) for an experiment whose `presets` run the seeds its inconclusive claims need at 80 %
    power (the report's "about N seeds would settle the observed effect"): each variant in `needed` at that many
    seeds, every other variant at the preset's usual seeds."""
    return ({**SEEDS, **{p: tuple(range(max(len(SEEDS[p]), *needed.values()))) for p in presets}},
            {p: {v: tuple(range(needed.get(v, len(SEEDS[p])))) for v in variants} for p in presets})


