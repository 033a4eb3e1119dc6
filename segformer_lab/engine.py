"""Training: iteration-based, seeded, resumable, optionally distributed.

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
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import atomic_save, load_encoder_weights, save_pretrained
from .config import IGNORE, TrainConfig, open_datasets
from .data.sampling import IterationBatches, TrainSamples
from .evaluator import eval_kwargs, evaluate_model, evaluate_run
from .models.cnn import FCN, DeepLabV3, DeepLabV3Plus, ResNetMLP
from .preflight import preflight
from .pretrain import PretrainConfig, SHARED_RECIPE, pretrain, pretrained_path, recipe_for, resolve_device
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
    """The transforms of a training sample: mmseg's (random resize, crop, flip, photometric) or a crop and a flip."""
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
    """The model a run starts from: cfg.seed's initialisation, with the encoder weights cfg asks for. A pretraining
    made here leaves the random state as it found it, so the run trains as it does when the pretraining is cached
    (dropout and drop-path go on drawing from cfg.seed's stream)."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_classes, **cfg.model_overrides)
    if cfg.encoder_weights:
        with torch.random.fork_rng():
            path = encoder_checkpoint(cfg, rank, world, progress)
        load_encoder_weights(model, path)
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


# ---------------------------------------------------------------------------------------------- a run's steps
@dataclass
class RunContext:
    """What the steps of one run share: its config and directory, this process's place among the processes that
    train it, its device and its data."""

    cfg: TrainConfig
    run_dir: Path
    rank: int  # this process; rank 0 writes the run directory
    world: int  # the processes training the run
    device: torch.device
    samples: TrainSamples  # the training samples (transformed crops, drawn from (seed, epoch, index))
    val_source: object  # the validation images, `load(i)` -> (image, mask)
    classes: list  # class names
    things: list  # thing class indices

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"


def join_processes(cfg: TrainConfig) -> tuple:
    """(rank, world size, device) of this process. Under torchrun (WORLD_SIZE > 1) it joins the process group
    (gloo on the CPU, nccl on CUDA) and takes its local GPU; a batch the processes cannot share evenly is refused."""
    rank, world, local_rank = _dist_info()
    device = resolve_device(cfg.device)
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
        if cfg.batch_size % world:
            raise ValueError(f"TrainConfig.batch_size={cfg.batch_size} is not divisible by {world} processes")
    return rank, world, device


def open_run(cfg: TrainConfig, run_dir, rank: int, world: int, device: torch.device) -> RunContext:
    """The run's data, checked before anything is written: the datasets open (bad data fails here), then rank 0
    runs the preflight and refuses a run directory that holds another config."""
    train_source, val_source, classes, things = open_datasets(cfg)
    samples = TrainSamples(train_source, train_pipeline_for(cfg, train_source), cfg.seed)
    run = RunContext(cfg, Path(run_dir), rank, world, device, samples, val_source, classes, things)
    if rank == 0:
        preflight(cfg, samples, val_source, len(classes), device, world)
        check_saved_config(run)
    return run


def check_saved_config(run: RunContext) -> None:
    """The config.json of a run directory, if there is one, must hold this config. Rank 0 alone reads and writes
    it: no rank sees a half-written file."""
    config_file = run.run_dir / "config.json"
    if not config_file.is_file():
        return
    saved = TrainConfig.read(config_file)
    if saved != run.cfg:
        diff = {k: (v, getattr(run.cfg, k)) for k, v in dataclasses.asdict(saved).items() if getattr(run.cfg, k) != v}
        raise ValueError(f"{run.run_dir}: holds a run with another config (saved vs asked: {diff}); "
                         "use another run directory")


def start_state(run: RunContext, progress: bool = True) -> tuple:
    """(model, optimizer, start iteration, training seconds before this process) of the run: its checkpoint's
    state when there is one, else cfg.seed's initialisation. Rank 0 writes config.json once the model is built
    (a bad encoder file fails before)."""
    path = run.checkpoint_path
    ckpt = read_run_checkpoint(path, run.device) if path.is_file() else None
    model = initial_model(run.cfg, len(run.classes), run.rank, run.world, progress).to(run.device)
    if run.rank == 0:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        (run.run_dir / "config.json").write_text(json.dumps(run.cfg.to_dict(), indent=2))
    optimizer = torch.optim.AdamW(param_groups(model, run.cfg), lr=run.cfg.lr, betas=(0.9, 0.999))
    start, before = resume(run, model, optimizer, ckpt) if ckpt is not None else (0, 0.0)
    return model, optimizer, start, before


def resume(run: RunContext, model: nn.Module, optimizer, ckpt: dict) -> tuple:
    """Load a checkpoint into the model, the optimiser and the RNGs; (its iteration, the training seconds before
    it, NaN for checkpoints written without them). One of another model raises ValueError naming the file."""
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["iteration"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise ValueError(f"{run.checkpoint_path}: not a checkpoint of this run ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); {CORRUPT_CHECKPOINT}") from e
    torch.set_rng_state(ckpt["torch_rng"].cpu())  # the CPU generator's state (loaded onto the device by read)
    if run.device.type == "cuda" and "cuda_rng" in ckpt:
        torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), run.device)
    return start, ckpt.get("train_seconds", math.nan)


def for_device(model: nn.Module, run: RunContext) -> nn.Module:
    """The module the steps run through: the model (on CUDA with cuDNN tuned for the fixed crop, a CNN in NHWC),
    wrapped in DistributedDataParallel across processes, compiled if cfg.compile."""
    if run.device.type == "cuda":  # cuDNN's algorithms tuned for the fixed crop; the CNNs in NHWC, where bilinear
        torch.backends.cudnn.benchmark = True  # upsampling's backward runs 4-7x faster (MiT's layout: not measured)
        if isinstance(model, CNN_MODELS):
            model.to(memory_format=torch.channels_last)  # in place
    net = nn.parallel.DistributedDataParallel(model) if run.world > 1 else model
    return torch.compile(net) if run.cfg.compile else net


def batch_loader(run: RunContext, start: int):
    """This process's share of every training batch from iteration `start` on: drawn on the CPU by a DataLoader, or
    cut on the device from the scenes kept there (loader "bank", data/bank.py)."""
    cfg = run.cfg
    batches = IterationBatches(len(run.samples.source), cfg.batch_size, cfg.seed, start, cfg.iterations, run.rank,
                               run.world)
    if cfg.loader == "bank":
        from .data.bank import SceneBank, bank_batches
        from .pretrain import cache_root
        bank = SceneBank(run.samples.source, run.device, cfg.num_workers, cache=cache_root() / "banks")
        return bank_batches(bank, batches, cfg.seed)
    return torch.utils.data.DataLoader(run.samples, batch_sampler=batches, num_workers=cfg.num_workers,
                                       generator=torch.Generator().manual_seed(cfg.seed),
                                       persistent_workers=False, pin_memory=run.device.type == "cuda")


def train_step(net: nn.Module, optimizer, images: torch.Tensor, masks: torch.Tensor, it: int, run: RunContext,
               aux_weight) -> tuple:
    """One optimiser step at iteration `it` on images (B, 3, h, w) and masks (B, h, w): the learning rate of
    `lr_at`, the cross-entropy of the logits resized to the masks, plus SETR's auxiliary heads' at `aux_weight`.
    Returns (learning rate, loss); the loss is None, and no step is taken, for a batch with no labelled pixel."""
    lr = lr_at(it, run.cfg)
    for g in optimizer.param_groups:
        g["lr"] = lr * g["lr_mult"]
    # a batch with no labelled pixel has no loss: no step (checked where the masks are still on the CPU)
    if not (run.world > 1 or masks.device.type != "cpu" or bool((masks != IGNORE).any())):
        return lr, None
    images, masks = images.to(run.device, non_blocking=True), masks.to(run.device, non_blocking=True)
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.cfg.amp and run.device.type == "cuda"):
        logits, aux = net(images, return_aux=True) if aux_weight else (net(images), [])
    loss = sum(weight * F.cross_entropy(F.interpolate(out.float(), size=masks.shape[-2:], mode="bilinear",
                                                      align_corners=False), masks, ignore_index=IGNORE)
               for weight, out in [(1.0, logits)] + [(aux_weight, a) for a in aux])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return lr, loss


def save_checkpoint(run: RunContext, model: nn.Module, optimizer, it: int, seconds: float) -> None:
    """Rank 0 writes checkpoint.pt at iteration `it` (atomically); every process waits for it."""
    if run.rank == 0:
        state = {"iteration": it, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "torch_rng": torch.get_rng_state(), "config": run.cfg.to_dict(), "train_seconds": seconds}
        if run.device.type == "cuda":  # dropout and drop-path draw from the GPU's generator there
            state["cuda_rng"] = torch.cuda.get_rng_state(run.device)
        atomic_save(state, run.checkpoint_path)
    if run.world > 1:
        dist.barrier()


def train_steps(run: RunContext, model: nn.Module, net: nn.Module, optimizer, start: int, before: float,
                progress: bool = True) -> float:
    """Iterations `start` to cfg.iterations: a step per batch, a log line every log_every (rank 0), a checkpoint
    every checkpoint_every and a learning-curve point every eval_every. Returns the training seconds over every
    process that trained the run; Ctrl-C raises Interrupted naming the iteration the same command resumes from."""
    cfg = run.cfg
    aux_weight = getattr(model, "aux_heads", None) and model.config.aux_weight  # SETR's auxiliary losses
    loader = batch_loader(run, start)
    log = (run.run_dir / "log.jsonl").open("a") if run.rank == 0 else None
    bar = tqdm(total=cfg.iterations, initial=start, disable=not progress or run.rank != 0, desc=run.run_dir.name,
               dynamic_ncols=True)
    net.train()
    t0, seen = time.perf_counter(), 0
    done = saved = start  # the last iteration trained, the last one checkpointed
    try:
        for it, (images, masks) in enumerate(loader, start=start):
            lr, loss = train_step(net, optimizer, images, masks, it, run, aux_weight)
            seen += images.shape[0] * run.world
            done = it + 1
            logged = done % cfg.log_every == 0 or done == cfg.iterations
            if logged and run.world > 1:  # the log shows the global batch's loss: the mean of the processes'
                loss = loss.detach().clone()
                dist.all_reduce(loss)
                loss /= run.world
            if run.rank == 0 and logged:
                rate, value = seen / (time.perf_counter() - t0), math.nan if loss is None else loss.item()
                bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}", img_s=f"{rate:.1f}")
                log.write(json.dumps({"iteration": done, "loss": value, "lr": lr, "images_per_s": rate}) + "\n")
                log.flush()
            bar.update(1)
            if done % cfg.checkpoint_every == 0 or done == cfg.iterations:
                save_checkpoint(run, model, optimizer, done, before + time.perf_counter() - t0)
                saved = done
            if run.rank == 0 and cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.iterations:
                _append_curve(run.run_dir, done, evaluate_model(model, run.val_source, cfg, run.classes, run.things))
    except KeyboardInterrupt:
        raise Interrupted(f"{run.run_dir}: interrupted at iteration {done} of {cfg.iterations}; the same command "
                          f"resumes from iteration {saved}") from None
    finally:
        bar.close()
        if log:
            log.close()
    return before + time.perf_counter() - t0


def finish(run: RunContext, model: nn.Module, start: int, train_seconds: float) -> dict:
    """Rank 0 evaluates the trained model and writes metrics.json, the learning curve's last point and model.pt;
    every process waits for it. Returns the metrics (empty on the other ranks)."""
    metrics = {}
    if run.rank == 0:
        metrics = evaluate_model(model, run.val_source, run.cfg, run.classes, run.things)
        metrics.update(iterations=run.cfg.iterations, resumed_from=start, train_seconds=train_seconds)
        _append_curve(run.run_dir, run.cfg.iterations, metrics)
        (run.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        model.variant = run.cfg.model
        save_pretrained(model, run.run_dir / "model.pt")
    if run.world > 1:
        dist.barrier()
    return metrics


def train(cfg: TrainConfig, run_dir, progress: bool = True) -> dict:
    """Train (or resume) the run in `run_dir` and evaluate it; returns the final metrics.

    Under torchrun or a job of several processes (cluster.py; WORLD_SIZE > 1) each process trains on its share of
    every batch through DistributedDataParallel (gloo on the CPU, nccl on CUDA); rank 0 writes the run directory."""
    rank, world, device = join_processes(cfg)
    run = open_run(cfg, run_dir, rank, world, device)  # bad data or a bad config fail before anything is written
    model, optimizer, start, before = start_state(run, progress)
    if rank == 0:
        _trim_log(run.run_dir / "log.jsonl", start)  # lines past the checkpoint are written again from there
    net = for_device(model, run)
    train_seconds = train_steps(run, model, net, optimizer, start, before, progress)
    return finish(run, model, start, train_seconds)


def _append_curve(run_dir: Path, iteration: int, metrics: dict) -> None:
    """One learning-curve point in curve.jsonl: validation metrics at `iteration`."""
    point = {"iteration": iteration, **{k: metrics[k] for k in ("miou", "thing_miou", "stuff_miou", "macc", "aacc")}}
    with (run_dir / "curve.jsonl").open("a") as f:
        f.write(json.dumps(point) + "\n")


# Re-exported for the callers of this module (experiments, the runner, the command line, tests).
__all__ = ["TrainConfig", "open_datasets", "IterationBatches", "evaluate_model", "evaluate_run", "eval_kwargs",
           "PRETRAIN_FAMILY", "run_model", "train_pipeline_for", "param_groups", "lr_at", "pretrain_config",
           "encoder_checkpoint", "initial_model", "Interrupted", "read_run_checkpoint", "train"]
