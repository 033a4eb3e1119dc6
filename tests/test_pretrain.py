"""Encoder pretraining on the embedded world: equal budget, caching, reuse, loading."""
import dataclasses

import pytest
import torch

from segformer_lab import build_model, load_encoder_weights
from segformer_lab.engine import TrainConfig, train
from segformer_lab.pretrain import PretrainConfig, encoder_key, presence_targets, pretrain

SMALL = dict(crop_size=64, scenes=16, iterations=4, batch_size=4, warmup_iters=2)


def test_presence_targets():
    masks = torch.zeros(2, 10, 10, dtype=torch.long)
    masks[0, :5] = 3  # class 3 covers half of crop 0
    masks[1, 0, 0] = 2  # class 2 covers 1% of crop 1
    t = presence_targets(masks, 5, min_fraction=0.02)
    assert t.tolist() == [[1, 0, 0, 1, 0], [1, 0, 0, 0, 0]]


def test_cache_key_shared_by_decoder_ablations_only():
    base = encoder_key(PretrainConfig(model="segformer_b0"))
    assert encoder_key(PretrainConfig(model="segformer_b0", model_overrides={"decoder_stages": (4,)})) == base
    assert encoder_key(PretrainConfig(model="segformer_b0", model_overrides={"pos_encoding": "learned"})) != base
    assert encoder_key(PretrainConfig(model="segformer_b0", iterations=7)) != base
    assert encoder_key(PretrainConfig(model="resnet18_mlp")) != base
    # DeepLabV3 dilates the same ResNet: it shares the undilated ResNet's pretraining.
    resnet = encoder_key(PretrainConfig(model="resnet18_mlp", model_overrides={"decoder_dim": 256}))
    assert encoder_key(PretrainConfig(model="deeplabv3_r18", model_overrides={"output_stride": 16})) == resnet
    assert resnet.startswith("resnet18-") and encoder_key(PretrainConfig(model="resnet34_mlp")) != resnet


def test_pretrain_is_cached_reused_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path))
    for name in ("segformer_tiny", "resnet_tiny_mlp", "setr_naive_tiny"):
        cfg = PretrainConfig(model=name, **SMALL)
        path = pretrain(cfg, progress=False)
        assert path.parent == tmp_path / "pretrained"
        stamp = path.stat().st_mtime_ns
        assert pretrain(cfg, progress=False) == path and path.stat().st_mtime_ns == stamp  # reused
        model = build_model(name, 3)
        before = [p.clone() for p in model.backbone.parameters()]
        load_encoder_weights(model, path)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.backbone.parameters()))
    # Same seed, same budget: the same weights.
    again = pretrain(PretrainConfig(model="segformer_tiny", **SMALL), progress=False, force=True)
    assert again.exists()


def test_training_from_embedded_pretraining(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(model="segformer_tiny", crop_size=64, batch_size=4, train_scenes=8, val_scenes=2,
                      val_canvas=(64, 64), iterations=2, encoder_weights="embedded", pretrain_iterations=3)
    metrics = train(cfg, tmp_path / "run", progress=False)
    assert 0 <= metrics["miou"] <= 100
    assert len(list((tmp_path / "cache" / "pretrained").glob("segformer_tiny-*.pt"))) == 1
    # the same run with its pretraining cached trains the same model: making the pretraining in the run's process
    # leaves the run's random stream (dropout, drop-path) as it was (it did not: 4.54 against 4.53 mIoU on a
    # pe_vs_mixffn smoke run)
    again = train(cfg, tmp_path / "again", progress=False)
    assert again["miou"] == metrics["miou"]
    first, second = torch.load(tmp_path / "run" / "model.pt"), torch.load(tmp_path / "again" / "model.pt")
    assert all(torch.equal(v, second["state_dict"][k]) for k, v in first["state_dict"].items())


def test_region_presence_targets_say_where_each_class_is():
    masks = torch.zeros(1, 8, 8, dtype=torch.long)
    masks[0, :4, :4] = 2  # top-left cell: class 2 only
    masks[0, 4:, 4:] = 1  # bottom-right cell: class 1 only
    t = presence_targets(masks, 3, min_fraction=0.5, regions=2).reshape(2, 2, 3)  # (row, column, class)
    assert t[0, 0].tolist() == [0, 0, 1] and t[1, 1].tolist() == [0, 1, 0]
    assert t[0, 1].tolist() == [1, 0, 0] and t[1, 0].tolist() == [1, 0, 0]
    assert presence_targets(masks, 3, 0.1).tolist() == [[1, 1, 1]]  # the whole crop: regions=1


def test_cache_keys_made_before_the_new_fields_are_unchanged():
    """Fields added later (scene family, pretext) at their old behaviour leave the cache key as it was."""
    import hashlib
    import json

    from segformer_lab.pretrain import encoder_spec
    cfg = PretrainConfig(model="segformer_b0")
    kind, encoder = encoder_spec(cfg)
    old = {k: v for k, v in dataclasses.asdict(cfg).items()
           if k not in ("model", "model_overrides", "scene_family", "pretext", "regions")}
    blob = json.dumps({"type": kind, "encoder": encoder, "budget": old}, sort_keys=True, default=list)
    assert encoder_key(cfg) == f"segformer_b0-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
    street = PretrainConfig(model="segformer_b0", scene_family="street")
    region = PretrainConfig(model="segformer_b0", pretext="region_presence")
    assert len({encoder_key(cfg), encoder_key(street), encoder_key(region)}) == 3


def test_region_pretraining_on_street_scenes_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path))
    cfg = PretrainConfig(model="segformer_tiny", scene_family="street", pretext="region_presence",
                         model_overrides={"pos_encoding": "learned", "pe_train_size": (64, 64)}, **SMALL)
    saved = torch.load(pretrain(cfg, progress=False), weights_only=False)
    assert saved["pretrain_config"]["pretext"] == "region_presence" and 0 < saved["final_loss"] < 1
    assert saved["state_dict"]["backbone.pos_embed1"].shape == (1, 8, 16, 16)
    with pytest.raises(ValueError, match=r"pretext='where'; expected one of \('presence', 'region_presence'\)"):
        PretrainConfig(pretext="where")
    with pytest.raises(ValueError, match="regions=3; expected a positive divisor of crop_size 128"):
        PretrainConfig(regions=3)
    with pytest.raises(ValueError, match="scene_family='city'"):
        PretrainConfig(scene_family="city")


def test_a_cached_file_that_does_not_match_its_key_is_refused(tmp_path, monkeypatch):
    import shutil


    from segformer_lab.pretrain import pretrained_path
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path))
    made = pretrain(PretrainConfig(model="segformer_tiny", **SMALL), progress=False)
    other = PretrainConfig(model="segformer_tiny", **{**SMALL, "iterations": 5})
    shutil.copy(made, pretrained_path(other))  # a file under another config's name
    with pytest.raises(ValueError, match=r"segformer_tiny-\w+\.pt: made by another pretraining config .*"
                                         r"'iterations': \(4, 5\)"):
        pretrain(other, progress=False)
    torch.save({"weights": 1}, pretrained_path(other))
    with pytest.raises(ValueError, match="not a pretraining of this package"):
        pretrain(other, progress=False)
    assert pretrain(other, progress=False, force=True) == pretrained_path(other)  # --force makes it again
    assert torch.load(pretrained_path(other), weights_only=False)["pretrain_config"]["iterations"] == 5


def test_heldout_loss_is_recorded_and_judges_the_trained_head(tmp_path, monkeypatch):
    from segformer_lab.pretrain import PresenceHead, heldout_loss, pretraining_encoder
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path))
    cfg = PretrainConfig(model="segformer_tiny", **SMALL)
    saved = torch.load(pretrain(cfg, progress=False), weights_only=False)
    assert 0 < saved["heldout_loss"] < 2 and saved["seconds"] > 0
    # A head that always says "absent" scores the mean log-loss of its constant guess, as computed by hand.
    encoder = pretraining_encoder(cfg)
    net = PresenceHead(encoder, encoder(torch.zeros(1, 3, 64, 64))[-1].shape[1], 9)
    torch.nn.init.zeros_(net.fc.weight)
    torch.nn.init.constant_(net.fc.bias, -3.0)
    from segformer_lab.data.transforms import eval_pipeline
    from segformer_lab.pretrain import heldout_crops, presence_targets
    masks = torch.stack([eval_pipeline()(*heldout_crops(cfg, 8).load(i))[1] for i in range(8)])
    t = presence_targets(masks, 9, cfg.min_fraction)
    expected = (t * torch.nn.functional.softplus(torch.tensor(3.0)) +
                (1 - t) * torch.nn.functional.softplus(torch.tensor(-3.0))).mean().item()
    assert abs(heldout_loss(net, cfg, 9, count=8, batch=3) - expected) < 1e-5


def test_linear_probe_trains_only_its_classifier_and_is_deterministic():
    from segformer_lab.pretrain import LinearProbe, ProbeConfig, linear_probe, pretraining_encoder
    encoder = pretraining_encoder(PretrainConfig(model="resnet_tiny_mlp"))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    small = ProbeConfig(iterations=3, batch_size=2, train_scenes=4, val_scenes=2)
    first = linear_probe(encoder, "aerial", 64, small)
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())  # frozen, BN stats included
    assert first == linear_probe(encoder, "aerial", 64, small)
    assert 0 <= first["probe_miou"] <= 100 and set(first) == {"probe_miou", "probe_thing_miou"}
    probe = LinearProbe(encoder, 8 + 16 + 32 + 64, 9).train()
    assert not encoder.training and probe(torch.randn(2, 3, 64, 48)).shape == (2, 9, 16, 12)
    assert [n for n, p in probe.named_parameters() if p.requires_grad] == ["classifier.weight", "classifier.bias"]


def test_each_family_gets_its_recipe_and_a_new_recipe_gives_new_run_ids(monkeypatch):

    from segformer_lab import pretrain as pt
    from segformer_lab.engine import pretrain_config
    from segformer_lab.runner import run_id
    assert pt.encoder_family("segformer_b1") == "MiT" and pt.encoder_family("deeplabv3_r18") == "ResNet"
    mit = TrainConfig(model="segformer_b1", encoder_weights="embedded")
    resnet = TrainConfig(model="resnet18_mlp", encoder_weights="embedded")
    scratch = TrainConfig(model="segformer_b1")
    ids = [run_id(c) for c in (mit, resnet, scratch)]
    other = {"lr": 3e-5, "weight_decay": 0.2}  # a recipe no family holds
    monkeypatch.setitem(pt.RECIPES, "MiT", other)
    p = pretrain_config(mit)
    assert (p.lr, p.weight_decay) == (3e-5, 0.2)
    assert {"lr": pretrain_config(resnet).lr, "weight_decay": pretrain_config(resnet).weight_decay} == \
        pt.RECIPES["ResNet"]
    assert run_id(mit) != ids[0] and [run_id(resnet), run_id(scratch)] == ids[1:]
    shared = dataclasses.replace(mit, pretrain_recipe="shared")  # the first version: one recipe for all
    assert (pretrain_config(shared).lr, pretrain_config(shared).weight_decay) == (1e-3, 0.05)
    import hashlib
    import json
    earlier = ("pretrain_recipe", "scene_family", "pretrain_pretext", "context_distance",
               "pretrain_crop", "loader", "compile")  # fields added later
    old = {k: v for k, v in shared.to_dict().items() if k not in earlier}  # the id of a run made before them
    assert run_id(shared) == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:12]
    assert run_id(shared) != run_id(mit)
    with pytest.raises(ValueError, match=r"pretrain_recipe='own'; expected 'family' or 'shared'"):
        TrainConfig(pretrain_recipe="own")


def test_recipes_in_code_are_the_committed_choice():
    """RECIPES holds what experiments/pretraining.py chose at the default preset (results/pretraining.csv);
    before that sweep is committed every family keeps the shared recipe."""
    from segformer_lab.repo import load_module, repo_root
    from segformer_lab.pretrain import RECIPES, SHARED_RECIPE
    from segformer_lab.results import read_rows
    module = load_module("pretraining")
    rows = [r for r in read_rows(repo_root() / "results" / "pretraining.csv") if r["preset"] == "default"]
    chosen = module.choose(rows)
    expected = {family: chosen.get(family, SHARED_RECIPE) for family in RECIPES}
    assert RECIPES == expected


def test_pretraining_sweep_writes_one_row_per_recipe_and_resumes(tmp_path, monkeypatch):

    from segformer_lab.repo import load_module
    from segformer_lab.results import read_rows
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    module = load_module("pretraining")
    grid = {"lr": (1e-3, 3e-3), "weight_decay": (0.05,)}
    out = module.main("smoke", tmp_path, grid=grid, progress=False)
    rows = read_rows(out)
    assert list(rows[0]) == module.COLUMNS and len(rows) == 3 * (1 + 2)  # random floor + recipes per encoder
    for family in ("MiT", "ResNet", "ViT"):
        mine = [r for r in rows if r["family"] == family and r["init"] == "pretrained"]
        best = min(mine, key=lambda r: float(r["heldout_loss"]))
        assert [r["chosen"] for r in mine] == [str(r is best) for r in mine]
    assert module.choose(rows[:3], grid) == {"MiT": module.choose(rows, grid)["MiT"]}  # ResNet's sweep unfinished
    assert module.choose(rows[:2], grid) == {}
    stamp = out.stat().st_mtime_ns
    module.main("smoke", tmp_path, grid=grid, progress=False)  # nothing missing: nothing rewritten
    assert out.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"GRID\['weight_decay'\] is empty"):
        module.main("smoke", tmp_path / "other", grid={"lr": (1e-3,), "weight_decay": ()})
    assert not (tmp_path / "other").exists()


def test_a_run_may_start_from_a_pretraining_at_a_smaller_crop():
    from segformer_lab.engine import pretrain_config
    from segformer_lab.runner import run_id
    small = TrainConfig(model="segformer_b1", encoder_weights="embedded")
    large = dataclasses.replace(small, crop_size=256, val_canvas=(256, 256))
    from_small = dataclasses.replace(large, pretrain_crop=128)
    assert pretrain_config(small).crop_size == 128 and pretrain_config(large).crop_size == 256
    assert pretrain_config(from_small) == pretrain_config(small)  # the same cached weights
    assert len({run_id(small), run_id(large), run_id(from_small)}) == 3
    with pytest.raises(ValueError, match=r"TrainConfig.pretrain_crop=-1; expected a crop side in pixels, or 0"):
        TrainConfig(pretrain_crop=-1)
