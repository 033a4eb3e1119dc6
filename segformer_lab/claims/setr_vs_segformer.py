"""Table 2 at our scale: SETR beside SegFormer (experiments/setr_vs_segformer.py).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis import HEADLINE, per_seed, summarise, paper_table
from ..budget import TRAIN_FLOPS_PER_FORWARD, train_flop_rate
from ..declared import Deviation, outcomes
from ..results import read_table
from ..presets import BUDGETS
from ..verdicts import Claim, claim, condition, requiring, signed


SETR_DECODERS = ("setr_naive", "setr_pup", "setr_mla")
SETR_SINCOS = "_sincos"  # the suffix of the SETR runs whose PE starts from the 2-D sin-cos table


def setr_segformer(frame: pd.DataFrame, segformer: str = "segformer_b1") -> str:
    """The SegFormer variant SETR is compared with: `segformer` where it ran, else B1, else B0."""
    present = set(frame["variant"])
    found = next((v for v in (segformer, "segformer_b1", "segformer_b0") if v in present), None)
    if found is None or not any(v in present for v in SETR_DECODERS):
        raise ValueError(f"setr_vs_segformer needs a SegFormer and a SETR variant, got {sorted(present)}")
    return found


def sincos_started(frame: pd.DataFrame) -> bool:
    """Whether every SETR decoder that ran has its runs with the PE started from the sin-cos table too."""
    present = set(frame["variant"])
    return all(v + SETR_SINCOS in present for v in SETR_DECODERS if v in present)


def setr_claims(frame: pd.DataFrame, segformer: str = "segformer_b1") -> list[Claim]:
    """SegFormer against each SETR decoder on ViT-S: more accurate per GMAC (mIoU over GMACs at 512x512, SETR as
    ViT starts it), and degrades less from the training size to whole 256x512 canvases (mIoU lost). The resolution
    claim requires that SETR's learned PE carry something (`setr_resolution_claims`); it is judged on the SETR
    runs whose PE starts from the sin-cos table where all three ran (a rule declared, not chosen by outcome: the
    trunc-normal start is not used at this scale), else on the first runs."""
    segformer = setr_segformer(frame, segformer)
    present = set(frame["variant"])

    def per_gmac(variant):
        return per_seed(frame, variant, "miou") / per_seed(frame, variant, "gmacs_512")
    started = sincos_started(frame)
    claims = []
    for setr in (v for v in SETR_DECODERS if v in present):
        claims.append(claim(f"{segformer} is more accurate per GMAC than {setr} (mIoU / GMACs at 512x512)",
                            per_gmac(segformer), per_gmac(setr), since="is more accurate per GMAC than"))
        claims += setr_resolution_claims(frame, setr + (SETR_SINCOS if started else ""), segformer)
    return claims


def setr_resolution_claims(frame: pd.DataFrame, setr: str, segformer: str = "segformer_b1") -> list[Claim]:
    """A SETR variant loses more mIoU than SegFormer from the training size to whole 256x512 canvases, where the
    model uses its PE: zeroing it at the training size costs accuracy, each run paired with itself (else "not
    tested")."""
    segformer = setr_segformer(frame, segformer)

    def drop(variant):
        return per_seed(frame, variant, "miou") - per_seed(frame, variant, "whole_256x512_miou")
    uses_pe = condition(f"{setr} uses its PE: zeroing it at the training size costs mIoU",
                        per_seed(frame, setr, "miou"), per_seed(frame, setr, "miou_pe_zeroed"),
                        since="uses its PE: zeroing it at the training size")
    return requiring([claim(f"{setr} loses more mIoU than {segformer} from the training size to whole 256x512 "
                            "canvases", drop(setr), drop(segformer), since="from the training size to whole 256x512")],
                     uses_pe)


def pe_note(frame: pd.DataFrame, results_dir: Path) -> str:
    """Where a sin-cos SETR's PE-use condition is not met: what zeroing its PE costs per seed against the mIoU
    seed range a difference must exceed, what it cost with ViT's start and with twice the iterations (the
    `*_i2000` rows), and what the runs that could meet it would take on the GPU the gpu preset has measured."""
    present = set(frame["variant"])
    conditions = {v + SETR_SINCOS: setr_resolution_claims(frame, v + SETR_SINCOS)[0].requires[0]
                  for v in SETR_DECODERS if v + SETR_SINCOS in present}
    unmet = [v for v, cond in conditions.items() if cond.outcome != "supported"]
    if not unmet:
        return ""

    def cost(variant):
        return per_seed(frame, variant, "miou") - per_seed(frame, variant, "miou_pe_zeroed")
    parts = []
    for variant in unmet:
        c, cond = cost(variant), conditions[variant]
        lo, hi = cond.interval()
        text = (f"{variant}: zeroing its PE costs {c.mean():.2f} mIoU (per seed {c.min():.2f} to {c.max():.2f}; "
                f"{signed(cond.difference)} [{signed(lo)}, {signed(hi)}] over {cond.seeds} seeds: {cond.outcome})")
        base = variant.removesuffix(SETR_SINCOS)
        if base in present:
            text += f"; started as ViT's it costs {cost(base).mean():.2f}"
        if f"{variant}_i2000" in present:  # one seed: a number on record, not judged
            longer = cost(f"{variant}_i2000")
            text += (f"; at 2000 iterations instead of 1000 it cost {longer.iloc[0]:.2f} on seed {longer.index[0]} "
                     f"alone, against {c.get(longer.index[0], float('nan')):.2f} for that seed at 1000 and "
                     f"{c.min():.2f}-{c.max():.2f} over the 1000-iteration seeds: one seed, not judged")
        parts.append(text)
    note = ("SETR's PE with the sin-cos start is not shown to be used by every decoder (zeroing it must cost mIoU, "
            "its interval above zero): " + "; ".join(parts) + ". The resolution claims of these decoders are not "
            "tested")
    gpu = _gpu_rows(results_dir)
    if not gpu.empty:
        rate = train_flop_rate(gpu["gflops"], gpu["iterations"], gpu["batch_size"], gpu["train_seconds"]).median()
        images = BUDGETS["gpu"]["iterations"] * BUDGETS["gpu"]["batch_size"]  # per gpu-preset run
        runs = frame[frame["variant"].isin(unmet)]
        images_here = int((runs["iterations"] * runs["batch_size"]).median())
        flops = TRAIN_FLOPS_PER_FORWARD * runs.groupby("variant")["gflops"].first() * 1e9 * images
        minutes = flops / rate / 60
        note += (f"; the gpu preset trains {images // 1000}k images per run ({images / images_here:.0f}x these "
                 "runs'), where the PE's use can be measured again at a budget the CPU cannot reach: 3 seeds of "
                 + " and ".join(f"{v} about {m:.1f} min per run" for v, m in minutes.items())
                 + f" on the {gpu['device'].iloc[0]}, four runs at once, at the training rate its runs so far measured")
    return note + "."


def _gpu_rows(results_dir: Path) -> pd.DataFrame:
    """The rows of the gpu preset's runs in `results_dir`/gpu with a training time (empty where none)."""
    frames = [read_table(p) for p in sorted((Path(results_dir) / "gpu").glob("*.csv"))]
    frames = [f for f in frames if {"gflops", "iterations", "batch_size", "train_seconds", "device"} <= set(f.columns)]
    rows = pd.concat(frames) if frames else pd.DataFrame()
    return rows[rows["train_seconds"] > 0] if not rows.empty else rows


def setr_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: params (M), GMACs and CPU latency at 128 and 512 px, mIoU at the training size and on whole
    and slid 256x512 canvases, and with SETR's PE zeroed, with seed ranges."""
    frame = frame.assign(params_m=frame["params"] / 1e6)
    return summarise(frame, ["params_m", "gmacs_128", "gmacs_512", "latency_128_ms", "latency_512_ms", *HEADLINE,
                             "whole_256x512_miou", "slide_256x512_miou", "miou_pe_zeroed"])


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: the claims (the resolution claim on the PE the model uses), the trunc-normal SETRs'
    resolution claims beside them where the sin-cos ones are judged, and the paper's SETR rows."""
    frame = out.frame
    out.claims, out.table = setr_claims(frame), setr_table(frame)
    if sincos_started(frame):  # the resolution claims are on the sin-cos start: the trunc-normal one beside
        out.context = [c for v in SETR_DECODERS if v in set(frame["variant"]) for c in setr_resolution_claims(frame, v)]
        out.notes += [n for n in [pe_note(frame, results_dir)] if n]
    out.paper = paper_table(paper, "setr")


DEVIATIONS = [
    Deviation("SETR_SINCOS", "SETR's resolution claims moved to runs whose PE starts from the sin-cos table, "
              "variants added after the trunc-normal runs (`setr_claims`)",
              "SETR's PE started as ViT's was not used at this scale (zeroing it cost nothing), so its resolution "
              "claims could not test what a PE does.",
              lambda s: outcomes([c for c in s.context if "loses more mIoU" in c.text])),
]
