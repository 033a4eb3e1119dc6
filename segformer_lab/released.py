"""The released models a user holds, under the lab's instruments: read `released.toml`, run every study on every
model (experiments/released_models.py declares which), and turn `results/released/` into the paper's tables.

`released.toml` names the datasets and checkpoints (paths relative to the file):

    [datasets]
    ade20k = "/data/ADEChallengeData2016"
    cityscapes = "/data/cityscapes"

    [[models]]
    path = "checkpoints/segformer.b0.512x512.ade.160k.pth"
    dataset = "ade20k"

    [[models]]
    path = "checkpoints/deeplabv3plus_r101-d8_512x1024_80k_cityscapes.pth"
    dataset = "cityscapes"
    paper = "deeplabv3plus_r101"  # optional: the paper's model id (default: the loaded variant)

Optional per model: `name` (display), `protocol` (e.g. "ade20k_640" for the B5 640x640 release) and the protocol
overrides `mode`, `scale`, `crop`, `stride`. Optional `[settings]`: `max_images` (0 = the whole split; a verdict
needs the whole split), `erf_images`, `erf_canvas`, `corruptions` ("all", a list, or false), `resolutions`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .verdicts import CLAIM, FACT, HOLDS, MATCHES, Claim, above

EXAMPLE = ('[datasets] ade20k = "/data/ADEChallengeData2016" ... and one [[models]] table per checkpoint with path = '
           '"....pth" and dataset = "ade20k" or "cityscapes"')
MODEL_KEYS = {"path", "dataset", "name", "paper", "protocol", "mode", "scale", "crop", "stride"}
SETTING_KEYS = {"max_images", "erf_images", "erf_canvas", "corruptions", "resolutions", "severities"}
FULL_SPLIT = {"ade20k": 2000, "cityscapes": 500}  # images of the validation splits the paper reports on
PAPER_PROTOCOLS = ("ade20k", "ade20k_640", "cityscapes")  # the protocols behind the paper's tables
PAPER_SETTING = {"ade20k": "ADE20K", "cityscapes": "Cityscapes"}  # paper_reference.csv's setting of each dataset


@dataclass
class HeldModel:
    """One checkpoint of released.toml."""

    name: str  # display name (default: the file name)
    path: str  # the checkpoint (resolved against the toml's folder)
    dataset: str  # "ade20k" or "cityscapes" (or "folder")
    paper: str = ""  # the paper's model id (results/paper_reference.csv), "" = the loaded variant's
    protocol: str | None = None  # a PROTOCOLS name, None = the dataset's standard one
    overrides: dict = field(default_factory=dict)  # protocol fields: mode, scale, crop, stride


@dataclass
class Held:
    """What released.toml says: the dataset roots, the models, the settings."""

    datasets: dict
    models: list
    settings: dict


def read_config(path) -> Held:
    """Parse released.toml; a missing file, an unknown key, a dataset without a root or a missing checkpoint
    raises ValueError / FileNotFoundError naming the file and the key."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; write it to name what you hold: {EXAMPLE} (see "
                                "docs/released_models.md)")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from e
    unknown = sorted(set(data) - {"datasets", "models", "settings"})
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {unknown}; expected datasets, models, settings")
    settings = data.get("settings", {})
    bad = sorted(set(settings) - SETTING_KEYS)
    if bad:
        raise ValueError(f"{path}: unknown [settings] key(s) {bad}; valid: {sorted(SETTING_KEYS)}")
    base = path.parent
    datasets = {name: str(base / root) for name, root in data.get("datasets", {}).items()}
    models = []
    for i, entry in enumerate(data.get("models", [])):
        where = f"{path}: [[models]] #{i + 1}"
        bad = sorted(set(entry) - MODEL_KEYS)
        if bad:
            raise ValueError(f"{where}: unknown key(s) {bad}; valid: {sorted(MODEL_KEYS)}")
        for key in ("path", "dataset"):
            if key not in entry:
                raise ValueError(f"{where}: missing key {key!r}")
        if entry["dataset"] not in datasets:
            raise ValueError(f"{where}: dataset {entry['dataset']!r} has no root in [datasets] "
                             f"(it names {sorted(datasets) or 'none'})")
        ckpt = base / entry["path"]
        if not ckpt.exists():
            raise FileNotFoundError(f"{where}: checkpoint {ckpt} does not exist")
        overrides = {k: tuple(entry[k]) if isinstance(entry[k], list) else entry[k]
                     for k in ("mode", "scale", "crop", "stride") if k in entry}
        models.append(HeldModel(entry.get("name", ckpt.name), str(ckpt), entry["dataset"], entry.get("paper", ""),
                                entry.get("protocol"), overrides))
    if not models:
        raise ValueError(f"{path}: names no [[models]]; {EXAMPLE}")
    return Held(datasets, models, settings)


def run(held: Held, out, plan, progress: bool = True, log=print) -> Path:
    """Every study of `plan` (experiments/released_models.py) on every model; results under `out`:
    models.csv (name -> checkpoint, dataset, paper id), evaluations*.csv, erf/ (maps, figures, erf_held.csv).
    Finished evaluations are skipped on a second run."""
    from .protocols import protocol_for
    from .results import write_csv
    from .study import erf_source, evaluate_source, load_source
    out = Path(out)
    settings = {**plan.SETTINGS, **held.settings}
    max_images = settings["max_images"] or None
    rows = []
    for m in held.models:  # everything is checked before the first evaluation
        protocol_for(m.dataset, m.protocol, **m.overrides)
        _, info = load_source(m.path)
        rows.append({"name": m.name, "path": m.path, "dataset": m.dataset, "paper": m.paper or info["variant"],
                     "variant": info["variant"], "format": info["format"], "sha256": info["sha256"],
                     "protocol": m.protocol or ""})
    write_csv(out / "models.csv", rows, list(rows[0]))
    for m in held.models:
        data = f"{m.dataset}:{held.datasets[m.dataset]}"
        log(f"== {m.name} on {data}")
        common = dict(out=out, protocol=m.protocol, max_images=max_images, progress=progress, log=log, **m.overrides)
        evaluate_source(m.path, data, resolutions=settings["resolutions"], **common)
        if m.dataset in plan.CORRUPTION_DATASETS and settings["corruptions"]:
            names = settings["corruptions"]
            names = [names] if isinstance(names, str) else list(names)
            for severities in plan.corruption_severities(names, settings.get("severities")):
                evaluate_source(m.path, data, corruptions=severities[0], severities=severities[1], **common)
        if m.dataset in plan.ERF_DATASETS:
            erf_source(m.path, data, out=out / "erf", images=settings["erf_images"], canvas=settings["erf_canvas"],
                       protocol=m.protocol, progress=progress, log=log, **m.overrides)
    return out


# ---------------------------------------------------------------- tables and verdicts from results/released/


def load(results) -> dict:
    """{"models", "evaluations", "per_class", "erf"} DataFrames of a released results folder (empty frames for
    what is missing); evaluations carry the model's name and paper id."""
    results = Path(results)

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(results / name) if (results / name).is_file() else pd.DataFrame()
    models, evaluations = read("models.csv"), read("evaluations.csv")
    if not evaluations.empty and not models.empty:
        evaluations = evaluations.merge(models[["path", "name", "paper"]], left_on="source", right_on="path",
                                        how="inner").drop(columns="path")
        evaluations["corruption"] = evaluations["corruption"].fillna("")
    return {"models": models, "evaluations": evaluations, "per_class": read("evaluations_per_class.csv"),
            "erf": read("erf/erf_held.csv")}


def clean(evaluations: pd.DataFrame) -> pd.DataFrame:
    """The clean evaluations at the protocol's own size."""
    return evaluations[(evaluations["corruption"] == "") & (evaluations["resolution"] == 1.0)]


def is_paper_protocol(row) -> bool:
    """Whether an evaluations.csv row ran one of the paper's protocols (PAPER_PROTOCOLS) as declared, unchanged."""
    from .protocols import PROTOCOLS
    from .study import size_text
    if row.protocol not in PAPER_PROTOCOLS:
        return False
    p = PROTOCOLS[row.protocol]

    def read(v) -> str:  # a CSV cell as written (pandas reads an empty one as NaN)
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    declared = (p.mode, size_text(p.scale), size_text(p.crop), size_text(p.stride), size_text(p.ratios), str(p.flip))
    return declared == (row.mode, read(row.scale), read(row.crop), read(row.stride), read(row.ratios), str(row.flip))


def table1a(data: dict, paper: pd.DataFrame, tolerance: float) -> tuple:
    """Table 1a's mIoU column for each B0-B5 held: (table, claims). A claim "our mIoU matches the paper's within
    `tolerance`" is tested only on the whole validation split under the paper's protocol."""
    rows, claims = [], []
    for r in clean(data["evaluations"]).itertuples():
        ref = paper[(paper["table"] == "1a") & (paper["model"] == r.paper) & (paper["metric"] == "miou_ss")
                    & (paper["setting"] == PAPER_SETTING.get(r.dataset, ""))]
        if ref.empty:
            continue
        expected = float(ref["value"].iloc[0])
        full = FULL_SPLIT[r.dataset]
        conditions = [above(f"the whole {r.dataset} validation split evaluated ({full} images)", [r.images],
                            full - 0.5, role=FACT),
                      above(f"the paper's protocol ({r.protocol}, unchanged)", [float(is_paper_protocol(r))], 0.5,
                            role=FACT)]
        # one deterministic evaluation of a released checkpoint: a measurement against the paper's within a tolerance
        c = Claim(f"{r.name}: single-scale mIoU on {r.dataset} equals the paper's", [float(r.miou)], expected, MATCHES,
                  CLAIM, margin=tolerance, requires=conditions)
        claims.append(c)
        rows.append({"model": r.name, "paper model": r.paper, "dataset": r.dataset, "protocol": r.protocol,
                     "images": r.images, "mIoU (ours)": r.miou, "mIoU (paper)": expected,
                     "difference": r.miou - expected, "outcome": c.outcome})
    return pd.DataFrame(rows), claims


def table5(data: dict, paper: pd.DataFrame, severities: dict) -> pd.DataFrame:
    """Table 5's layout for each Cityscapes model held: clean mIoU and the mean over each corruption's severities
    (noise 1-3, the rest 1-5), with the paper's row of its paper model (e.g. "segformer_b5 (paper)") beneath."""
    from .corruptions import CORRUPTIONS, GROUP_OF, PAPER_NAMES
    ev = data["evaluations"]
    ev = ev[(ev["dataset"] == "cityscapes") & (ev["resolution"] == 1.0)]
    rows = []
    for (name, model), group in ev.groupby(["name", "paper"], sort=False):
        row = {"model": name, "source": "ours", "images": int(group["images"].min()),
               "clean": group.loc[group["corruption"] == "", "miou"].mean()}
        for c in CORRUPTIONS:
            picked = group[(group["corruption"] == c) & group["severity"].isin(severities[GROUP_OF[c]])]
            complete = len(picked) == len(severities[GROUP_OF[c]])
            row[PAPER_NAMES[c]] = picked["miou"].mean() if complete else math.nan
        rows.append(row)
        ref = paper[(paper["table"] == "5") & (paper["model"] == model)]
        if not ref.empty:
            values = {s.replace("Cityscapes-C ", ""): v for s, v in zip(ref["setting"], ref["value"])}
            rows.append({"model": f"{model} (paper)", "source": "paper", **values})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["images"] = table["images"].astype("Int64")  # blank for the paper's rows
    return table


def resolution_curves(data: dict) -> pd.DataFrame:
    """mIoU at each test resolution (clean) per model, and its share of the mIoU at the protocol's own size."""
    ev = data["evaluations"]
    ev = ev[ev["corruption"] == ""][["name", "dataset", "resolution", "miou"]].sort_values(["name", "resolution"])
    base = ev[ev["resolution"] == 1.0].set_index("name")["miou"]
    ev["relative"] = ev["miou"] / ev["name"].map(base)
    return ev.reset_index(drop=True)


def erf_maps(results, data: dict) -> dict:
    """{model name: {target: map}} of the ERFs measured (Figure 3's rows), read from results/released/erf/."""
    from .erf import TARGETS
    names = dict(zip(data["models"]["path"], data["models"]["name"])) if not data["models"].empty else {}
    maps = {}
    for r in data["erf"].itertuples():
        tag = f"{Path(r.source).stem or Path(r.source).name}_{r.erf_id}"
        maps[names.get(r.source, r.source)] = {t: np.load(Path(results) / "erf" / f"{tag}_{t}.npy") for t in TARGETS}
    return maps


def verdict_lines(claims, digits: int = 1) -> list:
    """One line per claim: its text, ours vs the paper's (rounded), the outcome and any unmet condition."""
    lines = []
    for c in claims:
        failed = [r.text for r in c.requires if r.outcome != HOLDS]
        lines.append(f"- {c.text}: {c.a.mean():.{digits}f} vs {float(c.b):.{digits}f} (tolerance {c.margin:g}): "
                     f"{c.outcome}" + (f" (condition not met: {'; '.join(failed)})" if failed else ""))
    return lines


STANDIN_CONFIG = """# Random-weight stand-ins in the released layouts, on made-up trees: the numbers mean nothing.
[datasets]
ade20k = "ADEChallengeData2016"
cityscapes = "cityscapes"

[[models]]
name = "stand-in B0 (ADE20K)"
path = "segformer.b0.512x512.ade.160k.pth"
dataset = "ade20k"
paper = "segformer_b0"

[[models]]
name = "stand-in DeepLabV3+ (Cityscapes)"
path = "deeplabv3plus_r50-d8_512x1024_80k_cityscapes.pth"
dataset = "cityscapes"
paper = "deeplabv3plus_r101"
scale = [256, 128]
mode = "whole"

[[models]]
name = "stand-in B0 (Cityscapes)"
path = "segformer.b0.1024x1024.city.160k.pth"
dataset = "cityscapes"
paper = "segformer_b5"
scale = [256, 128]
crop = [128, 128]
stride = [96, 96]

[settings]
erf_images = 2
erf_canvas = [64, 128]
corruptions = ["brightness", "gaussian_noise", "fog"]
"""


def standin_results(root, plan, progress: bool = False, log=print) -> Path:
    """The whole released_models path on stand-ins written under `root` (trees, checkpoints, released.toml), with
    `plan` (experiments/released_models.py's `plan()`): returns the filled results folder. For a first look and
    for the tests; the numbers mean nothing."""
    from .standins import make_ade20k_tree, make_cityscapes_tree, make_mmseg_deeplabv3plus, make_nvlabs_checkpoint
    root = Path(root)
    make_ade20k_tree(root / "ADEChallengeData2016")
    make_cityscapes_tree(root / "cityscapes")
    make_nvlabs_checkpoint(root / "segformer.b0.512x512.ade.160k.pth", 150)
    make_nvlabs_checkpoint(root / "segformer.b0.1024x1024.city.160k.pth", 19, seed=1)
    make_mmseg_deeplabv3plus(root / "deeplabv3plus_r50-d8_512x1024_80k_cityscapes.pth", 19, seed=2)
    (root / "released.toml").write_text(STANDIN_CONFIG)
    held = read_config(root / "released.toml")
    return run(held, root / "results" / "released", plan, progress=progress, log=log)

__all__ = ["HeldModel", "Held", "read_config", "run", "load", "clean", "table1a", "table5", "resolution_curves",
           "erf_maps", "verdict_lines", "standin_results", "FULL_SPLIT"]
