"""Model costs beside the paper's Table 1: parameters and FLOPs of MiT-B0..B5 and the baselines.

Declared as data: RUNS maps a run name to its variant, config overrides, input size, classes and the paper's
row in results/paper_reference.csv (table, model, setting prefix). `main()` writes one row per run to
results/model_costs.csv and prints the comparison. `gmacs` follow the paper's convention (1 per
multiply-accumulate); `gflops` are torch.utils.flop_counter's (2 per multiply-accumulate). Runs larger than
1024x1024 are counted on the meta device (shapes only, no arithmetic), so their peak memory is left empty.
"""
from __future__ import annotations

from pathlib import Path

import torch

from segformer_lab import build_model
from segformer_lab.ablation import Script
from segformer_lab.cost import count_flops, count_params, peak_memory
from segformer_lab.analysis import read_paper
from segformer_lab.results import provenance, write_csv

ADE, CITY = (512, 512), (1024, 2048)
SIZES = ("b0", "b1", "b2", "b3", "b4", "b5")


def run(variant, paper, size=ADE, num_classes=150, **overrides) -> dict:
    return dict(variant=variant, paper=paper, size=size, num_classes=num_classes, overrides=overrides)


RUNS = {
    **{f"segformer_{b}": run(f"segformer_{b}", ("1a", f"segformer_{b}", "ADE20K")) for b in SIZES},
    # The released B5 ADE20K model trains and tests on 640x640 crops.
    "segformer_b5_640": run("segformer_b5", ("1a", "segformer_b5", "ADE20K"), size=(640, 640)),
    # Cityscapes (19 classes) at 1024x2048, and the same with a 150-class head.
    **{f"segformer_{b}_city": run(f"segformer_{b}", ("1a", f"segformer_{b}", "Cityscapes"), CITY, 19) for b in SIZES},
    **{f"segformer_{b}_city_150cls": run(f"segformer_{b}", ("1a", f"segformer_{b}", "Cityscapes"), CITY, 150)
       for b in SIZES},
    # Table 1d: the MLP decoder on stage 4 only, with and without its fuse layer.
    "segformer_b2_s4": run("segformer_b2", ("1d", "segformer_b2", "S4"), decoder_stages=(4,)),
    "segformer_b2_s4_nofuse": run("segformer_b2", ("1d", "segformer_b2", "S4"), decoder_stages=(4,),
                                  decoder_fuse=False),
    # Table 1d's CNN encoders, with torchvision's stem and with mmseg's ResNetV1c stem.
    **{f"resnet{d}_mlp{tag}": run(f"resnet{d}_mlp", ("1d", f"resnet{d}_mlp", "S1-4"), deep_stem=deep)
       for d in (50, 101) for tag, deep in (("", False), ("_deepstem", True))},
    "deeplabv3_r50": run("deeplabv3_r50", None),
    "setr_pup_vit_l": run("setr_pup_vit_l", ("2", "setr_pup_vit_l", "ADE20K")),
}
COLUMNS = [  # one row per run: identity, config, costs, provenance
    "experiment", "run", "variant", "overrides", "num_classes", "height", "width", "params", "encoder_params",
    "decoder_params", "gmacs", "gflops", "peak_mem_mb", "mem_method", "git_commit", "torch_version", "device", "cpu_model", "date"]


def paper_value(reference: list, key, metric: str):
    """The paper's number for (table, model, setting prefix) and metric, or None."""
    if key is None:
        return None
    table, model, setting = key
    for row in reference:
        if (row["table"], row["model"], row["metric"]) == (table, model, metric) and row["setting"].startswith(setting):
            return row["value"]
    return None


def measure(name: str) -> dict:
    spec = RUNS[name]
    h, w = spec["size"]
    on_meta = h * w > 1024 * 1024
    torch.manual_seed(0)
    with torch.device("meta" if on_meta else "cpu"):
        model = build_model(spec["variant"], spec["num_classes"], **spec["overrides"])
    flops = count_flops(model, (h, w))
    mem = {"peak_bytes": float("nan"), "method": ""} if on_meta else peak_memory(model, (h, w))
    return {"experiment": "model_costs", "run": name, "variant": spec["variant"], "overrides": repr(spec["overrides"]),
            "num_classes": spec["num_classes"], "height": h, "width": w, **count_params(model),
            "gmacs": flops["macs"] / 1e9, "gflops": flops["flops"] / 1e9, "peak_mem_mb": mem["peak_bytes"] / 2**20,
            "mem_method": mem["method"], **provenance("cpu")}


def main(out="results/model_costs.csv") -> list:
    reference = read_paper().to_dict("records")
    rows = []
    print(f"{'run':26s} {'size':>9s} {'params M':>9s} {'paper':>6s} {'enc M':>7s} {'paper':>6s} "
          f"{'GMACs':>8s} {'paper':>7s} {'ratio':>6s}")
    for name in RUNS:
        row = measure(name)
        rows.append(row)
        key = RUNS[name]["paper"]
        p_params, p_enc, p_macs = (paper_value(reference, key, m) for m in ("params", "encoder_params", "gmacs"))
        if RUNS[name]["num_classes"] != 150:
            p_params = None  # the paper's parameter counts are for 150 classes
        ratio = row["gmacs"] / p_macs if p_macs else float("nan")
        show = lambda v, spec: format(v, spec) if v is not None else "-"  # noqa: E731
        print(f"{name:26s} {row['height']:>4d}x{row['width']:<4d} {row['params'] / 1e6:9.2f} {show(p_params, '6.1f'):>6s} "
              f"{row['encoder_params'] / 1e6:7.2f} {show(p_enc, '6.1f'):>6s} {row['gmacs']:8.2f} "
              f"{show(p_macs, '7.1f'):>7s} {ratio:6.3f}")
    write_csv(out, rows, COLUMNS)
    print(f"wrote {out}")
    return rows


def run(results, runs, preset, config, progress) -> Path:
    """`segformer-lab run model_costs`: the costs of every model into `<results>/model_costs.csv`."""
    main(out=Path(results) / "model_costs.csv")
    return Path(results) / "model_costs.csv"


SCRIPT = Script(name="model_costs", run=run)  # counted, not trained

if __name__ == "__main__":
    main()
