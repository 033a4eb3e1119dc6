"""The context world: tokens whose class only a ring at a set distance decides, and the experiment that
measures how far each encoder reaches."""
import dataclasses
import math

import numpy as np
import pytest

from segformer_lab.data.synthetic import (C_GROUND, C_RING, C_TOKEN_A, C_TOKEN_B, ContextConfig, ContextScene,
                                          SyntheticScenes)
from segformer_lab.engine import TrainConfig, pretrain_config
from segformer_lab.erf import mass_within, radius_holding


@pytest.mark.parametrize("distance", [8.0, 24.0, 48.0])
def test_rings_sit_at_the_distance_and_decide_the_class(distance):
    cfg = ContextConfig(distance=distance)
    scene = ContextScene(0, 3, cfg)
    assert len(scene.tokens) == cfg.tokens
    image, mask = scene.render(0, 0, 512, 512)
    for cx, cy, kind in scene.tokens:
        cx, cy = int(cx), int(cy)
        assert mask[cy, cx] == (C_TOKEN_B if kind else C_TOKEN_A)
        for dx, dy in ((distance, 0), (0, distance), (-distance, 0), (0, -distance)):  # the ring, all round
            assert mask[int(cy + 0.5 + dy), int(cx + 0.5 + dx)] == C_RING
        between = int(round((cfg.token_radius + distance - cfg.ring_width / 2) / 2))  # plain ground inside
        if distance - cfg.ring_width / 2 - cfg.token_radius > 2:
            assert mask[cy, cx + between] == C_GROUND
    # The rings of two tokens keep `margin` apart: a token's own ring is the nearest one.
    centres = np.array([(x, y) for x, y, _ in scene.tokens])
    gaps = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(-1)) + np.eye(len(centres)) * 1e9
    assert gaps.min() >= cfg.span() + cfg.margin


def test_only_the_ring_differs_between_the_two_token_classes():
    scene = ContextScene(1, 0, ContextConfig(distance=24.0))
    swapped = ContextScene(1, 0, ContextConfig(distance=24.0))
    swapped.tokens = [(x, y, 1 - k) for x, y, k in scene.tokens]
    (img, mask), (img2, mask2) = scene.render(0, 0, 512, 512), swapped.render(0, 0, 512, 512)
    tokens = np.isin(mask, (C_TOKEN_A, C_TOKEN_B))
    assert np.array_equal(mask == C_RING, mask2 == C_RING) and not np.array_equal(mask[tokens], mask2[tokens])
    changed = (img != img2).any(-1)
    assert changed.any() and (mask[changed] == C_RING).all()  # the pixels of the tokens themselves are the same


def test_training_windows_hold_a_whole_token_and_are_deterministic():
    source = SyntheticScenes("train", 20, family="context", crop=128, context=ContextConfig(distance=48.0))
    for i in range(20):
        _, mask = source.load(i)
        assert np.isin(mask, (C_TOKEN_A, C_TOKEN_B)).sum() >= 60  # a disc of radius 5 is ~80 pixels
    a, b = source.load(3), source.load(3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert source.classes == ("ground", "ring", "token_a", "token_b") and source.thing_classes == (2, 3)


def test_a_distance_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match=r"context distance 48 \(ContextConfig.distance\) gives a token with its "
                                         r"ring 100 pixels across, larger than the 64-pixel crop; expected "
                                         r"distance <= 30"):
        SyntheticScenes("train", 4, family="context", crop=64, context=ContextConfig(distance=48.0))
    with pytest.raises(ValueError, match="larger than the 96-pixel canvas"):
        SyntheticScenes("val", 4, family="context", canvas=(96, 96), context=ContextConfig(distance=48.0))
    with pytest.raises(ValueError, match=r"a 256-pixel crop at zoom 1.0 is larger than the 200-unit context scene "
                                         r"\(ContextConfig.world_size\); expected at most 200 pixels"):
        SyntheticScenes("train", 4, family="context", crop=256, context=ContextConfig(world_size=200.0))
    with pytest.raises(ValueError, match=r"TrainConfig.context_distance=-1; expected a finite number > 0"):
        TrainConfig(scene_family="context", context_distance=-1)


def test_context_runs_start_from_the_aerial_pretraining_and_old_run_ids_stay():
    from segformer_lab.runner import run_id
    cfg = TrainConfig(model="segformer_b1", scene_family="context", context_distance=8.0, encoder_weights="embedded")
    aerial = TrainConfig(model="segformer_b1", encoder_weights="embedded")
    assert pretrain_config(cfg) == pretrain_config(aerial)
    aerial = dataclasses.replace(aerial, pretrain_recipe="shared")  # as the first results were made
    # fields added later, left out of the ids at their old values
    earlier = ("context_distance", "scene_family", "pretrain_pretext", "pretrain_recipe", "pretrain_crop", "loader",
               "compile")
    values = {k: v for k, v in aerial.to_dict().items() if k not in earlier}  # a config made before them
    import hashlib
    import json
    assert run_id(aerial) == hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]
    assert run_id(dataclasses.replace(aerial, context_distance=8.0)) != run_id(aerial)


def test_forced_choice_accuracy_compares_the_two_token_logits_on_token_pixels():
    import torch
    from torch import nn

    from segformer_lab.data.synthetic import C_TOKEN_A, C_TOKEN_B
    from segformer_lab.engine import TrainConfig, open_datasets
    from segformer_lab.repo import load_module
    module = load_module("context_distance")
    cfg = TrainConfig(scene_family="context", context_distance=8.0, val_scenes=2, val_canvas=(512, 512))
    source = open_datasets(cfg)[1]

    class Says(nn.Module):  # token_a's logit above token_b's everywhere (or below), calling every pixel ground
        def __init__(self, a_wins):
            super().__init__()
            self.a_wins = a_wins

        def forward(self, x):
            logits = torch.zeros(x.shape[0], 4, x.shape[2] // 4, x.shape[3] // 4)
            logits[:, 0] = 10.0
            logits[:, C_TOKEN_A if self.a_wins else C_TOKEN_B] = 1.0
            return logits
    masks = [source.load(i)[1] for i in range(len(source))]
    a = sum(int((m == C_TOKEN_A).sum()) for m in masks)
    b = sum(int((m == C_TOKEN_B).sum()) for m in masks)
    assert a > 0 and b > 0
    assert module.choice_accuracy(Says(True), source, cfg) == pytest.approx(a / (a + b))
    assert module.choice_accuracy(Says(False), source, cfg) == pytest.approx(b / (a + b))
    assert "context_choice_accuracy" in module.EXTRA_COLUMNS


def test_context_accuracy_from_a_confusion_matrix():
    from segformer_lab.repo import load_module
    module = load_module("context_distance")
    confusion = [[100, 0, 0, 0], [0, 50, 0, 0], [2, 0, 6, 2], [0, 0, 4, 4]]  # rows: truth ground, ring, a, b
    got = module.context_accuracy(confusion)
    assert got["context_accuracy"] == pytest.approx(10 / 16) and got["token_recall"] == pytest.approx(16 / 18)
    assert math.isnan(module.context_accuracy([[1, 0, 0, 0]] + [[0] * 4] * 3)["context_accuracy"])
    assert set(module.EXTRA_COLUMNS) >= {"context_accuracy", "erf_stage4_within_d", "erf_head_r50"}
    # Every declared distance fits the training crop of every preset that runs it.
    for preset, names in {**{p: list(module.VARIANTS) for p in ("default", "gpu")}, **module.PRESET_VARIANTS}.items():
        crop = module.PRESETS[preset].get("crop_size", module.BASE.crop_size)
        for name in names:
            assert 2 * module.VARIANTS[name]["context_distance"] + ContextConfig().ring_width <= crop


def test_erf_mass_within_a_radius():
    erf = np.zeros((33, 33))
    erf[16, 16], erf[16, 26], erf[6, 16] = 2.0, 1.0, 1.0  # centre, 10 px right, 10 px up
    assert mass_within(erf, 9.9) == pytest.approx(0.5) and mass_within(erf, 10) == pytest.approx(1.0)
    assert radius_holding(erf, 0.5) == 0.0 and radius_holding(erf, 0.75) == pytest.approx(10.0)



@pytest.mark.parametrize("distance", [8.0, 48.0])
def test_erf_windows_are_centred_on_a_token_inside_the_scene(distance):
    from segformer_lab.repo import load_module
    module = load_module("context_distance")
    cfg = TrainConfig(model="segformer_b1", scene_family="context", context_distance=distance)
    windows = module.token_windows(cfg)
    assert len(windows) == module.ERF_IMAGES  # 512-unit scenes of 12 tokens: every one has such a token
    world, size = ContextConfig().world_size, cfg.crop_size
    for scene, x0, y0 in windows:
        assert 0 <= x0 and 0 <= y0 and x0 + size <= world and y0 + size <= world
        _, mask = scene.render(x0, y0, size, size)
        assert mask[size // 2, size // 2] in (C_TOKEN_A, C_TOKEN_B)
    batches = module.erf_images(cfg)
    assert sum(len(b) for b in batches) == module.ERF_IMAGES and batches[0].shape[1:] == (3, size, size)


def test_a_window_may_start_outside_the_scene_and_renders_repeatably():
    scene = ContextScene(0, 0, ContextConfig(distance=8.0))
    (a, mask_a), (b, _) = scene.render(-40.5, -3, 64, 64), scene.render(-40.5, -3, 64, 64)
    assert np.array_equal(a, b) and a.shape == (64, 64, 3) and mask_a.shape == (64, 64)
    assert not np.array_equal(a, scene.render(40.5, 3, 64, 64)[0])  # not the mirrored window's noise
