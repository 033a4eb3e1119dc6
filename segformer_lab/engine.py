"""Training and evaluation engine: iteration-based, seeded, resumable, optionally distributed.

A run lives in a directory: `config.json` (the TrainConfig), `log.jsonl` (one line per logged iteration),
`checkpoint.pt` (model, optimiser, iteration and RNG states, written atomically every `checkpoint_every`
iterations) and, at the end, `metrics.json` and `model.pt` (loadable with `from_pretrained`).
Data order and augmentation are drawn from (seed, epoch, index), the model's randomness from a torch RNG
saved in the checkpoint: a run killed and resumed ends with the same weights and metrics as one that was not.

The config and its checks are in config.py, the checks made before a run directory is written in preflight.py,
the evaluation of a run in evaluator.py; their names used by callers of this module are importable from here.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import _atomic_save, load_encoder_weights, save_pretrained
from .config import IGNORE, TrainConfig, open_datasets
from .data.sampling import IterationBatches, TrainSamples
from .evaluator import eval_kwargs, evaluate_model, evaluate_run
from .models.cnn import FCN, DeepLabV3, DeepLabV3Plus, ResNetMLP
from .preflight import preflight
from .pretrain import SHARED_RECIPE, PretrainConfig, pretrain, pretrained_path, recipe_for, resolve_device
from .registry import build_model

# The scenes a family's "embedded" encoders are pretrained on: the context world, a probe of reach, and the fine
# world, the aerial one in 36 classes, have no pretraining of their own (their encoders start from the aerial one,
# as the paper's from ImageNet: a fine run's encoder is the 9-class runs').
PRETRAIN_FAMILY = {"aerial": "aerial", "street": "street", "context": "aerial", "fine": "aerial"}
CNN_MODELS = (ResNetMLP, DeepLabV3, DeepLabV3Plus, FCN)


# ---------------------------------------------------------------------------------------------- data
def run_model(cfg: TrainConfig):
    """A freshly built model of a run's config with its data's class count (for costs: weights play no part)."""
    return build_model(cfg.model, len(open_datasets(cfg)[2]), **cfg.model_overrides)


def train_pipeline_for(cfg: TrainConfig, source):
    from .data import transforms as T
    if cfg.augment == "mmseg":
        return T.train_pipeline((cfg.crop_size, cfg.crop_size), cfg.resize_scale)
    crop = [] if getattr(source, "random_view", False) else [T.RandomCrop((cfg.crop_size, cfg.crop_size))]
    return T.Compose(crop + [T.RandomFlip(0.5), T.Normalize(), T.to_tensors])  # synthetic views are crops already


# ---------------------------------------------------------------------------------------------- optimiser
def param_groups(model: nn.Module, cfg: TrainConfig) -> list:
    """AdamW groups: decoder at lr x head_lr_mult; no weight decay on norms, biases and position embeddings."""
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = name.startswith("decode_head.")
        no_decay = p.ndim <= 1 or "pos_embed" in name
        key = (head, no_decay)
        if key not in groups:
            groups[key] = {"params": [], "lr_mult": cfg.head_lr_mult if head else 1.0,
                           "weight_decay": 0.0 if no_decay else cfg.weight_decay}
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def lr_at(it: int, cfg: TrainConfig) -> float:
    """Base learning rate at iteration `it`: poly decay, with mmseg's linear warm-up over the first iterations."""
    lr = (cfg.lr - cfg.min_lr) * (1 - it / cfg.iterations) ** cfg.poly_power + cfg.min_lr
    if it < cfg.warmup_iters:
        lr *= 1 - (1 - it / cfg.warmup_iters) * (1 - cfg.warmup_ratio)
    return lr


# ---------------------------------------------------------------------------------------------- training
def _dist_info() -> tuple:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def pretrain_config(cfg: TrainConfig):
    """The PretrainConfig of a run's "embedded" encoder weights. One pretraining (PretrainConfig's seed) serves
    every seed of a run: the paper starts all runs from the same ImageNet weights, so the seed spread measures
    the segmentation training only. Its learning rate and weight decay follow cfg.pretrain_recipe."""
    recipe = recipe_for(cfg.model, cfg.model_overrides) if cfg.pretrain_recipe == "family" else SHARED_RECIPE
    return PretrainConfig(model=cfg.model, model_overrides=cfg.model_overrides,
                          crop_size=cfg.pretrain_crop or cfg.crop_size,
                          iterations=cfg.pretrain_iterations, scene_family=PRETRAIN_FAMILY[cfg.scene_family],
                          pretext=cfg.pretrain_pretext, **recipe)


def encoder_checkpoint(cfg: TrainConfig, rank: int = 0, world: int = 1, progress: bool = True) -> Path:
    """The encoder weights a run starts from: a path, or for "embedded" the cached pretraining (made by rank 0
    if missing)."""
    if cfg.encoder_weights != "embedded":
        return Path(cfg.encoder_weights)
    pcfg = pretrain_config(cfg)
    path = (pretrain(pcfg, progress=progress, device=cfg.device, num_workers=cfg.num_workers) if rank == 0
            else pretrained_path(pcfg))
    if world > 1:
        dist.barrier()
    return path


def initial_model(cfg: TrainConfig, num_classes: int, rank: int = 0, world: int = 1, progress: bool = True):
    """The model a run starts from: cfg.seed's initialisation, with the encoder weights cfg asks for."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_classes, **cfg.model_overrides)
    if cfg.encoder_weights:
        load_encoder_weights(model, encoder_checkpoint(cfg, rank, world, progress))
    return model


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; its message says where the run stopped and where the same command resumes."""


CORRUPT_CHECKPOINT = "delete it to start the run again, or restore it from a copy"


def read_run_checkpoint(path: Path, device) -> dict:
    """A run's checkpoint.pt, read as tensors and plain values only (weights_only): one that cannot be read, or
    holds anything else, raises ValueError naming the file and what to do."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises many types for a truncated, empty or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: unreadable run checkpoint ({first[:160]}); {CORRUPT_CHECKPOINT}") from e
    if not isinstance(ckpt, dict) or not {"iteration", "model", "optimizer", "torch_rng"} <= set(ckpt):
        raise ValueError(f"{path}: not a run checkpoint of this package (expected the keys iteration, model, "
                         f"optimizer, torch_rng); {CORRUPT_CHECKPOINT}")
    return ckpt


def _trim_log(path: Path, iteration: int) -> None:
    """Keep the lines of log.jsonl up to `iteration` (the checkpoint a run resumes from), and no torn last line."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["iteration"] <= iteration:
                kept.append(line)
        except (ValueError, KeyError, TypeError):  # a line cut by a kill
            break
    path.write_text("".join(line + "\n" for line in kept))


def _save_checkpoint(path: Path, model, optimizer, it: int, cfg: TrainConfig, rng_state, seconds: float,
                     device: torch.device | None = None) -> None:
    state = {"iteration": it, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "torch_rng": rng_state, "config": cfg.to_dict(), "train_seconds": seconds}
    if device is not None and device.type == "cuda":  # dropout and drop-path draw from the GPU's generator there
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    _atomic_save(state, path)


def train(cfg: TrainConfig, run_dir, progress: bool = True) -> dict:
    """Train (or resume) the run in `run_dir` and evaluate it; returns the final metrics.

    Under torchrun (WORLD_SIZE > 1) each process trains on its share of every batch through
    DistributedDataParallel (gloo on the CPU, nccl on CUDA); rank 0 writes the run directory."""
    run_dir = Path(run_dir)
    rank, world, local_rank = _dist_info()
    device = resolve_device(cfg.device)
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
        if cfg.batch_size % world:
            raise ValueError(f"TrainConfig.batch_size={cfg.batch_size} is not divisible by {world} processes")
    train_source, val_source, classes, things = open_datasets(cfg)  # bad data fails before anything is written
    samples = TrainSamples(train_source, train_pipeline_for(cfg, train_source), cfg.seed)
    if rank == 0:
        preflight(cfg, samples, val_source, len(classes), device, world)
    config_file = run_dir / "config.json"
    if rank == 0 and config_file.is_file():  # rank 0 alone reads and writes it: no rank sees a half-written file
        saved = TrainConfig.read(config_file)
        if saved != cfg:
            diff = {k: (v, getattr(cfg, k)) for k, v in dataclasses.asdict(saved).items() if getattr(cfg, k) != v}
            raise ValueError(f"{run_dir}: holds a run with another config (saved vs asked: {diff}); "
                             "use another run directory")
    ckpt_path = run_dir / "checkpoint.pt"
    ckpt = read_run_checkpoint(ckpt_path, device) if ckpt_path.is_file() else None
    model = initial_model(cfg, len(classes), rank, world, progress).to(device)  # a bad encoder file fails here
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        config_file.write_text(json.dumps(cfg.to_dict(), indent=2))
    groups = param_groups(model, cfg)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))
    start, before = 0, 0.0  # iterations and training seconds before this process
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            start = int(ckpt["iteration"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise ValueError(f"{ckpt_path}: not a checkpoint of this run ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}); {CORRUPT_CHECKPOINT}") from e
        torch.set_rng_state(ckpt["torch_rng"].cpu())  # the CPU generator's state (loaded onto `device` above)
        if device.type == "cuda" and "cuda_rng" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), device)
        before = ckpt.get("train_seconds", math.nan)  # unknown for checkpoints written without it
    if rank == 0:
        _trim_log(run_dir / "log.jsonl", start)  # lines past the checkpoint are written again from there
    if device.type == "cuda":  # cuDNN's algorithms tuned for the fixed crop; the CNNs in NHWC, where bilinear
        torch.backends.cudnn.benchmark = True  # upsampling's backward runs 4-7x faster (MiT's layout: not measured)
        if isinstance(model, CNN_MODELS):
            model = model.to(memory_format=torch.channels_last)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    aux_weight = getattr(model, "aux_heads", None) and model.config.aux_weight  # SETR's auxiliary losses

    batches = IterationBatches(len(train_source), cfg.batch_size, cfg.seed, start, cfg.iterations, rank, world)
    if cfg.loader == "bank":  # the scenes on the device, each batch cut there
        from .data.bank import SceneBank, bank_batches
        from .pretrain import cache_root
        bank = SceneBank(train_source, device, cfg.num_workers, cache=cache_root() / "banks")
        loader = bank_batches(bank, batches, cfg.seed)
    else:
        loader = torch.utils.data.DataLoader(samples, batch_sampler=batches, num_workers=cfg.num_workers,
                                             generator=torch.Generator().manual_seed(cfg.seed),
                                             persistent_workers=False, pin_memory=device.type == "cuda")
    log = (run_dir / "log.jsonl").open("a") if rank == 0 else None
    bar = tqdm(total=cfg.iterations, initial=start, disable=not progress or rank != 0, desc=run_dir.name,
               dynamic_ncols=True)
    amp = cfg.amp and device.type == "cuda"
    net.train()
    t0, seen, it = time.perf_counter(), 0, start
    done = saved = start  # the last iteration trained, the last one checkpointed
    try:
        for it, (images, masks) in enumerate(loader, start=start):
            lr = lr_at(it, cfg)
            for g in optimizer.param_groups:
                g["lr"] = lr * g["lr_mult"]
            loss = None
            # a batch with no labelled pixel has no loss: no step (checked where the masks are still on the CPU)
            if world > 1 or masks.device.type != "cpu" or bool((masks != IGNORE).any()):
                images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    logits, aux = net(images, return_aux=True) if aux_weight else (net(images), [])
                loss = sum(weight * F.cross_entropy(F.interpolate(out.float(), size=masks.shape[-2:],
                                                                  mode="bilinear", align_corners=False),
                                                    masks, ignore_index=IGNORE)
                           for weight, out in [(1.0, logits)] + [(aux_weight, a) for a in aux])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            seen += images.shape[0] * world
            done = it + 1
            if rank == 0 and (done % cfg.log_every == 0 or done == cfg.iterations):
                rate = seen / (time.perf_counter() - t0)
                value = math.nan if loss is None else loss.item()
                bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}", img_s=f"{rate:.1f}")
                log.write(json.dumps({"iteration": done, "loss": value, "lr": lr, "images_per_s": rate}) + "\n")
                log.flush()
            bar.update(1)
            if done % cfg.checkpoint_every == 0 or done == cfg.iterations:
                if rank == 0:
                    _save_checkpoint(ckpt_path, model, optimizer, done, cfg, torch.get_rng_state(),
                                     before + time.perf_counter() - t0, device)
                saved = done
                if world > 1:
                    dist.barrier()
            if rank == 0 and cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.iterations:
                _append_curve(run_dir, done, evaluate_model(model, val_source, cfg, classes, things))
    except KeyboardInterrupt:
        bar.close()
        if log:
            log.close()
        raise Interrupted(f"{run_dir}: interrupted at iteration {done} of {cfg.iterations}; the same command "
                          f"resumes from iteration {saved}") from None
    bar.close()
    train_seconds = before + time.perf_counter() - t0  # over every process that trained this run
    if log:
        log.close()
    metrics = {}
    if rank == 0:
        metrics = evaluate_model(model, val_source, cfg, classes, things)
        metrics.update(iterations=cfg.iterations, resumed_from=start, train_seconds=train_seconds)
        _append_curve(run_dir, cfg.iterations, metrics)
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        model.variant = cfg.model
        save_pretrained(model, run_dir / "model.pt")
    if world > 1:
        dist.barrier()
    return metrics


def _append_curve(run_dir: Path, iteration: int, metrics: dict) -> None:
    """One learning-curve point in curve.jsonl: validation metrics at `iteration`."""
    point = {"iteration": iteration, **{k: metrics[k] for k in ("miou", "thing_miou", "stuff_miou", "macc", "aacc")}}
    with (run_dir / "curve.jsonl").open("a") as f:
        f.write(json.dumps(point) + "\n")


__all__ = ["TrainConfig", "open_datasets", "IterationBatches", "PRETRAIN_FAMILY", "run_model", "train_pipeline_for",
           "param_groups", "lr_at", "pretrain_config", "encoder_checkpoint", "initial_model", "Interrupted",
           "read_run_checkpoint", "train", "eval_kwargs", "evaluate_model", "evaluate_run"]
