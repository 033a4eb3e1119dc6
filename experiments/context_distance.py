"""How far does each encoder integrate? The mechanism Table 1d names, made measurable.

The paper explains why the light All-MLP decoder works on MiT and not on a CNN: a CNN's effective receptive
field is limited, so a decoder with no context module of its own starves. The context world
(segformer_lab.data.synthetic.ContextScene) has thing classes whose identity only their surroundings at a set
distance d decide: identical tokens, each at the centre of a ring whose middle lies d pixels away, the ring's
texture setting the token's class. Accuracy on the tokens against d measures how far a model reaches.

MiT-B1 and ResNet-18 with the same MLP decoder (C = 256), and DeepLabV3-R18 (ASPP, output stride 16) as the
context-module reference, from the embedded pretraining (aerial scenes: the context world has none of its
own), at d from well inside to well outside ResNet-18's measured ERF at the 128 px training crop. Validation on
whole 512x512 scenes with sliding 128 px windows (the training crop). Beside each run, its ERF measured on the
same task: the share of its mass within d of the centre and the radius holding half of it, for stage 4 and for
the decoder head (the map each pixel's prediction comes from).
Its claims and figure are Table 1d's (experiments/decoder_vs_cnn.py: `context_claims`, `context_table`, the
figure decoder_vs_cnn.context).
"""
from __future__ import annotations

import json
from pathlib import Path

from segformer_lab import from_pretrained
from segformer_lab.ablation import Experiment
from segformer_lab.data.synthetic import C_TOKEN_A, C_TOKEN_B
from segformer_lab.engine import TrainConfig, open_datasets
from segformer_lab.erf import erf_map, mass_within, radius_holding
from segformer_lab.presets import standard_presets
from segformer_lab.repo import load_experiment

DISTANCES = (8, 24, 48)  # pixels at the training scale; ResNet-18's stage-4 ERF holds half its mass in ~28 px
BASE = TrainConfig(model="segformer_b1", scene_family="context", crop_size=128, val_canvas=(512, 512),
                   eval_mode="slide", encoder_weights="embedded")
ENCODERS = {
    "mit_b1": {"model": "segformer_b1"},
    "resnet18_mlp": {"model": "resnet18_mlp", "model_overrides": {"decoder_dim": 256}},
    "deeplabv3_r18": {"model": "deeplabv3_r18", "model_overrides": {"output_stride": 16}},
}
VARIANTS = {f"{enc}_d{d}": {**fields, "context_distance": float(d)} for enc, fields in ENCODERS.items()
            for d in DISTANCES}
PRESETS = standard_presets(
    smoke={"crop_size": 64, "val_canvas": [64, 64], "pretrain_iterations": 2, "val_scenes": 2},
    quick={"pretrain_iterations": 8, "val_scenes": 8},
    default={"iterations": 500, "pretrain_iterations": 1000, "val_scenes": 25},
    gpu={"pretrain_iterations": 2000, "val_scenes": 50},
)
# smoke: every encoder at the distances a 64 px crop holds; quick: the two MLP-decoder encoders at both ends.
PRESET_VARIANTS = {"smoke": [f"{enc}_d{d}" for enc in ENCODERS for d in (8, 24)],
                   "quick": [f"{enc}_d{d}" for enc in ("mit_b1", "resnet18_mlp") for d in (8, 48)]}
ERF_IMAGES = 16  # validation crops the ERF is averaged over
ERF_TARGETS = ("stage4", "head")
EXTRA_COLUMNS = (["context_distance", "context_accuracy", "token_recall", "context_choice_accuracy"]
                 + [f"erf_{t}_{m}" for t in ERF_TARGETS for m in ("within_d", "r50")])


def context_accuracy(confusion: list) -> dict:
    """From a (K, K) confusion matrix (rows: truth): `context_accuracy`, the share of token pixels predicted as
    a token that got the right token class (0.5 is a coin flip: the ring was not used), and `token_recall`, the
    share of token pixels predicted as either token class (the tokens were found at all)."""
    a, b = C_TOKEN_A, C_TOKEN_B
    right = confusion[a][a] + confusion[b][b]
    as_token = right + confusion[a][b] + confusion[b][a]
    tokens = sum(confusion[a]) + sum(confusion[b])
    return {"context_accuracy": right / as_token if as_token else float("nan"),
            "token_recall": as_token / tokens if tokens else float("nan")}


def choice_accuracy(model, source, cfg: TrainConfig) -> float:
    """The forced choice between the two token classes on every token pixel of `source`: the share whose
    token_a logit beats the token_b logit when the truth is token_a, and the other way round. Unlike
    context_accuracy it does not depend on whether the model calls the pixel a token at all: a model that
    cannot see the ring is at 0.5 however well it finds the tokens."""
    import torch

    from segformer_lab.data.transforms import eval_pipeline
    from segformer_lab.engine import eval_kwargs
    from segformer_lab.evaluation import infer
    prepare, right, total = eval_pipeline(), 0, 0
    model.eval()
    with torch.no_grad():
        for i in range(len(source)):
            image, mask = prepare(*source.load(i))
            logits = infer(model, image[None], **eval_kwargs(cfg))[0]  # (K, H, W)
            token = (mask == C_TOKEN_A) | (mask == C_TOKEN_B)
            says_a = logits[C_TOKEN_A] > logits[C_TOKEN_B]
            right += int((says_a == (mask == C_TOKEN_A))[token].sum())
            total += int(token.sum())
    return right / total if total else float("nan")


def token_windows(cfg: TrainConfig) -> list:
    """(scene, x0, y0) of crop-size windows centred on a token of each of `ERF_IMAGES` validation scenes, the
    first token whose window lies inside its scene (a scene with none is skipped)."""
    from segformer_lab.data.synthetic import ContextConfig, SyntheticScenes
    context = ContextConfig(distance=cfg.context_distance)
    scenes = SyntheticScenes("val", ERF_IMAGES, cfg.seed, canvas=(cfg.crop_size, cfg.crop_size),
                             family="context", context=context)
    half, windows = cfg.crop_size / 2, []
    for i in range(ERF_IMAGES):
        scene = scenes.scene(i)
        inside = next(((cx, cy) for cx, cy, _ in scene.tokens
                       if half <= min(cx, cy) and max(cx, cy) <= context.world_size - half), None)
        if inside is not None:
            windows.append((scene, inside[0] - half, inside[1] - half))
    if not windows:
        raise ValueError(f"no token of {ERF_IMAGES} validation scenes lies {half:g} units inside its scene "
                         f"(ContextConfig.world_size {context.world_size:g}): no ERF window to measure")
    return windows


def erf_images(cfg: TrainConfig, batch: int = 8) -> list:
    """Batches of normalised token-centred windows (token_windows)."""
    import torch

    from segformer_lab.data.transforms import eval_pipeline
    prepare, size = eval_pipeline(), cfg.crop_size
    images = [prepare(*scene.render(x0, y0, size, size))[0] for scene, x0, y0 in token_windows(cfg)]
    return [torch.stack(images[i:i + batch]) for i in range(0, len(images), batch)]


def extra_metrics(run_dir: Path, cfg: TrainConfig, results_dir="results") -> dict:
    """The run's context distance, token accuracy from its confusion matrix, and its ERF on token-centred
    windows."""
    row = {"context_distance": cfg.context_distance,
           **context_accuracy(json.loads((Path(run_dir) / "metrics.json").read_text())["confusion"])}
    model, images = from_pretrained(Path(run_dir) / "model.pt"), erf_images(cfg)
    row["context_choice_accuracy"] = choice_accuracy(model, open_datasets(cfg)[1], cfg)
    for target in ERF_TARGETS:
        erf = erf_map(model, images, target)
        row[f"erf_{target}_within_d"] = mass_within(erf, cfg.context_distance)
        row[f"erf_{target}_r50"] = radius_holding(erf, 0.5)
    return row


def analysis(results_dir, preset: str, runs_dir) -> None:
    """Fill in context_choice_accuracy for rows written before it existed, from their run directories (rows
    whose run directory is gone keep NaN)."""
    from segformer_lab.results import read_rows, write_csv
    from segformer_lab.runner import columns
    out = Path(results_dir) / "context_distance.csv"
    rows = read_rows(out)
    missing = [r for r in rows if r["preset"] == preset and r.get("context_choice_accuracy", "") in ("", "nan")]
    changed = False
    for row in missing:
        run_dir = Path(runs_dir) / "context_distance" / f"{row['variant']}_s{row['seed']}_{row['run_id']}"
        if (run_dir / "model.pt").is_file():
            cfg = TrainConfig.read(run_dir / "config.json")
            row["context_choice_accuracy"] = choice_accuracy(from_pretrained(run_dir / "model.pt"),
                                                             open_datasets(cfg)[1], cfg)
            changed = True
    if changed:
        write_csv(out, rows, columns(load_experiment("context_distance")))


EXPERIMENT = Experiment(
    name="context_distance", base=BASE, variants=VARIANTS, presets=PRESETS, preset_variants=PRESET_VARIANTS,
    extra_columns=EXTRA_COLUMNS, extra_metrics=extra_metrics, analysis=analysis,
)
