"""Cost accounting: parameters, FLOPs, latency and peak memory of a model at an input size.

FLOPs come from `torch.utils.flop_counter`, which counts 2 FLOPs per multiply-accumulate (MAC) for convs and
matmuls and ignores norms, activations and resizes. The paper counts the mmcv way, 1 FLOP per MAC (its "FLOPs"
are MACs), with the attention matmuls added by hand: compare its numbers with our `gmacs`.
"""
from __future__ import annotations

import contextlib
import statistics
import time
import weakref
from typing import Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode


def _size(size) -> tuple:
    return (size, size) if isinstance(size, int) else tuple(size)


def count_params(model: nn.Module) -> dict:
    """Parameters of the whole model, its `backbone` (encoder) and its `decode_head` (decoder)."""
    def n(module):
        return sum(p.numel() for p in module.parameters())
    return {"params": n(model), "encoder_params": n(model.backbone), "decoder_params": n(model.decode_head)}


@contextlib.contextmanager
def reference_path(model: nn.Module):
    """Run the architecture as the paper draws it, restoring the model's own choices afterwards: attention
    through explicit matmuls (torch.utils.flop_counter does not see fused SDPA kernels on the CPU) and the
    MLP decoder in its released order (not folded, see SegFormerHead)."""
    switches = [(m, name) for m in model.modules() for name in ("use_sdpa", "fold") if hasattr(m, name)]
    saved = [getattr(m, name) for m, name in switches]
    for m, name in switches:
        setattr(m, name, False)
    try:
        yield model
    finally:
        for (m, name), value in zip(switches, saved):
            setattr(m, name, value)


def count_flops(model: nn.Module, size=512, batch: int = 1, in_channels: int = 3) -> dict:
    """FLOPs of one forward pass at `size` (int or (H, W)) through `reference_path`: total, per aten op,
    and MACs (= FLOPs / 2)."""
    x = torch.zeros(batch, in_channels, *_size(size), device=next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        with reference_path(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    by_op = {str(op).replace("aten.", ""): n for op, n in counter.get_flop_counts()["Global"].items()}
    total = counter.get_total_flops()
    return {"flops": total, "macs": total // 2, "by_op": by_op}


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of tensors that aten ops create while they stay alive, and their peak.
    Views share their base's storage and count once; inputs and parameters are not counted."""

    def __init__(self):
        super().__init__()
        self.refs, self.current, self.peak = {}, 0, 0

    def _release(self, key: int, nbytes: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if key not in self.refs:
                    self.refs[key] = 0
                    self.current += nbytes
                    self.peak = max(self.peak, self.current)
                self.refs[key] += 1
                weakref.finalize(t, self._release, key, nbytes)
        return out


def peak_memory(model: nn.Module, size=512, batch: int = 1, in_channels: int = 3) -> dict:
    """Peak memory of one inference forward pass beyond the weights and the input, in bytes.

    On CUDA: torch.cuda.max_memory_allocated (method 'cuda_allocator'). On the CPU: the peak of the live
    bytes of tensors created by aten ops (method 'live_tensors'), which leaves out allocator slack."""
    device = next(model.parameters()).device
    x = torch.zeros(batch, in_channels, *_size(size), device=device)
    model.eval()
    with torch.inference_mode():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            model(x)
            torch.cuda.synchronize(device)
            return {"peak_bytes": torch.cuda.max_memory_allocated(device) - base, "method": "cuda_allocator"}
        with _LiveBytes() as tracker:
            model(x)
        return {"peak_bytes": tracker.peak, "method": "live_tensors"}


def latency_round_robin(models: dict, size=512, batch: int = 1, in_channels: int = 3,
                        warmup: int = 2, repeats: int = 10) -> dict:
    """{key: inference latency of one batch in milliseconds: median, min and max over `repeats` timed rounds}.

    Each round times every model once, in turn, after `warmup` untimed rounds, so that drift in the machine's
    speed touches every model alike. The models must sit on one device."""
    device = next(next(iter(models.values())).parameters()).device
    x = torch.randn(batch, in_channels, *_size(size), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = {key: [] for key in models}
    for model in models.values():
        model.eval()
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for key, model in models.items():
                sync()
                t0 = time.perf_counter()
                model(x)
                sync()
                if i >= warmup:
                    times[key].append((time.perf_counter() - t0) * 1e3)
    return {key: {"latency_ms": statistics.median(ms), "latency_min_ms": min(ms), "latency_max_ms": max(ms)}
            for key, ms in times.items()}


def measure_latency(model: nn.Module, size=512, batch: int = 1, in_channels: int = 3,
                    warmup: int = 2, repeats: int = 10) -> dict:
    """Inference latency of one batch, in milliseconds: median, min and max over `repeats` timed runs."""
    return latency_round_robin({"model": model}, size, batch, in_channels, warmup, repeats)["model"]


def profile(model: nn.Module, size=512, batch: int = 1, timing: bool = True, repeats: int = 10) -> dict:
    """One row of costs: parameters, GFLOPs / GMACs, peak memory and (if `timing`) latency."""
    h, w = _size(size)
    in_channels = getattr(model.config, "in_channels", 3)
    flops = count_flops(model, (h, w), batch, in_channels)
    row = {"variant": getattr(model, "variant", type(model).__name__), "height": h, "width": w, "batch": batch,
           **count_params(model), "gflops": flops["flops"] / 1e9, "gmacs": flops["macs"] / 1e9}
    mem = peak_memory(model, (h, w), batch, in_channels)
    row.update(peak_mem_mb=mem["peak_bytes"] / 2**20, mem_method=mem["method"])
    if timing:
        row.update(measure_latency(model, (h, w), batch, in_channels, repeats=repeats))
    row["device"] = str(next(model.parameters()).device)
    return row


def profile_variants(names: Sequence[str], size=512, **kwargs) -> list:
    """`profile` for several variant names (150 classes), one row each."""
    from .registry import build_model
    return [profile(build_model(n, 150), size, **kwargs) for n in names]
