"""The experiment runner: planned runs, one row per finished run, skipping done runs, a valid CSV."""
import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from segformer_lab.ablation import Experiment, Script
from segformer_lab.engine import TrainConfig
from segformer_lab.presets import SEEDS
from segformer_lab.runner import columns, planned_runs, run_experiment, run_id


def toy_experiment():
    return Experiment(
        name="toy",
        base=TrainConfig(model="segformer_tiny", crop_size=64, batch_size=2, train_scenes=4, val_scenes=2,
                         val_canvas=(64, 64), warmup_iters=1),
        variants={"mixffn": {}, "no_pe": {"model_overrides": {"pos_encoding": "none"}}},
        seeds={"smoke": (0,), "quick": (0, 1), "default": (0, 1, 2), "gpu": (0,)},
        presets={"smoke": {"iterations": 2}, "quick": {"iterations": 3}, "default": {"iterations": 4},
                 "gpu": {"iterations": 5}},
        evals={"canvas_64x128": {"canvas": (64, 128)}},
    )


def test_planned_runs_and_ids():
    runs = planned_runs(toy_experiment(), "quick")
    assert [(v, s) for v, s, _ in runs] == [("mixffn", 0), ("no_pe", 0), ("mixffn", 1), ("no_pe", 1)]
    assert runs[1][2].model_overrides == {"pos_encoding": "none"} and runs[0][2].iterations == 3
    assert len({run_id(cfg) for _, _, cfg in runs}) == 4
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        planned_runs(toy_experiment(), "fast")


def test_only_reaches_declared_variants_the_preset_leaves_out(tmp_path):
    from segformer_lab.runner import plan_experiment
    module = replace(toy_experiment(), preset_variants={"smoke": ["mixffn"]})
    plan = plan_experiment(module, "smoke", tmp_path / "results", tmp_path / "runs")
    assert [run[0] for run in plan["runs"]] == ["mixffn"]
    plan = plan_experiment(module, "smoke", tmp_path / "results", tmp_path / "runs", only=("no_pe",))
    assert [run[0] for run in plan["runs"]] == ["no_pe"]


def test_rows_written_once_and_skipped_when_done(tmp_path):
    module = toy_experiment()
    out = run_experiment(module, "smoke", tmp_path / "results", tmp_path / "runs", progress=False)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == columns(module)
    assert [r["variant"] for r in rows] == ["mixffn", "no_pe"]
    assert all(0 <= float(r["miou"]) <= 100 and float(r["canvas_64x128_miou"]) >= 0 for r in rows)
    assert all(float(r["params"]) > 0 and float(r["gflops"]) > 0 for r in rows)
    stamp = out.stat().st_mtime_ns
    run_experiment(module, "smoke", tmp_path / "results", tmp_path / "runs", progress=False)
    assert out.stat().st_mtime_ns == stamp  # nothing to do: no new row, file untouched


def test_runs_trained_in_parallel_give_the_rows_of_serial_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    module = toy_experiment()
    module = replace(module, variants={**module.variants, "pretrained": {"encoder_weights": "embedded",
                                                                         "pretrain_iterations": 2}},
                     seeds={**module.seeds, "smoke": (0, 1)})

    def rows(jobs):
        out = run_experiment(module, "smoke", tmp_path / f"results{jobs}", tmp_path / f"runs{jobs}", progress=False,
                             jobs=jobs)
        with out.open() as f:
            return sorted(csv.DictReader(f), key=lambda r: (r["variant"], r["seed"]))
    parallel, serial = rows(2), rows(1)  # the parallel one first: it makes the pretraining
    assert [(r["variant"], r["seed"], r["run_id"]) for r in parallel] == [
        (r["variant"], r["seed"], r["run_id"]) for r in serial] and len(serial) == 6
    for a, b in zip(serial, parallel):  # one thread per process instead of two: sums may round differently
        assert abs(float(a["miou"]) - float(b["miou"])) < 1.0 and float(b["canvas_64x128_miou"]) >= 0
    assert len(list((tmp_path / "cache" / "pretrained").glob("*.pt"))) == 1  # pretrained once, before the runs
    with pytest.raises(ValueError, match="jobs=0; expected a positive number"):
        run_experiment(module, "smoke", tmp_path / "r", tmp_path / "runs", progress=False, jobs=0)


def test_parallel_runs_are_evaluated_with_the_workers_share_of_threads(tmp_path):
    """The process that evaluates finished runs beside the training workers takes one worker's share of the CPU
    threads while they train (more threads than cores made a robustness evaluation 3.7x slower), and gets its
    own back afterwards."""
    import torch
    seen = []
    module = replace(toy_experiment(),
                     extra_metrics=lambda run_dir, cfg, results_dir: seen.append(torch.get_num_threads()) or {})
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        run_experiment(module, "smoke", tmp_path / "results", tmp_path / "runs", progress=False, jobs=2)
        assert seen == [2, 2] and torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


KILLED_PARENT = """
import sys
from segformer_lab.ablation import Experiment
from segformer_lab.engine import TrainConfig
from segformer_lab.runner import run_experiment
if __name__ == "__main__":
    toy = Experiment(
        name="toy", base=TrainConfig(model="segformer_tiny", crop_size=64, batch_size=2, train_scenes=4,
                                     val_scenes=2, val_canvas=(64, 64), warmup_iters=1),
        variants={"a": {}, "b": {"model_overrides": {"pos_encoding": "none"}}},
        presets={p: {"iterations": 10**6} for p in ("smoke", "quick", "default", "gpu")})
    run_experiment(toy, "smoke", sys.argv[1] + "/results", sys.argv[1] + "/runs", progress=False, jobs=2)
"""


def _children(pid: int) -> list:
    """Pids of the live (not zombie) processes whose parent is `pid`, read from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process parents from /proc")
def test_pool_workers_stop_when_the_run_is_killed(tmp_path):
    script = tmp_path / "killed_parent.py"
    script.write_text(KILLED_PARENT)
    parent, workers = subprocess.Popen([sys.executable, str(script), str(tmp_path)]), []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:  # two training workers (and a resource tracker)
            time.sleep(0.5)
            workers = [p for p in _children(parent.pid) if "spawn_main" in _cmdline(p)]
        assert len(workers) == 2, "the pool did not start its two workers"
        time.sleep(2)  # both past their initializer, training
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(map(_alive, workers)), "pool workers kept training after their parent was killed"
    finally:
        parent.kill()
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)


def test_plan_counts_what_a_run_would_do_without_doing_it(tmp_path, monkeypatch, capsys):
    from segformer_lab.cli import main
    from segformer_lab.runner import plan_experiment
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    module = toy_experiment()
    module = replace(module, variants={**module.variants, "pretrained": {"encoder_weights": "embedded",
                                                                         "pretrain_iterations": 2}})
    results, runs = tmp_path / "results", tmp_path / "runs"
    plan = plan_experiment(module, "smoke", results, runs)
    assert (plan["planned"], plan["done"], plan["reuse"], plan["resume"], plan["train"]) == (3, 0, 0, 0, 3)
    assert len(plan["pretrainings"]) == 1 and plan["images_128px"] == 3 * 2 * 2 // 4  # 64 px crops count 1/4
    assert [v for v, _, _ in plan["runs"]] == ["mixffn", "no_pe", "pretrained"]
    assert not results.exists() and not runs.exists() and not (tmp_path / "cache").exists()  # nothing written
    ids = set()
    assert plan_experiment(module, "smoke", results, runs, trained_before=ids)["train"] == 3 and len(ids) == 3
    assert plan_experiment(module, "smoke", results, runs, trained_before=ids)["reuse"] == 3  # an earlier one trains
    run_experiment(module, "smoke", results, runs, progress=False, only=("mixffn",))
    plan = plan_experiment(module, "smoke", results, runs)
    assert (plan["done"], plan["train"], len(plan["pretrainings"])) == (1, 2, 1)  # the pretraining is still to make
    other = replace(module, name="other")  # the same configs elsewhere
    plan = plan_experiment(other, "smoke", results, runs)
    assert (plan["done"], plan["reuse"], plan["train"]) == (0, 1, 2)
    # the command line: one line per experiment and a total, nothing trained or written
    assert main(["run", "reduction_ratio", "--preset", "smoke", "--plan", "--results", str(results), "--runs",
                 str(runs)]) == 0
    out = capsys.readouterr().out
    assert "reduction_ratio" in out and "total at the smoke preset: 4 runs to train" in out
    assert not (results / "reduction_ratio.csv").exists() and not (runs / "reduction_ratio").exists()


def test_the_quick_suite_plans_few_short_runs(tmp_path, capsys, monkeypatch):
    """The README's first command from nothing: how many runs and pretrainings it trains, and how many images
    (its time is measured side by side in docs/ablations.md, never in a test)."""
    from segformer_lab.cli import main
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))  # nothing pretrained yet
    assert main(["run", "all", "--preset", "quick", "--plan", "--results", str(tmp_path / "results"), "--runs",
                 str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert ("total at the quick preset: 17 runs to train, 0 to resume, 15 from finished runs, 7 pretrainings; "
            "2,720 training images") in out
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", ["pe_vs_mixffn", "reduction_ratio", "decoder_vs_cnn", "erf"])
def test_each_ablation_runs_at_smoke_preset(smoke_results, name):
    from segformer_lab.repo import load_experiment
    module = load_experiment(name)
    with (smoke_results / f"{name}.csv").open() as f:
        rows = list(csv.DictReader(f))
    variants = module.preset_variants.get("smoke", module.variants)
    assert len(rows) == len(variants) * len(module.seeds["smoke"])
    assert list(rows[0]) == columns(module)
    for row in rows:
        assert 0 <= float(row["miou"]) <= 100 and row["torch_version"] != "" and row["preset"] == "smoke"
    if name == "erf":
        assert len(list((smoke_results / "erf").glob("*.npy"))) == 4 * (2 + 2) * 5  # 4 runs: trained and init on the crop, trained on 2 views; 5 maps each
        assert all(0 < float(rows[0][c]) <= 1 for c in module.extra_columns)
    if name == "pe_vs_mixffn":
        def measured(value):
            return value not in ("", "nan")
        for row in rows:  # PE runs measure what removing the PE costs; the street frame has no 384x384 canvas
            absolute = row["variant"].startswith(("learned_pe", "sincos_pe"))
            assert measured(row["miou_pe_zeroed"]) == absolute and measured(row["miou_pe_shuffled"]) == absolute
            street = row["scene_family"] == "street"
            assert measured(row["whole_384x384_miou"]) == (not street)
            assert measured(row["whole_128x256_zoom_0.5_miou"]) == street
    if name == "reduction_ratio":
        costs = list(csv.DictReader((smoke_results / "reduction_ratio_costs.csv").open()))
        assert {r["variant"] for r in costs} == set(module.variants)
        for row in costs:  # the flop counter's attention matmuls equal the paper's analytic cost
            assert float(row["attention_gmacs_measured"]) == pytest.approx(float(row["attention_gmacs_analytic"]))


def test_cli_run_all_rejects_an_unknown_name_before_running(tmp_path, cli_error):
    assert "no experiment 'nope'" in cli_error(["run", "all", "nope", "--preset", "smoke", "--results", tmp_path / "r",
                                                "--runs", tmp_path])
    assert not (tmp_path / "r").exists()


def test_erf_reuses_the_decoder_runs(smoke_results):
    """erf declares the decoder_vs_cnn configs, so its rows come from the same (copied) runs."""
    decoder = {r["run_id"]: r for r in csv.DictReader((smoke_results / "decoder_vs_cnn.csv").open())}
    erf = list(csv.DictReader((smoke_results / "erf.csv").open()))
    assert len(erf) == 4 and all(r["run_id"] in decoder for r in erf)
    for row in erf:
        assert row["miou"] == decoder[row["run_id"]]["miou"]
        assert row["train_seconds"] == decoder[row["run_id"]]["train_seconds"]


def test_decoder_analysis_records_the_pretraining_loss(smoke_results):
    rows = list(csv.DictReader((smoke_results / "decoder_vs_cnn_pretraining.csv").open()))
    by_encoder = {r["encoder"]: r for r in rows}
    assert set(by_encoder) == {"mit_b0", "mit_b0_s4", "mit_b1", "resnet18_mlp", "deeplabv3_r18"}
    assert by_encoder["deeplabv3_r18"]["cache_key"] == by_encoder["resnet18_mlp"]["cache_key"]  # one ResNet
    assert by_encoder["mit_b0_s4"]["cache_key"] == by_encoder["mit_b0"]["cache_key"]  # decoder-only ablation
    assert all(0 < float(r["final_loss"]) < 2 and r["pretrain_iterations"] == "2" for r in rows)


def test_pe_pretraining_rows_of_pretrainings_not_at_hand_are_kept(smoke_results, tmp_path, monkeypatch):
    """A results folder made on another machine keeps its rows for pretrainings this machine's cache lacks."""
    from segformer_lab.repo import load_experiment
    from segformer_lab.results import read_rows, write_csv
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(smoke_results.parent / "cache"))
    smoke = read_rows(smoke_results / "pe_vs_mixffn_pretraining.csv")
    elsewhere = {**smoke[0], "variant": "mixffn_street_shared", "preset": "default", "final_loss": "0.5"}
    write_csv(tmp_path / "pe_vs_mixffn_pretraining.csv", [elsewhere, {**smoke[0], "final_loss": "9"}], list(smoke[0]))
    load_experiment("pe_vs_mixffn").analysis(tmp_path, "smoke", smoke_results.parent / "runs")
    rows = read_rows(tmp_path / "pe_vs_mixffn_pretraining.csv")
    assert rows[0] == elsewhere and len(rows) == len(smoke) + 1  # kept, and the smoke rows once each
    assert [r["final_loss"] for r in rows[1:]] == [r["final_loss"] for r in smoke]  # recomputed, not kept


def test_run_ids_follow_the_effective_pretraining_recipe(monkeypatch):
    """A family's recipe is part of the id of its pretrained runs; where it equals the shared recipe, the
    "family" and "shared" runs are one run with one id."""
    from segformer_lab import pretrain
    cfg = TrainConfig(model="resnet18_mlp", encoder_weights="embedded")
    shared = TrainConfig(model="resnet18_mlp", encoder_weights="embedded", pretrain_recipe="shared")
    monkeypatch.setitem(pretrain.RECIPES, "ResNet", dict(pretrain.SHARED_RECIPE))
    assert run_id(cfg) == run_id(shared)
    monkeypatch.setitem(pretrain.RECIPES, "ResNet", {"lr": 3e-4, "weight_decay": 0.5})
    assert run_id(cfg) != run_id(shared)
    assert run_id(TrainConfig(model="resnet18_mlp")) == run_id(TrainConfig(model="resnet18_mlp", pretrain_recipe="shared"))


def test_run_ids_ignore_later_fields_at_their_old_values():
    """Fields added to TrainConfig after results were committed leave the ids of older runs unchanged."""
    import hashlib
    import json
    cfg = TrainConfig(model="segformer_tiny")
    later = ("scene_family", "pretrain_pretext", "context_distance", "pretrain_recipe", "pretrain_crop", "loader",
             "compile")
    old = {k: v for k, v in cfg.to_dict().items() if k not in later}
    assert run_id(cfg) == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:12]
    assert run_id(TrainConfig(model="segformer_tiny", scene_family="street")) != run_id(cfg)


@pytest.mark.parametrize("name", ["pe_vs_mixffn", "reduction_ratio", "decoder_vs_cnn", "erf"])
def test_committed_default_rows_belong_to_the_declared_plan(name):
    """Every committed default-preset row is a run the experiment still declares: `run` skips it, and a change
    of a declaration that would silently orphan committed results fails here."""
    from segformer_lab.repo import load_experiment, repo_root
    module = load_experiment(name)
    planned = {run_id(cfg): variant for variant, _, cfg in planned_runs(module, "default")}
    with (repo_root() / "results" / f"{name}.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["preset"] == "default"]
    assert rows and all(planned.get(r["run_id"]) == r["variant"] for r in rows)


def test_preset_variants_and_only_filter(tmp_path):
    module = replace(toy_experiment(), preset_variants={"quick": ["no_pe"]})
    assert [(v, s) for v, s, _ in planned_runs(module, "quick")] == [("no_pe", 0), ("no_pe", 1)]
    out = run_experiment(module, "smoke", tmp_path / "results", tmp_path / "runs", progress=False, only=("no_*",))
    assert [r["variant"] for r in csv.DictReader(out.open())] == ["no_pe"]
    with pytest.raises(ValueError, match=r"no variant matches \['x\*'\]; variants: \['mixffn', 'no_pe'\]"):
        run_experiment(module, "smoke", tmp_path / "results", tmp_path / "runs", progress=False, only=("x*",))
    with pytest.raises(TypeError, match=r"preset_variants\['quick'\]: unknown variant\(s\) \['pe'\]"):
        replace(module, preset_variants={"quick": ["pe"]})


def test_variant_seeds_run_fewer_seeds_for_some_variants():
    module = replace(toy_experiment(), variant_seeds={"default": {"no_pe": (0,)}})
    assert [(v, s) for v, s, _ in planned_runs(module, "default")] == [
        ("mixffn", 0), ("no_pe", 0), ("mixffn", 1), ("mixffn", 2)]
    assert len(planned_runs(module, "quick")) == 4  # other presets keep every seed


def test_context_and_budget_sweeps_run_at_smoke_preset(tmp_path, monkeypatch):
    from segformer_lab.repo import load_experiment, load_module
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    context = load_experiment("context_distance")
    rows = list(csv.DictReader(run_experiment(context, "smoke", tmp_path / "r", tmp_path / "runs",
                                              progress=False).open()))
    assert [r["variant"] for r in rows] == context.preset_variants["smoke"] and list(rows[0]) == columns(context)
    for r in rows:  # the ERF of a model reaches at least as far as the ring once d grows from 8 to 24
        assert 0 < float(r["erf_stage4_within_d"]) <= 1 and float(r["erf_head_r50"]) > 0
    within = {r["variant"]: float(r["erf_head_within_d"]) for r in rows}
    assert all(within[f"{e}_d8"] < within[f"{e}_d24"] for e in load_module("context_distance").ENCODERS)
    # Each row carries its distance, which the claims group by. The smoke preset's small validation windows may
    # hold no token, and two iterations may call no pixel a token: the accuracies are then undefined, and the
    # claims are not tested.
    import pandas as pd

    decoder_vs_cnn = load_module("decoder_vs_cnn")
    context_claims, context_table = decoder_vs_cnn.context_claims, decoder_vs_cnn.context_table
    frame = pd.read_csv(tmp_path / "r" / "context_distance.csv")
    assert dict(zip(frame["variant"], frame["context_distance"])) == {
        f"{e}_d{d}": float(d) for e in load_module("context_distance").ENCODERS for d in (8, 24)}
    for column in ("context_accuracy", "token_recall", "context_choice_accuracy"):
        assert (frame[column].between(0, 1) | frame[column].isna()).all()
    assert frame["erf_head_within_d"].between(0, 1).all()
    # a distance is compared where both encoders' forced choice is measured (a smoke window may hold no token)
    measured = [d for d in (8, 24) if frame[frame["variant"].isin([f"mit_b1_d{d}", f"resnet18_mlp_d{d}"])][
        "context_choice_accuracy"].notna().sum() == 2]
    assert [c.text.split("at d = ")[1] for c in context_claims(frame)] == [
        f"{d} px (forced-choice accuracy)" for d in measured]
    assert list(context_table(frame).index) == context.preset_variants["smoke"]
    budget = load_experiment("budget_sweep")
    rows = list(csv.DictReader(run_experiment(budget, "smoke", tmp_path / "r", tmp_path / "runs",
                                              progress=False).open()))
    assert [(r["variant"], r["iterations"]) for r in rows] == [("mit_b1_i250", "250"), ("resnet18_mlp_i250", "250")]
    plan = planned_runs(budget, "default")
    assert sorted({s for v, s, _ in plan if v.endswith("_i2000")}) == [0]
    assert {c.crop_size for v, _, c in plan if v.endswith("_256px")} == {256}


def test_prune_drops_only_the_rows_a_preset_no_longer_plans(tmp_path, capsys):
    from segformer_lab.results import write_csv
    from segformer_lab.runner import prune
    module = toy_experiment()
    plan = planned_runs(module, "smoke")
    cols = ["experiment", "variant", "seed", "preset", "run_id", "miou"]
    rows = [{"experiment": "toy", "variant": v, "seed": s, "preset": "smoke", "run_id": run_id(cfg), "miou": 1.0}
            for v, s, cfg in plan]
    stale = {"experiment": "toy", "variant": "mixffn", "seed": 0, "preset": "smoke", "run_id": "0123456789ab",
             "miou": 2.0}
    other = {**stale, "preset": "quick"}  # not the preset pruned: kept
    write_csv(tmp_path / "toy.csv", rows + [stale, other], cols)
    (tmp_path / "toy").mkdir()
    for rid in (stale["run_id"], rows[0]["run_id"]):
        (tmp_path / "toy" / f"mixffn_s0_{rid}_trained_head.npy").write_bytes(b"")
    dropped = prune(module, "smoke", tmp_path)
    assert [(r["variant"], r["run_id"]) for r in dropped] == [("mixffn", "0123456789ab")]
    kept = list(csv.DictReader((tmp_path / "toy.csv").open()))
    assert [(r["preset"], r["run_id"]) for r in kept] == [("smoke", r["run_id"]) for r in rows] + [
        ("quick", "0123456789ab")]
    assert list(kept[0]) == cols
    assert [p.name for p in (tmp_path / "toy").iterdir()] == [f"mixffn_s0_{rows[0]['run_id']}_trained_head.npy"]
    assert prune(module, "smoke", tmp_path) == []  # nothing left to drop
    # On real data the plan's ids are those of the real-data configs: the embedded rows are not planned there.
    assert len(prune(module, "smoke", tmp_path, data="cityscapes:/nowhere")) == len(rows)
    # A variant the preset no longer trains (PRESET_VARIANTS) but the experiment still declares keeps its rows.
    narrowed = replace(module, preset_variants={"smoke": ["mixffn"]})
    assert [v for v, _, _ in planned_runs(narrowed, "smoke")] == ["mixffn"]
    assert [v for v, _, _ in planned_runs(narrowed, "smoke", declared=True)] == ["mixffn", "no_pe"]
    assert prune(narrowed, "smoke", tmp_path) == []
    with pytest.raises(FileNotFoundError, match=r"missing\.csv: no results to prune"):
        prune(replace(module, name="missing"), "smoke", tmp_path)
    with pytest.raises(ValueError, match=r"sweep: declares no runs \(not an Experiment\)"):
        prune(Script(name="sweep", run=print), "smoke", tmp_path)
