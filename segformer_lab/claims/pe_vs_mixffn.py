"""Table 1c: Mix-FFN against positional encodings under resolution change (experiments/pe_vs_mixffn.py).

The verdict: on street scenes from the embedded pretraining (the paper's setting), Mix-FFN beats the learned PE
the model uses at the training size and drops less on whole larger canvases; beside it, the other scene
families and inits, the trunc-normal learned PE (unused at this scale), and the no-PE control that separates
what a resized PE breaks from what the missing 3x3 depthwise convolution breaks.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis import per_seed, summarise
from ..verdicts import Claim, claim, condition, requiring, signed
from ..declared import Deviation, outcomes
from ..results import read_table


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
