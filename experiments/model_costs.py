"""Model costs beside the paper's Table 1: parameters and FLOPs at 512x512 for MiT-B0..B5 and the baselines.

Declared as data: RUNS maps a run name to (variant, config overrides, the paper's row in
results/paper_reference.csv). `main()` writes one row per run to results/model_costs.csv and prints the
comparison. Our `gmacs` follow the paper's convention (1 per multiply-accumulate); `gflops` are
torch.utils.flop_counter's (2 per multiply-accumulate).
"""
from __future__ import annotations

import torch

from segformer_lab import build_model
from segformer_lab.cost import count_flops, count_params, peak_memory
from segformer_lab.results import provenance, read_paper_reference, write_csv

EXPERIMENT = "model_costs"
SIZE = 512
NUM_CLASSES = 150  # ADE20K, as in Table 1
RUNS = {  # run -> (variant, config overrides, input side, the paper's row: (table, model[, setting]))
    **{f"segformer_{b}": (f"segformer_{b}", {}, SIZE, ("1a", f"segformer_{b}")) for b in ("b0", "b1", "b2", "b3", "b4")},
    "segformer_b5": ("segformer_b5", {}, SIZE, ("1a", "segformer_b5")),
    # The released B5 ADE20K model trains and tests on 640x640 crops.
    "segformer_b5_640": ("segformer_b5", {}, 640, ("1a", "segformer_b5")),
    "segformer_b2_s4": ("segformer_b2", {"decoder_stages": (4,)}, SIZE, ("1d", "segformer_b2", "S4")),
    "segformer_b2_s4_nofuse": ("segformer_b2", {"decoder_stages": (4,), "decoder_fuse": False}, SIZE,
                               ("1d", "segformer_b2", "S4")),
    "resnet50_mlp": ("resnet50_mlp", {}, SIZE, ("1d", "resnet50_mlp", "S1-4")),
    "resnet50_mlp_deepstem": ("resnet50_mlp", {"deep_stem": True}, SIZE, ("1d", "resnet50_mlp", "S1-4")),
    "resnet101_mlp": ("resnet101_mlp", {}, SIZE, ("1d", "resnet101_mlp", "S1-4")),
    "resnet101_mlp_deepstem": ("resnet101_mlp", {"deep_stem": True}, SIZE, ("1d", "resnet101_mlp", "S1-4")),
    "deeplabv3_r50": ("deeplabv3_r50", {}, SIZE, None),
    "setr_pup_vit_l": ("setr_pup_vit_l", {}, SIZE, ("2", "setr_pup_vit_l")),
}
COLUMNS = [  # one row per run: identity, config, costs, provenance
"experiment", "run", "variant", "overrides", "height", "width", "params", "encoder_params",
           "decoder_params", "gmacs", "gflops", "peak_mem_mb", "mem_method",
           "git_commit", "torch_version", "device", "date"]


def paper_value(reference: list, key, metric: str):
    """The paper's number for (table, model[, setting]) and metric, or None."""
    if key is None:
        return None
    for row in reference:
        if (row["table"], row["model"]) == key[:2] and row["metric"] == metric and \
                (len(key) < 3 or row["setting"] == key[2]):
            return row["value"]
    return None


def measure(run: str) -> dict:
    variant, overrides, size, _ = RUNS[run]
    torch.manual_seed(0)
    model = build_model(variant, NUM_CLASSES, **overrides)
    flops = count_flops(model, size)
    mem = peak_memory(model, size)
    return {"experiment": EXPERIMENT, "run": run, "variant": variant, "overrides": repr(overrides),
            "height": size, "width": size, **count_params(model), "gmacs": flops["macs"] / 1e9,
            "gflops": flops["flops"] / 1e9, "peak_mem_mb": mem["peak_bytes"] / 2**20,
            "mem_method": mem["method"], **provenance("cpu")}


def main(out="results/model_costs.csv") -> list:
    reference = read_paper_reference()
    rows = []
    print(f"{'run':22s} {'params M':>9s} {'paper':>6s} {'enc M':>7s} {'paper':>6s} {'GMACs':>8s} {'paper':>7s} {'ratio':>6s}")
    for run in RUNS:
        row = measure(run)
        rows.append(row)
        key = RUNS[run][3]
        p_params, p_enc, p_macs = (paper_value(reference, key, m) for m in ("params", "encoder_params", "gmacs"))
        ratio = row["gmacs"] / p_macs if p_macs else float("nan")
        fmt = lambda v, spec: format(v, spec) if v is not None else "-"
        print(f"{run:22s} {row['params'] / 1e6:9.2f} {fmt(p_params, '6.1f'):>6s} {row['encoder_params'] / 1e6:7.2f} "
              f"{fmt(p_enc, '6.1f'):>6s} {row['gmacs']:8.2f} {fmt(p_macs, '7.1f'):>7s} {ratio:6.3f}")
    write_csv(out, rows, COLUMNS)
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
