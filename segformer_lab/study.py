"""The lab's instruments on the models and datasets a user holds: evaluate any loadable model on ADE20K,
Cityscapes or a folder dataset under its standard protocol (segformer_lab/protocols.py), with Table 5's
corruptions and test-time resolution changes as extra evaluations. The scoring is the lab's own evaluator
(segformer_lab/evaluator.py), which also scores the lab's runs.

SOURCE is a run directory of `segformer-lab train`, a checkpoint file of ours, a transformers folder, or an
NVlabs / mmseg / torchvision `.pth` (segformer_lab/checkpoints.py). Images stream one at a time: only the
(K, K) confusion matrix grows with the dataset, so memory stays flat. Every evaluation writes, under `out`:
- `evaluations.csv`: one tidy row (identity, protocol, study, metrics, cost, provenance incl. the weights' sha256);
- `evaluations_per_class.csv`: one row per (evaluation, class) with IoU and accuracy;
- `<eval_id>.md`: the same as a markdown table.
An evaluation already in `evaluations.csv` (same weights, data, protocol and study) is skipped, so a long
corruption grid resumes where it stopped. Inputs are checked before anything is written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data.real import DATASETS, DatasetError, open_dataset
from .evaluator import evaluate
from .protocols import Protocol, protocol_for
from .results import provenance, read_rows, write_csv

COLUMNS = ["eval_id", "source", "format", "variant", "sha256", "dataset", "root", "split", "protocol", "mode",
           "scale", "size_divisor", "crop", "stride", "ratios", "flip", "resolution", "corruption", "severity",
           "images", "miou", "macc", "aacc", "seconds", "seconds_per_image", "git_commit", "torch_version",
           "device", "cpu_model", "date"]
CLASS_COLUMNS = ["eval_id", "class_index", "class_name", "iou", "acc"]


@dataclass(frozen=True)
class Study:
    """One evaluation's test-time change: a Table 5 corruption at a severity, and/or a rescale of the protocol's
    size (the Mix-FFN resolution study)."""

    corruption: str | None = None  # a name of segformer_lab.corruptions.CORRUPTIONS, or None (clean)
    severity: int | None = None  # 1-5 with a corruption
    resolution: float = 1.0  # times the protocol's test size

    def label(self) -> str:
        parts = [f"{self.corruption}_s{self.severity}"] if self.corruption else []
        if self.resolution != 1.0 or not parts:
            parts.append(f"res{self.resolution:g}")
        return "_".join(parts)


def plan_studies(corruptions=None, severities=(1, 2, 3, 4, 5), resolutions=None) -> list:
    """The evaluations of a command: the clean one, one per (corruption, severity), one per resolution."""
    from .corruptions import parse_corruptions, parse_severities
    studies = [Study()]
    if corruptions:
        names, levels = parse_corruptions(corruptions), parse_severities(severities)
        studies += [Study(name, s) for name in names for s in levels]
    for r in resolutions or ():
        if not (isinstance(r, (int, float)) and math.isfinite(r) and r > 0):
            raise ValueError(f"--resolutions: {r!r} is not a positive factor of the protocol's size")
        if Study(resolution=float(r)) not in studies:
            studies.append(Study(resolution=float(r)))
    return studies


def parse_data(spec: str) -> tuple:
    """"NAME:ROOT[:SPLIT]" -> (name, root, split or None); an unknown name or a missing root raises ValueError."""
    name, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(f"--data {spec!r}: expected NAME:ROOT[:SPLIT] with NAME one of {sorted(DATASETS)}")
    if name not in DATASETS:
        raise ValueError(f"--data {spec!r}: unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    root, split = rest, None
    head, sep, tail = rest.rpartition(":")
    if sep and head and "/" not in tail and not Path(rest).exists():
        root, split = head, tail
    return name, root, split


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(source: Path) -> Path:
    """The file holding a SOURCE's weights: a run's model.pt, a transformers folder's weights file, or the file."""
    if source.is_dir():
        for name in ("model.pt", "model.safetensors", "pytorch_model.bin"):
            if (source / name).is_file():
                return source / name
        raise FileNotFoundError(f"{source}: a run directory (model.pt) or a transformers folder "
                                f"(model.safetensors or pytorch_model.bin) was expected; found "
                                f"{sorted(p.name for p in source.iterdir())[:10]}")
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such checkpoint file or folder")
    return source


def load_source(source, num_classes: int | None = None, device: str = "cpu", trust: bool = False) -> tuple:
    """Any SOURCE -> (model in eval mode on `device` ("auto": cuda if available), info dict: source, format,
    variant, sha256, num_classes, device (resolved)). trust=True reads a pickle that holds more than tensors
    (only for a file you trust: unpickling can run code)."""
    from .checkpoints import from_pretrained
    from .pretrain import resolve_device
    device = str(resolve_device(device))
    path = Path(source)
    weights = weights_file(path)
    load_path = weights if weights.name == "model.pt" else path
    model = from_pretrained(load_path, num_classes=num_classes, trust=trust).to(device).eval()
    info = {"source": str(path), "format": getattr(model, "checkpoint_format", ""),
            "variant": getattr(model, "variant", "") or "", "sha256": sha256_of(weights),
            "num_classes": model.config.num_classes, "device": device}
    return model, info


def check_fit(info: dict, dataset, name: str) -> None:
    """A model whose class count does not fit the dataset's is refused before anything runs."""
    if info["num_classes"] != len(dataset.classes):
        raise ValueError(f"{info['source']}: the checkpoint predicts {info['num_classes']} classes but {name} has "
                         f"{len(dataset.classes)} ({', '.join(dataset.classes[:3])}, ...); evaluate it on the dataset "
                         "it was trained for")


def eval_id(info: dict, name: str, root, split, protocol: Protocol, study: Study, max_images) -> str:
    """A short hash naming one evaluation: the weights, the data, the protocol, the study and the image count."""
    key = json.dumps([info["sha256"], name, str(Path(root).resolve()), split, dataclasses.asdict(protocol),
                      dataclasses.asdict(study), max_images], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def save_prediction(out_dir: Path, stem: str, image: np.ndarray, labels: np.ndarray, palette) -> None:
    """`labels/<stem>.png` (class indices as evaluated) and `overlays/<stem>.png` (half image, half class colour)."""
    from PIL import Image
    mode = "L" if labels.max(initial=0) < 256 else "I"
    stored = labels.astype(np.uint8 if mode == "L" else np.int32)
    Image.fromarray(stored, mode=mode).save(out_dir / "labels" / f"{stem}.png")
    colours = np.asarray(palette, dtype=np.float32)[labels]  # (H, W, 3)
    overlay = (0.5 * image.astype(np.float32) + 0.5 * colours).round().astype(np.uint8)
    Image.fromarray(overlay).save(out_dir / "overlays" / f"{stem}.png")


def score(model: nn.Module, dataset, protocol: Protocol, study: Study, max_images: int | None = None,
          predictions: Path | None = None, progress: bool = True, desc: str = "") -> dict:
    """Stream the dataset through the model (evaluator.evaluate): {"confusion", "miou", "macc", "aacc", "iou", "acc",
    "images", "seconds"}; with `predictions`, the label and overlay PNGs of each image are written there."""
    from .corruptions import CorruptedSource
    source = CorruptedSource(dataset, study.corruption, study.severity) if study.corruption else dataset

    def save(i: int, image: np.ndarray, labels: np.ndarray) -> None:
        save_prediction(predictions, dataset.name(i), image, labels, dataset.palette)
    result = evaluate(model, source, protocol, dataset.classes, resolution=study.resolution, max_images=max_images,
                      on_prediction=save if predictions is not None else None, progress=progress, desc=desc)
    return {k: result[k] for k in ("miou", "macc", "aacc", "iou", "acc", "confusion", "images", "seconds")}


def markdown(row: dict, classes: list, result: dict) -> str:
    """One evaluation as markdown: its identity, the three metrics and the per-class table."""
    lines = [f"# {Path(row['source']).name} on {row['dataset']} ({row['split'] or 'all'})", "",
             f"- protocol: {row['protocol_text']}",
             f"- study: {row['study']}",
             f"- weights: {row['format']} {row['variant']}, sha256 {row['sha256']}",
             f"- images: {row['images']}; {row['seconds_per_image']:.3f} s per image on {row['device']}", "",
             "| mIoU | mAcc | aAcc |", "|---|---|---|",
             f"| {row['miou']:.2f} | {row['macc']:.2f} | {row['aacc']:.2f} |", "",
             "| class | IoU | Acc |", "|---|---|---|"]

    def fmt(v: float) -> str:
        return "n/a" if math.isnan(v) else f"{v:.2f}"
    lines += [f"| {name} | {fmt(iou)} | {fmt(acc)} |" for name, iou, acc in zip(classes, result["iou"], result["acc"])]
    return "\n".join(lines) + "\n"


def evaluate_source(source, data: str, out="results/evaluations", protocol: str | None = None,
                    max_images: int | None = None, save_predictions=None, corruptions=None,
                    severities=(1, 2, 3, 4, 5), resolutions=None, device: str = "auto", force: bool = False,
                    progress: bool = True, log=print, trust: bool = False, **overrides) -> list:
    """Evaluate SOURCE on `data` ("NAME:ROOT[:SPLIT]") under the dataset's protocol (or `protocol`, with
    `overrides` of its fields: mode, crop, stride, scale, size_divisor, ratios, flip, split); one row per study.

    Everything is checked first (dataset layout, checkpoint, class count, protocol, studies); the rows of finished
    evaluations are written as each ends, predictions (if asked) go to `save_predictions` only once complete.
    Returns the rows (dicts), skipped evaluations included as they were written before."""
    if max_images is not None and max_images < 1:
        raise ValueError(f"--max-images {max_images}: expected a positive number of images")
    name, root, split = parse_data(data)
    chosen = protocol_for(name, protocol, split=split, **overrides)
    dataset = open_dataset(name, root, chosen.split)
    studies = plan_studies(corruptions, severities, resolutions)
    model, info = load_source(source, device=device, trust=trust)
    device = info["device"]
    check_fit(info, dataset, f"{name} ({root})")
    out = Path(out)
    predictions = Path(save_predictions) if save_predictions else None
    if predictions is not None and predictions.exists() and any(predictions.iterdir()):
        raise FileExistsError(f"--save-predictions {predictions}: the folder exists and is not empty")
    changed = chosen != protocol_for(name, protocol, split=split)
    log(f"protocol: {chosen.describe()} [{'changed from ' if changed else ''}{chosen.source}]")
    log(f"model: {info['source']} ({info['format']}, {info['variant']}, {info['num_classes']} classes, "
        f"sha256 {info['sha256'][:12]}); {len(dataset)} images in {root}")

    rows, done = [], {r["eval_id"]: r for r in read_rows(out / "evaluations.csv")}
    for study in studies:
        eid = eval_id(info, name, root, chosen.split, chosen, study, max_images)
        if eid in done and not force:
            log(f"{study.label()}: done before ({eid}), mIoU {float(done[eid]['miou']):.2f}")
            rows.append(done[eid])
            continue
        target = None
        if predictions is not None:
            final = predictions / study.label() if len(studies) > 1 else predictions
            target = final.with_name(final.name + ".partial")
            shutil.rmtree(target, ignore_errors=True)
            for sub in ("labels", "overlays"):
                (target / sub).mkdir(parents=True)
        try:
            result = score(model, dataset, chosen, study, max_images, target, progress, desc=study.label())
        except BaseException:
            if target is not None:
                shutil.rmtree(target, ignore_errors=True)
            raise
        if target is not None:
            if final.exists():
                final.rmdir()  # the empty folder checked above
            target.rename(final)
        row = {"eval_id": eid, **{k: info[k] for k in ("source", "format", "variant", "sha256")}, "dataset": name,
               "root": str(root), "split": chosen.split or "", "protocol": chosen.name, "mode": chosen.mode,
               "scale": size_text(chosen.scale), "size_divisor": chosen.size_divisor or "",
               "crop": size_text(chosen.crop), "stride": size_text(chosen.stride),
               "ratios": size_text(chosen.ratios), "flip": chosen.flip,
               "resolution": study.resolution, "corruption": study.corruption or "", "severity": study.severity or "",
               "images": result["images"], "miou": result["miou"], "macc": result["macc"], "aacc": result["aacc"],
               "seconds": result["seconds"], "seconds_per_image": result["seconds"] / max(result["images"], 1),
               **provenance(device)}
        md = {**row, "protocol_text": chosen.describe(), "study": study.label()}
        _write(out, row, dataset.classes, result, md)
        if study == Study():  # the clean evaluation's per-class table; the studies' are in their .md files
            log(markdown(md, dataset.classes, result).split("\n\n", 3)[-1].rstrip())
        log(f"{study.label()}: mIoU {row['miou']:.2f}  mAcc {row['macc']:.2f}  aAcc {row['aacc']:.2f}  "
            f"({row['seconds_per_image']:.3f} s/image) -> {out / (eid + '.md')}")
        rows.append(row)
    return rows


ERF_CANVAS = {"ade20k": (512, 512), "cityscapes": (1024, 2048)}  # (h, w); a folder's: its smallest protocol input
ERF_COLUMNS_HEAD = ["erf_id", "source", "format", "variant", "sha256", "dataset", "root", "split", "protocol",
                    "canvas_h", "canvas_w", "images", "skipped", "seconds"]


def erf_columns() -> list:
    """The ERF CSV's columns: identity, then per target and threshold the side of the centred square holding that
    share of the mass, as a fraction of the canvas height and in pixels, then provenance."""
    from .erf import TARGETS, THRESHOLDS
    sides = [f"erf_{target}_t{t}{unit}" for target in TARGETS for t in THRESHOLDS for unit in ("", "_px")]
    return ERF_COLUMNS_HEAD + sides + ["git_commit", "torch_version", "device", "cpu_model", "date"]


def centre_crop(x: torch.Tensor, size) -> torch.Tensor | None:
    """(B, C, H, W) -> its centred (B, C, h, w) window, or None when the image is smaller than `size`."""
    (h, w), (height, width) = size, x.shape[-2:]
    if height < h or width < w:
        return None
    top, left = (height - h) // 2, (width - w) // 2
    return x[..., top:top + h, left:left + w]


def erf_source(source, data: str, out="results/erf_held", images: int = 100, canvas=None,
               protocol: str | None = None, device: str = "auto", progress: bool = True, log=print,
               trust: bool = False, **overrides) -> dict:
    """Figure 3 for any loadable model: the ERF of the four encoder stages and the head at the central output
    location, averaged over the first `images` images of `data` ("NAME:ROOT[:SPLIT]"), each prepared as the
    protocol prepares it (resize, normalisation) and cut to its centred `canvas` (h, w) (default ERF_CANVAS; an
    image smaller than the canvas is skipped and counted). Writes under `out`: `<tag>_<target>.npy` maps,
    `<tag>_erf.png` (the Figure-3 row) and a row of `erf_held.csv` with the area ratios; returns that row."""
    from tqdm.auto import tqdm

    from .erf import TARGETS, area_ratios, erf_map
    from .plotting import erf_figure, save
    from .protocols import protocol_input, resize_steps
    if images < 1:
        raise ValueError(f"--images {images}: expected a positive number of images")
    name, root, split = parse_data(data)
    chosen = protocol_for(name, protocol, split=split, **overrides)
    dataset = open_dataset(name, root, chosen.split)
    model, info = load_source(source, device=device, trust=trust)
    device = info["device"]
    if not hasattr(model, "backbone"):
        raise ValueError(f"{source}: the ERF of the encoder stages needs a model with a `backbone` "
                         f"({type(model).__name__} has none)")
    n = min(images, len(dataset))
    inputs = (protocol_input(dataset.load(i)[0], chosen, 1.0, device) for i in range(n))
    if canvas is None and name not in ERF_CANVAS:  # a folder: the smallest prepared image fits every one
        shapes = [dataset.load(i)[0].shape[:2] for i in range(n)]
        sizes = [(resize_steps(chosen, *shape) or [shape])[-1] for shape in shapes]
        canvas = (min(s[0] for s in sizes), min(s[1] for s in sizes))
    canvas = tuple(canvas or ERF_CANVAS[name])
    if len(canvas) != 2 or min(canvas) < 32:
        raise ValueError(f"--canvas {canvas}: expected H W of at least 32 pixels each")
    log(f"protocol: {chosen.describe()}; ERF on the centred {canvas[0]}x{canvas[1]} of each prepared image")
    sums, used, start = {t: 0.0 for t in TARGETS}, 0, time.perf_counter()
    for x in tqdm(inputs, total=n, desc="erf", unit="image", disable=not progress, leave=False):
        x = centre_crop(x, canvas)
        if x is None:
            continue
        for target in TARGETS:
            sums[target] = sums[target] + erf_map(model, [x], target)
        used += 1
    if used == 0:
        raise ValueError(f"no image of the first {n} in {root} covers the {canvas[0]}x{canvas[1]} canvas after "
                         f"the protocol's resize; pass a smaller --canvas")
    maps = {t: sums[t] / used for t in TARGETS}
    eid = eval_id(info, name, root, chosen.split, chosen, Study(), [n, list(canvas)])
    tag = f"{Path(info['source']).stem or Path(info['source']).name}_{eid}"
    row = {"erf_id": eid, **{k: info[k] for k in ("source", "format", "variant", "sha256")}, "dataset": name,
           "root": str(root), "split": chosen.split or "", "protocol": chosen.name, "canvas_h": canvas[0],
           "canvas_w": canvas[1], "images": used, "skipped": n - used, "seconds": time.perf_counter() - start}
    for target, erf in maps.items():
        for t, (side, _) in area_ratios(erf).items():
            row[f"erf_{target}_t{t}"] = side
            row[f"erf_{target}_t{t}_px"] = round(side * canvas[0])
    row.update(provenance(device))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for target, erf in maps.items():
        np.save(out / f"{tag}_{target}.npy", erf.astype(np.float32))
    label = f"{info['variant'] or Path(info['source']).name} ({used} images, {canvas[0]}x{canvas[1]})"
    save(erf_figure({label: maps}), out / f"{tag}_erf.png")
    _replace_rows(out / "erf_held.csv", "erf_id", eid, [row], erf_columns())
    log(f"ERF of {used} image(s) ({n - used} skipped): " + ", ".join(
        f"{t} {row[f'erf_{t}_t0.5_px']} px" for t in TARGETS) + f" (side holding half the mass) -> {out}/{tag}_*")
    return row

def _replace_rows(path: Path, key: str, value: str, rows: list, columns: list) -> None:
    """Rewrite the CSV `path` (atomically) with its rows whose `key` is `value` replaced by `rows`."""
    kept = [r for r in read_rows(path) if r[key] != value]
    write_csv(path, kept + rows, columns)

def size_text(value) -> str:
    """A tuple as 'a x b' text for the CSV ('' for None)."""
    return "" if value is None else "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)


def _write(out: Path, row: dict, classes: list, result: dict, md_row: dict) -> None:
    """Replace this evaluation's rows in the two CSVs and write its markdown table (each file atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    eid = row["eval_id"]
    per_class = [{"eval_id": eid, "class_index": i, "class_name": c, "iou": iou, "acc": acc}
                 for i, (c, iou, acc) in enumerate(zip(classes, result["iou"], result["acc"]))]
    _replace_rows(out / "evaluations_per_class.csv", "eval_id", eid, per_class, CLASS_COLUMNS)
    (out / f"{eid}.md").write_text(markdown(md_row, classes, result))
    _replace_rows(out / "evaluations.csv", "eval_id", eid, [row], COLUMNS)  # last: its row marks the whole done


__all__ = ["Study", "plan_studies", "parse_data", "load_source", "evaluate_source", "score", "COLUMNS",
           "CLASS_COLUMNS", "DatasetError", "erf_source", "ERF_CANVAS"]
