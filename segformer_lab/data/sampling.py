"""Deterministic training batches, shared by segmentation training (engine.py) and pretraining (pretrain.py).

Every sample is keyed by (epoch, index) and every random choice is drawn from a generator seeded by the run's
seed and that key, so a resumed or sharded run sees exactly the samples of an uninterrupted single-process one.
"""
from __future__ import annotations

import numpy as np
import torch


class TrainSamples(torch.utils.data.Dataset):
    """Training samples keyed by (epoch, index): the augmentation RNG is drawn from (seed, epoch, index)."""

    def __init__(self, source, pipeline, seed: int):
        self.source, self.pipeline, self.seed = source, pipeline, seed

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key):
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        if getattr(self.source, "random_view", False):
            image, mask = self.source.load(index, rng)
        else:
            image, mask = self.source.load(index)
        return self.pipeline(image, mask, rng)  # -> (float32 (3, h, w) normalised, int64 (h, w))


class IterationBatches(torch.utils.data.Sampler):
    """Batches of (epoch, index) keys for iterations [start, stop): each epoch is a permutation drawn from
    (seed, epoch); with several processes each takes its slice of every global batch."""

    def __init__(self, n: int, batch: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1):
        self.n, self.batch, self.seed, self.start, self.stop = n, batch, seed, start, stop
        self.rank, self.world = rank, world
        self._perms = {}

    def _key(self, k: int) -> tuple:
        epoch, pos = divmod(k, self.n)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch, 1]).permutation(self.n)}
        return epoch, int(self._perms[epoch][pos])

    def __iter__(self):
        share = self.batch // self.world
        for t in range(self.start, self.stop):
            first = t * self.batch + self.rank * share
            yield [self._key(k) for k in range(first, first + share)]

    def __len__(self) -> int:
        return self.stop - self.start
