"""What a run checks before its directory is written: the model takes the crop, a training step fits in memory,
the data reads, and each split holds a labelled pixel. Each failure is a ValueError naming the field, file or split
and what to change (e.g. the largest batch_size that fits)."""
from __future__ import annotations

import os

import torch
from torch import nn

from .config import IGNORE, TrainConfig
from .evaluation import min_input_side
from .registry import build_model

TRAIN_MEMORY_FACTOR = 2  # activations kept for the backward pass and their gradients


def activation_bytes(model: nn.Module, side: int) -> int:
    """Bytes of every leaf module's output for one image of side x side (a forward at batch 1): what training
    keeps for the backward pass, roughly, per image."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else [output]:
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            model(torch.zeros(1, 3, side, side, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def available_memory(device: torch.device) -> int:
    """Bytes free for a run on `device`: the GPU's free memory, or the machine's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(cfg: TrainConfig, samples, num_classes: int, device: torch.device, world: int = 1) -> None:
    """The model takes the crop (a forward at batch 1) and one process's share of a training step fits in the
    memory `device` has available: activations, weights, gradients and AdamW's moments (and the bank's scenes)."""
    with torch.random.fork_rng(devices=[]):
        model = build_model(cfg.model, num_classes, **cfg.model_overrides).to(device)
    smallest = min_input_side(model)
    if cfg.crop_size < smallest:
        raise ValueError(f"TrainConfig.crop_size={cfg.crop_size}: {cfg.model} takes inputs of at least {smallest}x"
                         f"{smallest} px (a smaller one leaves a later stage no pixel for its kernel); expected "
                         f"crop_size >= {smallest}")
    per_image = activation_bytes(model, cfg.crop_size)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    batch = max(1, cfg.batch_size // world)
    need = TRAIN_MEMORY_FACTOR * per_image * batch + 4 * weights  # weights, gradients and AdamW's two moments
    if cfg.loader == "bank":  # every training scene, whole, as uint8 image and mask
        from .data.bank import bank_bytes
        need += bank_bytes(samples.source)
    free = available_memory(device)
    if need > free:
        fits = max(0, int((free - 4 * weights) // (TRAIN_MEMORY_FACTOR * per_image)))
        raise ValueError(f"TrainConfig.batch_size={cfg.batch_size}: a training step of {cfg.model} at "
                         f"{cfg.crop_size} px needs about {_gib(need)} ({_gib(per_image)} of activations per image, "
                         f"measured by a forward at batch 1), but {device} has {_gib(free)} available; expected a "
                         f"batch_size of at most {fits * world}")


def check_data(cfg: TrainConfig, samples, val_source) -> None:
    """The first training sample and validation image read and transform (a bad file or layout fails here), and
    each split of a real dataset holds a labelled pixel."""
    samples[(0, 0)]
    if len(val_source):
        val_source.load(0)
    for split, source in (("train", samples.source), ("val", val_source)):
        if getattr(source, "pairs", None) is not None and not any((source.load(i)[1] != IGNORE).any()
                                                                  for i in range(len(source))):
            raise ValueError(f"{cfg.dataset} dataset {cfg.data_root}, {split} split "
                             f"({getattr(cfg, split + '_split') or 'default'}): no labelled pixel (every mask pixel "
                             f"is {IGNORE}, ignored), so nothing to train on or score")


def preflight(cfg: TrainConfig, samples, val_source, num_classes: int, device: torch.device, world: int = 1) -> None:
    """What can be checked before a run directory is written (check_memory, then check_data). Raises ValueError
    naming the field, file or split."""
    check_memory(cfg, samples, num_classes, device, world)
    check_data(cfg, samples, val_source)
