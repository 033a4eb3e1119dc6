"""Stand-in checkpoints from the key-and-shape lists in this folder: the same numbers wherever they are made.

Numpy and the standard library only, so that the scripts writing the reference outputs (run by hand beside
torchvision or mmsegmentation) and the tests (beside segformer_lab) fill a layout identically.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def read_layout(name: str) -> dict:
    """The layout `name` (file `<name>.json` here): {"source": how it was made, "keys": [[key, shape, dtype]]}."""
    return json.loads((HERE / f"{name}.json").read_text())


def write_layout(name: str, source: str, state: dict) -> Path:
    """Write the keys, shapes and dtypes of a state dict (one key a line, in the state dict's order)."""
    rows = [json.dumps([k, list(v.shape), str(v.dtype).replace("torch.", "")]) for k, v in state.items()]
    path = HERE / f"{name}.json"
    path.write_text('{"source": ' + json.dumps(source) + ',\n "keys": [\n  ' + ",\n  ".join(rows) + "\n]}\n")
    return path


def fill_state(layout: dict, seed: int) -> dict:
    """Deterministic values for every key of `layout` (numpy arrays), drawn in the layout's order from
    `default_rng(seed)`: conv weights N(0, 1/fan_in), BatchNorm weights U(0.5, 1), biases and running means
    N(0, 0.1^2), running variances U(0.5, 1.5), so that activations stay finite through a ResNet-101."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape, dtype in layout["keys"]:
        leaf = key.rsplit(".", 1)[-1]
        if dtype == "int64":  # num_batches_tracked
            state[key] = np.zeros(shape, dtype=np.int64)
            continue
        if leaf == "running_var":
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf == "weight" and len(shape) == 1:
            value = rng.uniform(0.5, 1.0, shape)
        elif leaf == "weight":
            value = rng.standard_normal(shape) / math.sqrt(math.prod(shape[1:]))
        else:  # bias, running_mean
            value = 0.1 * rng.standard_normal(shape)
        state[key] = value.astype(np.float32)
    return state


def image(seed: int, size: tuple) -> np.ndarray:
    """A (1, 3, H, W) float32 input from `default_rng(seed)`."""
    return np.random.default_rng(seed).standard_normal((1, 3, *size)).astype(np.float32)
