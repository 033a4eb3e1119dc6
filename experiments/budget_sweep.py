"""Does the CNN's lead in Table 1d shrink with the training budget? MiT-B1 against ResNet-18, both with the same
MLP decoder (C = 256) and the embedded pretraining, at several budgets.

The paper trains 160k iterations at batch 16 on ADE20K (80k at batch 8 on Cityscapes); our default runs 1000 at
batch 8. A Transformer is known to need more data and steps than a CNN before it catches up, so the gap
between them at one small budget may say more about the budget than about the decoder. This sweep measures the
MiT-B1 minus ResNet-18 gap at 250, 1000 and 2000 iterations at 128 px, and at 256 px crops (and views) for
1000 iterations, starting from the 128 px pretraining (as the paper's 512 px training starts from weights made
on 224 px ImageNet crops). The 1000-iteration 128 px runs are decoder_vs_cnn's (the same configs, reused when their run
directories are at hand); the points beyond the default budget run one seed and are judged against the
spread of the 3-seed default runs. The gpu preset (batch 64, 128 px as the experiments beside decoder_vs_cnn;
decoder_vs_cnn's own gpu runs are at 256 px) runs 1000 and 2000 iterations (3 seeds), 1000 at 256 px (3 seeds)
and 8000 (one seed).
Its claims and figure are Table 1d's (experiments/decoder_vs_cnn.py: `budget_claims`, `budget_table`, the figure
decoder_vs_cnn.budget).
"""
from segformer_lab.ablation import Experiment
from segformer_lab.repo import load_experiment, load_module

DECODER_VS_CNN = load_experiment("decoder_vs_cnn")
BASE = DECODER_VS_CNN.base  # pretrained with each family's recipe
ENCODERS = {name: DECODER_VS_CNN.variants[f"{name}_pretrained"] for name in ("mit_b1", "resnet18_mlp")}
BUDGETS = {  # TrainConfig fields of each budget point
    "i250": {"iterations": 250},
    "i1000": {"iterations": 1000},  # at the default preset: decoder_vs_cnn's default runs
    "i2000": {"iterations": 2000},
    # 256 px crops from the 128 px pretraining, as the paper's 512 px training starts from 224 px ImageNet weights
    "i1000_256px": {"iterations": 1000, "crop_size": 256, "val_canvas": [256, 256], "pretrain_crop": 128},
    "i8000": {"iterations": 8000},
}
VARIANTS = {f"{enc}_{budget}": {**fields, **BUDGETS[budget]} for enc, fields in ENCODERS.items()
            for budget in BUDGETS}
# decoder_vs_cnn's presets at 128 px; smoke: 64 px crops, batch 2; the points set their own iterations
PRESETS = load_module("decoder_vs_cnn").SHARED_PRESETS
PRESET_VARIANTS = {
    "smoke": [f"{enc}_i250" for enc in ENCODERS],
    "quick": [f"{enc}_i250" for enc in ENCODERS],
    "default": [f"{enc}_{b}" for enc in ENCODERS for b in ("i250", "i1000", "i2000", "i1000_256px")],
    # i1000_256px: the runs behind Table 1d's encoder claim, first in a sitting
    "gpu": [f"{enc}_{b}" for enc in ENCODERS for b in ("i1000_256px", "i1000", "i2000", "i8000")],
}
# Behind Table 1d's encoder claim (a crop wider than the CNN's reach), not tested at the 128 px crop: trained first
# under `run --time-budget`.
PRIORITY = ["*_i1000_256px"]
# The 256 px points stand behind Table 1d's encoder claim: 3 seeds, as a judged comparison needs (one seed is not
# judged); i2000 stays one seed, a record beside the verdict.
VARIANT_SEEDS = {"default": {f"{enc}_i2000": (0,) for enc in ENCODERS},
                 "gpu": {f"{enc}_i8000": (0,) for enc in ENCODERS}}


EXPERIMENT = Experiment(
    name="budget_sweep", base=BASE, variants=VARIANTS, presets=PRESETS, preset_variants=PRESET_VARIANTS,
    variant_seeds=VARIANT_SEEDS, priority=PRIORITY,
)
