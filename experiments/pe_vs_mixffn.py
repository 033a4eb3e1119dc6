"""Table 1c: Mix-FFN against a positional encoding when the test resolution differs from the training one.

The same MiT-B0 encoder with Mix-FFN (released), a learned absolute PE or a fixed 2-D sin-cos PE made for the
128 px training crop (both bilinearly resized to other grids), or neither; trained on 128 px crops, on both
scene families:
- street (the paper's setting at our scale): crops of 256x512 frames randomly resized by 0.5-2.0, tested on
  whole frames with sliding 128 px windows and whole (the paper's 768 windows vs whole 1024x2048 Cityscapes
  images), and on whole frames at half the pixel density;
- aerial: no layout, so absolute position carries nothing to learn; tested on 256x512 canvases at the same
  pixel scale, slide and whole, on 384x384 canvases and under zoom.
Every variant starts from the embedded pretraining with the region-presence pretext (same budget for each, with
MiT's recipe chosen by experiments/pretraining.py), which gives a PE positions to learn before segmentation, as
ImageNet does for the paper's (pretrain.py); the `*_street_shared` runs are the first version of the street
setting, pretrained with one recipe shared by every family.
The first version of this ablation (aerial, from scratch) stays as the `*_aerial_scratch` variants: there the
learned PE was never used.

Validity: an absolute PE is used when zeroing it at test time, at the training size, costs accuracy beyond the
seed spread (`extra_metrics`: the same evaluation with the PE zeroed, and with its positions shuffled, which
keeps its values and removes only where they are).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import torch

from segformer_lab import figures, from_pretrained, plotting
from segformer_lab.ablation import Ablation, Display
from segformer_lab.analysis import per_seed, summarise
from segformer_lab.data.transforms import eval_pipeline
from segformer_lab.declared import Deviation, outcomes
from segformer_lab.engine import TrainConfig, evaluate_model, open_datasets, pretrain_config
from segformer_lab.models.segformer import ABSOLUTE_PE
from segformer_lab.presets import standard_presets
from segformer_lab.pretrain import pretrained_path
from segformer_lab.registry import build_model
from segformer_lab.repo import load_experiment
from segformer_lab.results import provenance, read_rows, read_table, write_csv
from segformer_lab.runner import planned_runs
from segformer_lab.verdicts import Claim, claim, condition, requiring, signed

BASE = TrainConfig(model="segformer_b0", crop_size=128)  # pretrained with MiT's recipe
FAMILIES = {
    "street": {"scene_family": "street", "val_canvas": [256, 512], "eval_mode": "slide", "eval_stride": 96},
    "aerial": {},
}
POSITIONS = {
    "mixffn": {"pos_encoding": "mixffn"},
    "learned_pe": {"pos_encoding": "learned", "pe_train_size": [128, 128]},
    "sincos_pe": {"pos_encoding": "sincos", "pe_train_size": [128, 128]},
    "no_pe": {"pos_encoding": "none"},
    # The learned PE started from the sin-cos table (then learned): the trunc-normal one (std 0.02) stays unused.
    "learned_sincos_pe": {"pos_encoding": "learned", "pe_init": "sincos", "pe_train_size": [128, 128]},
}
FIRST = ("mixffn", "learned_pe", "sincos_pe", "no_pe")  # the position variants of the first version
PRETRAINED = {"encoder_weights": "embedded", "pretrain_pretext": "region_presence"}
VARIANTS = {f"{pe}_{family}": {"model_overrides": model, **fields, **PRETRAINED}
            for family, fields in FAMILIES.items() for pe, model in POSITIONS.items()}
VARIANTS.update({f"{pe}_aerial_scratch": {"model_overrides": POSITIONS[pe]} for pe in ("mixffn", "learned_pe", "no_pe")})
# The street runs as first made, pretrained with one recipe for every family (lr 1e-3, weight decay 0.05), kept at
# the default preset as a record.
VARIANTS.update({f"{pe}_street_shared": {**VARIANTS[f"{pe}_street"], "pretrain_recipe": "shared"} for pe in FIRST})
# smoke: every code path (both families, both absolute PEs); quick: the two runs the headline claims compare;
# default: the street setting and the kept aerial first version; gpu: the street setting (the pretrained aerial
# variants, 4 more pretrainings and 12 runs, are declared but planned by no preset: on a world without layout
# they are a side question, and the gpu preset's time goes to the setting that tests the claim).
PRESET_VARIANTS = {"smoke": [f"{pe}_street" for pe in FIRST] + ["learned_pe_aerial"],
                   "quick": ["mixffn_street", "learned_pe_street"],
                   "default": [v for v in VARIANTS if v.endswith(("_street", "_aerial_scratch", "_street_shared"))],
                   "gpu": [f"{pe}_street" for pe in POSITIONS]}
# Behind the resolution claims, not tested while the learned PE goes unused at the CPU budget (removing it costs
# no mIoU): trained first under `run --time-budget`.
PRIORITY = ["learned_pe_street", "mixffn_street", "no_pe_street"]
EVALS = {
    "slide_256x512": {"canvas": (256, 512), "mode": "slide", "crop": 128, "stride": 96},
    "whole_256x512": {"canvas": (256, 512), "mode": "whole"},
    "whole_384x384": {"canvas": (384, 384), "mode": "whole", "families": ("aerial",)},
    "zoom_0.5": {"canvas": (128, 128), "zoom": 0.5, "families": ("aerial",)},
    "zoom_2": {"canvas": (128, 128), "zoom": 2.0, "families": ("aerial",)},
    "whole_128x256_zoom_0.5": {"canvas": (128, 256), "zoom": 0.5, "mode": "whole", "families": ("street",)},
}
PRESETS = standard_presets(smoke={"model": "segformer_tiny", "pretrain_iterations": 2},
                           quick={"pretrain_iterations": 8}, default={"pretrain_iterations": 1000})
EXTRA_COLUMNS = ["pe_token_ratio", "miou_pe_zeroed", "miou_pe_shuffled"]
PRETRAINING_COLUMNS = ["experiment", "variant", "preset", "cache_key", "pretext", "pretrain_iterations", "final_loss",
                       "pe_token_ratio", "git_commit", "torch_version", "device", "cpu_model", "date"]


def extra_metrics(run_dir, cfg: TrainConfig, results_dir) -> dict:
    """For an absolute-PE run: the PE's norm over the norm of the stage-1 tokens it is added to, and the mIoU of
    the run's own evaluation (the training size) with every stage's PE zeroed, then with its grid positions
    shuffled (one fixed permutation per stage): what the model loses without the position signal."""
    if cfg.model_overrides.get("pos_encoding") not in ABSOLUTE_PE:
        return {}
    model = from_pretrained(run_dir / "model.pt").eval()
    _, val, classes, things = open_datasets(cfg)
    backbone = model.backbone
    tables = {i: getattr(backbone, f"pos_embed{i}") for i in range(1, 5)}  # (1, C, h, w) each
    saved = {i: t.detach().clone() for i, t in tables.items()}
    ratio = pe_token_ratio(backbone, eval_pipeline()(*val.load(0))[0])
    with torch.no_grad():
        for t in tables.values():
            t.zero_()
    zeroed = evaluate_model(model, val, cfg, classes, things)["miou"]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i, t in tables.items():
            flat = saved[i].flatten(2)  # (1, C, h*w)
            t.copy_(flat[:, :, torch.randperm(flat.shape[-1], generator=generator)].reshape(t.shape))
    shuffled = evaluate_model(model, val, cfg, classes, things)["miou"]
    return {"pe_token_ratio": ratio, "miou_pe_zeroed": zeroed, "miou_pe_shuffled": shuffled}


def pe_token_ratio(backbone, image: torch.Tensor) -> float:
    """||PE|| / ||tokens|| at stage 1 for one normalised image (3, H, W): the PE's size against what it is added to."""
    with torch.no_grad():
        tokens, h, w = backbone.patch_embed1(image[None])  # (1, N, C)
        return float(backbone.add_position(torch.zeros_like(tokens), 1, h, w).norm() / tokens.norm())


def analysis(results_dir="results", preset: str = "quick", runs_dir="runs") -> None:
    """What the embedded pretraining did to each position variant, from the cached pretrainings at hand (one per
    variant, shared by its seeds): the pretext's final loss and, for an absolute PE, its size against the tokens
    when segmentation starts. Writes results/pe_vs_mixffn_pretraining.csv, keeping the rows of variants whose
    pretraining is not in this machine's cache."""
    rows, seen = [], set()
    for variant, _, cfg in planned_runs(load_experiment("pe_vs_mixffn"), preset):  # the configs the runner trains
        path = pretrained_path(pretrain_config(cfg)) if cfg.encoder_weights == "embedded" else None
        if path is None or variant in seen or not path.is_file():
            continue
        seen.add(variant)
        saved = torch.load(path, map_location="cpu", weights_only=False)
        ratio = float("nan")
        if cfg.model_overrides.get("pos_encoding") in ABSOLUTE_PE:
            _, val, classes, _ = open_datasets(cfg)
            model = build_model(cfg.model, len(classes), **cfg.model_overrides).eval()
            model.backbone.load_state_dict({k.removeprefix("backbone."): v for k, v in saved["state_dict"].items()},
                                           strict=False)  # a sin-cos table is not saved: it is rebuilt
            ratio = pe_token_ratio(model.backbone, eval_pipeline()(*val.load(0))[0])
        rows.append({"experiment": "pe_vs_mixffn", "variant": variant, "preset": preset, "cache_key": path.stem,
                     "pretext": cfg.pretrain_pretext, "pretrain_iterations": cfg.pretrain_iterations,
                     "final_loss": saved["final_loss"], "pe_token_ratio": ratio, **provenance("cpu")})
    out = Path(results_dir) / "pe_vs_mixffn_pretraining.csv"
    done = {(r["variant"], r["preset"]) for r in rows}
    kept = [r for r in read_rows(out) if (r["variant"], r["preset"]) not in done]
    if rows:  # the rows of variants whose pretraining is not at hand here stay as they were
        write_csv(out, kept + rows, PRETRAINING_COLUMNS)


PE_VARIANTS = {"mixffn": "Mix-FFN", "learned_pe": "a learned PE", "sincos_pe": "a fixed sin-cos PE", "no_pe": "no PE",
               "learned_sincos_pe": "a learned PE started from the sin-cos table"}
ABSOLUTE_PES = ("learned_pe", "sincos_pe", "learned_sincos_pe")  # the variants whose PE can be zeroed at test time


def pe_variant(pe: str, family: str, init: str = "pretrained") -> str:
    """The pe_vs_mixffn variant name of a position variant on a scene family; init "pretrained", "scratch" or
    "shared" (pretrained with the first, shared recipe)."""
    return f"{pe}_{family}" + {"scratch": "_scratch", "shared": "_shared"}.get(init, "")


def pe_validity(frame: pd.DataFrame, pe: str, family: str, init: str = "pretrained") -> Claim:
    """The condition under which a PE variant tests the paper's mechanism: the model uses the PE, i.e. removing it
    at test time at the training size (zeroed, `miou_pe_zeroed`) costs accuracy, each run paired with itself."""
    variant = pe_variant(pe, family, init)
    return condition(f"The model uses {PE_VARIANTS[pe]} ({family}, {init}): removing it at test time at the training "
                     "size costs mIoU", per_seed(frame, variant, "miou"), per_seed(frame, variant, "miou_pe_zeroed"),
                     since="removing it at test time at the training")


def headline_learned_pe(frame: pd.DataFrame, family: str = "street", init: str = "pretrained") -> str:
    """The learned PE Table 1c's claims are judged on: the one started from the sin-cos table where it ran, else
    the trunc-normal one. The rule is declared, not chosen by outcome: a learned PE started as ViT's (std 0.02)
    is not used by the model at this scale (zeroing it costs nothing, see `pe_diagnosis`), so it cannot test a
    claim about what a PE does; its claims stay in the report beside the verdict (`learned_pe_claims`)."""
    started = pe_variant("learned_sincos_pe", family, init) in set(frame["variant"])
    return "learned_sincos_pe" if started else "learned_pe"


def learned_pe_claims(frame: pd.DataFrame, pe: str = "learned_pe", family: str = "street", init: str = "pretrained",
                      canvas: str = "256x512") -> list[Claim]:
    """Table 1c for one learned PE: Mix-FFN beats it at the training size, and it drops more than Mix-FFN on
    whole larger canvases; both require that the model uses the PE (`pe_validity`), else "not tested".

    The drop of a run is its mIoU with sliding training-size windows minus its mIoU on whole canvases, both on
    the same larger views (the paper: 768 windows vs whole 1024x2048 images)."""
    slide, mixffn, learned = f"slide_{canvas}_miou", pe_variant("mixffn", family, init), pe_variant(pe, family, init)
    what = PE_VARIANTS[pe][2:]  # without its article
    return requiring([
        claim(f"Mix-FFN scores higher than {PE_VARIANTS[pe]} with training-size sliding windows ({family})",
              per_seed(frame, mixffn, slide), per_seed(frame, learned, slide),
              since=pe),
        claim(f"A {what} drops more than Mix-FFN on whole {canvas} canvases ({family})",
              pe_drop(frame, learned, canvas), pe_drop(frame, mixffn, canvas),
              since=pe),
    ], pe_validity(frame, pe, family, init))


def pe_drop(frame: pd.DataFrame, variant: str, canvas: str = "256x512") -> pd.Series:
    """Per seed: mIoU with sliding training-size windows minus mIoU on whole `canvas` canvases."""
    return per_seed(frame, variant, f"slide_{canvas}_miou") - per_seed(frame, variant, f"whole_{canvas}_miou")


def pe_vs_mixffn_claims(frame: pd.DataFrame, family: str = "street", init: str = "pretrained",
                        canvas: str = "256x512") -> list[Claim]:
    """Table 1c on one scene family: the learned PE's two claims (`learned_pe_claims`, on `headline_learned_pe`)
    and, where it ran, a fixed sin-cos PE drops more than Mix-FFN on whole larger canvases. Each claim involving
    a PE requires that the model uses that PE (`pe_validity`); otherwise it is "not tested"."""
    claims = learned_pe_claims(frame, headline_learned_pe(frame, family, init), family, init, canvas)
    if pe_variant("sincos_pe", family, init) in set(frame["variant"]):
        claims += requiring([claim(f"A fixed sin-cos PE drops more than Mix-FFN on whole {canvas} canvases "
                                   f"({family})", pe_drop(frame, pe_variant("sincos_pe", family, init), canvas),
                                   pe_drop(frame, pe_variant("mixffn", family, init), canvas),
                                   since="A fixed sin-cos PE drops more than Mix-FFN")],
                            pe_validity(frame, "sincos_pe", family, init))
    return claims


def pe_isolation_claims(frame: pd.DataFrame, family: str = "street", init: str = "pretrained",
                        canvas: str = "256x512") -> list[Claim]:
    """Beside the paper: does the PE itself cause its variant's drop? The same encoder without the depthwise
    convolution and without any PE (no_pe) separates the PE's part of the drop from the missing convolution's.
    Each claim requires that the model uses that PE."""
    present, none = set(frame["variant"]), pe_variant("no_pe", family, init)
    if none not in present:
        return []
    return [requiring([claim(f"{PE_VARIANTS[pe][0].upper()}{PE_VARIANTS[pe][1:]} drops more than the same encoder "
                             f"with no PE on whole {canvas} canvases ({family})",
                             pe_drop(frame, pe_variant(pe, family, init), canvas), pe_drop(frame, none, canvas),
                             since="def pe_isolation_claims")],
                      pe_validity(frame, pe, family, init))[0]
            for pe in ABSOLUTE_PES if pe_variant(pe, family, init) in present]


def pe_separation_note(frame: pd.DataFrame, family: str = "street", init: str = "pretrained",
                       canvas: str = "256x512") -> str:
    """One sentence splitting the headline learned PE's drop on whole canvases into what the same encoder with no
    PE (and no 3x3 depthwise convolution) also loses, and the rest, the PE's own part, with its paired interval."""
    learned, none = pe_variant(headline_learned_pe(frame, family, init), family, init), pe_variant("no_pe", family, init)
    if not {learned, none, pe_variant("mixffn", family, init)} <= set(frame["variant"]):
        return ""
    pe, control = pe_drop(frame, learned, canvas), pe_drop(frame, none, canvas)
    mixffn = pe_drop(frame, pe_variant("mixffn", family, init), canvas)

    own = claim("the PE's own part", pe, control)
    lo, hi = own.interval()
    covers = not (lo > 0 or hi < 0)
    return (f"What the PE breaks, and what the missing convolution breaks ({family}, {init}, whole {canvas} canvases): "
            f"{PE_VARIANTS[headline_learned_pe(frame, family, init)]} drops {pe.mean():.2f} mIoU; the same encoder with "
            f"no PE, which lacks only Mix-FFN's 3x3 depthwise convolution, drops {control.mean():.2f}, and Mix-FFN "
            f"{mixffn.mean():.2f}. The PE's own part is {signed(own.difference)} [{signed(lo)}, {signed(hi)}] over "
            f"{own.seeds} paired seeds, an interval that {'covers' if covers else 'excludes'} zero"
            + (": most of the learned PE's drop is the missing convolution's, not the resized PE's." if covers
               and control.mean() > own.difference else "."))


def pe_vs_mixffn_table(frame: pd.DataFrame, family: str = "street", canvas: str = "256x512") -> pd.DataFrame:
    """Per variant of one family: mIoU at the training size, with the PE zeroed and shuffled, with sliding
    windows and on whole canvases, and the drop, with seed ranges."""
    frame = frame[frame["scene_family"] == family]
    frame = frame.assign(drop=frame[f"slide_{canvas}_miou"] - frame[f"whole_{canvas}_miou"])
    extra = ["zoom_0.5_miou", "zoom_2_miou"] if family == "aerial" else ["whole_128x256_zoom_0.5_miou"]
    columns = ["miou", "miou_pe_zeroed", "miou_pe_shuffled", f"slide_{canvas}_miou", f"whole_{canvas}_miou", "drop",
               *extra]
    return summarise(frame, [c for c in columns if c in frame and frame[c].notna().any()])


PE_PAPER_NAMES = {"mixffn": "mixffn", "learned_pe": "pe", "learned_sincos_pe": "pe"}  # ours -> Table 1c's model


def pe_vs_mixffn_beside_paper(frame: pd.DataFrame, paper: pd.DataFrame, family: str = "street",
                              canvas: str = "256x512") -> pd.DataFrame:
    """Ours (128 windows vs whole canvases) beside Table 1c (Cityscapes: 768 windows vs whole 1024x2048), per
    variant of one family: slide, whole and drop means."""
    ours = pe_vs_mixffn_table(frame, family, canvas)
    rows = paper[paper["table"] == "1c"].set_index(["model", "metric"])
    out = pd.DataFrame({"ours: sliding windows": ours[f"slide_{canvas}_miou"],
                        "ours: whole canvas": ours[f"whole_{canvas}_miou"], "ours: drop": ours["drop"]})
    slide = rows[rows["setting"].str.contains("sliding")]["value"]
    whole = rows[rows["setting"].str.contains("whole")]["value"]
    drop = rows[rows["setting"] == "drop"]["value"]
    position = {v: next((pe for pe in PE_VARIANTS if v.startswith(pe + "_")), "") for v in out.index}
    for label, values in (("paper: sliding windows", slide), ("paper: whole image", whole), ("paper: drop", drop)):
        out[label] = [values.droplevel("metric").get(PE_PAPER_NAMES.get(position[v]), float("nan"))
                      for v in out.index]
    return out


def pe_diagnosis(frame: pd.DataFrame, family: str, init: str = "pretrained") -> str:
    """One sentence per absolute-PE variant of a family: its size against the tokens and what removing it costs."""
    parts = []
    for pe in ABSOLUTE_PES:
        rows = frame[frame["variant"] == pe_variant(pe, family, init)]
        if rows.empty or rows["miou_pe_zeroed"].isna().all():
            continue
        zeroed, shuffled = rows["miou_pe_zeroed"] - rows["miou"], rows["miou_pe_shuffled"] - rows["miou"]
        text = (f"{PE_VARIANTS[pe]} ({family}, {init}, {len(rows)} run(s)): at stage 1 its norm is "
                f"{rows['pe_token_ratio'].mean():.2f} of the tokens it is added to; zeroing it at test time changes "
                f"mIoU by {zeroed.mean():+.2f} (per seed {zeroed.min():+.2f} to {zeroed.max():+.2f})")
        if shuffled.notna().any():
            text += f", shuffling its positions by {shuffled.mean():+.2f} ({shuffled.min():+.2f} to {shuffled.max():+.2f})"
        parts.append(text[0].upper() + text[1:] + ".")
    return " ".join(parts)


def pe_pretraining_note(pretraining: pd.DataFrame) -> str:
    """One sentence from results/pe_vs_mixffn_pretraining.csv: the pretext's final loss per position variant and,
    for an absolute PE, its size against the tokens when segmentation starts."""
    parts = []
    for r in pretraining.itertuples():
        size = f", PE at {r.pe_token_ratio:.3f} of the tokens" if pd.notna(r.pe_token_ratio) else ""
        parts.append(f"{r.variant} {r.final_loss:.3f}{size}")
    return (f"After the embedded pretraining ({pretraining['pretext'].iloc[0]} pretext, binary cross-entropy of its "
            f"last 20 steps; a learned PE starts at about 0.02 of the tokens): {'; '.join(parts)}.")

SETTINGS_ORDER = (("street", "pretrained"), ("street", "shared"), ("aerial", "pretrained"), ("aerial", "scratch"))


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: the headline setting's claims (street, pretrained, where present), the others beside."""
    frame = out.frame
    settings = [(f, i) for f, i in SETTINGS_ORDER if pe_variant("mixffn", f, i) in set(frame.variant)]
    if not settings:
        raise ValueError("no Mix-FFN rows of any scene family in pe_vs_mixffn.csv")
    family, init = settings[0]  # the headline: street scenes, pretrained (the paper's setting) if present
    out.claims = pe_vs_mixffn_claims(frame, family, init)
    out.context = pe_isolation_claims(frame, family, init)
    if headline_learned_pe(frame, family, init) != "learned_pe":  # the trunc-normal start, beside
        out.context += learned_pe_claims(frame, "learned_pe", family, init)
    out.context += [c for f, i in settings[1:] for c in pe_vs_mixffn_claims(frame, f, i)]
    out.table = pe_vs_mixffn_table(frame, family)
    out.paper = pe_vs_mixffn_beside_paper(frame, paper, family)
    out.notes = [n for n in [pe_separation_note(frame, family, init)] if n]
    out.notes += [n for f, i in settings if (n := pe_diagnosis(frame, f, i))]
    if (results_dir / "pe_vs_mixffn_pretraining.csv").is_file():
        pretraining = read_table(results_dir / "pe_vs_mixffn_pretraining.csv").query("preset == @out.preset")
        out.notes += [pe_pretraining_note(pretraining)] if len(pretraining) else []


DEVIATIONS = [
    Deviation("learned_sincos_pe", "the headline learned PE became the one started from the sin-cos table, a variant "
              "added after the trunc-normal learned PE's runs (`headline_learned_pe`)",
              "the learned PE started as ViT's (std 0.02) was not used by the model at this scale (zeroing it cost "
              "nothing), so it could not test a claim about what a PE does.",
              lambda s: outcomes([c for c in s.context if "a learned PE with" in c.text
                                  or "A learned PE drops more than Mix" in c.text][:2])),
]


# The figures: each position variant's mIoU per test setting, Table 1c beside it.
SETTINGS = {"training size": "", "256x512 slide": "slide_256x512_", "256x512 whole": "whole_256x512_",
            "frame at zoom 0.5": "whole_128x256_zoom_0.5_"}  # {setting: column prefix}
SETTINGS_AERIAL = {"128 whole": "", "256x512 slide": "slide_256x512_", "256x512 whole": "whole_256x512_",
                   "384x384 whole": "whole_384x384_", "zoom 0.5": "zoom_0.5_", "zoom 2": "zoom_2_"}


def pe_paper() -> pd.DataFrame:
    """Table 1c's mIoU as rows (model, setting, value)."""
    paper = figures.paper()
    rows = paper[(paper["table"] == "1c") & (paper["metric"] == "miou_ss")]
    return rows.assign(setting=rows["setting"].str.removeprefix("test "))[["model", "setting", "value"]]


def pe_settings(results_dir, preset=None, family: str = "street", init: str = "pretrained", metric: str = "miou"):
    """Each position variant's metric per test setting, on one scene family and encoder initialisation; Table 1c
    beside it for the mIoU."""
    frame = figures.rows(results_dir, "pe_vs_mixffn", preset)
    variants = [pe_variant(pe, family, init) for pe in PE_VARIANTS]
    rows = frame[frame["variant"].isin(variants)]
    rows = rows.iloc[rows["variant"].map(variants.index).argsort(kind="stable")]  # the declared order
    if rows.empty:
        return None
    settings = SETTINGS if family == "street" else SETTINGS_AERIAL
    paper = pe_paper() if metric == "miou" and family == "street" else None
    return plotting.metric_by_setting(rows, settings, metric, paper=paper,
                                      paper_label="paper (Table 1c): Cityscapes, 768x768 crops")


def pe_headline(results_dir, preset=None):
    """The street scenes with pretrained encoders (the paper's setting), else the first setting with runs."""
    for family, init in SETTINGS_ORDER:
        fig = pe_settings(results_dir, preset, family, init)
        if fig is not None:
            return fig
    return None


ABLATION = Ablation(
    name="pe_vs_mixffn", title="Mix-FFN vs positional encoding under resolution change (Table 1c)", order=1,
    base=BASE, variants=VARIANTS, presets=PRESETS, preset_variants=PRESET_VARIANTS, priority=PRIORITY, evals=EVALS,
    extra_columns=EXTRA_COLUMNS, extra_metrics=extra_metrics, analysis=analysis,
    claims=build, deviations=DEVIATIONS,
    figures={"": pe_headline, "thing": partial(pe_settings, metric="thing_miou"),
             "shared": partial(pe_settings, init="shared"), "aerial": partial(pe_settings, family="aerial"),
             "aerial_scratch": partial(pe_settings, family="aerial", init="scratch")},
    display=Display(
        parts={"mixffn": "Mix-FFN", "learned_pe": "learned PE", "learned_sincos_pe": "learned PE from sin-cos",
               "sincos_pe": "sin-cos PE", "no_pe": "no PE", "pe": "positional encoding"},
        settings={"training size": "training size", "256x512 slide": "256x512, sliding windows",
                  "256x512 whole": "256x512, whole frame", "frame at zoom 0.5": "whole frame, zoom 0.5",
                  "128 whole": "128x128 (training size)", "384x384 whole": "384x384, whole frame",
                  "zoom 0.5": "zoom 0.5", "zoom 2": "zoom 2",
                  "768x768 sliding window": "768x768, sliding windows",  # the paper's (Table 1c)
                  "1024x2048 whole image": "1024x2048, whole frame"}),
)
