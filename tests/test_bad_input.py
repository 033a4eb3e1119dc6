"""Bad input and interruptions, as a new user meets them: each gets one line (exit status 2, or 130 for Ctrl-C),
leaves nothing that blocks the corrected command, and the corrected command then succeeds in the same directory."""
import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from segformer_lab import engine
from segformer_lab.cli import main

TINY = ["--model", "segformer_tiny", "--crop-size", "64", "--batch-size", "2", "--train-scenes", "4",
        "--val-scenes", "2", "--val-canvas", "64", "64", "--warmup-iters", "1", "--quiet"]


def folder_dataset(root, sizes=((72, 90),) * 3, labels=3):
    """A folder dataset of train and val splits, one image per size, classes a, b, c."""
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "masks" / split).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            rng = np.random.default_rng(i)
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / split / f"{i}.png")
            Image.fromarray(rng.integers(0, labels, (h, w), dtype=np.uint8)).save(root / "masks" / split / f"{i}.png")
    (root / "classes.txt").write_text("a\nb\nc\n")
    return root


def folder_args(root):
    return ["--model", "segformer_tiny", "--dataset", "folder", "--data-root", str(root), "--train-split", "train",
            "--val-split", "val", "--crop-size", "64", "--batch-size", "2", "--iterations", "3", "--warmup-iters", "1",
            "--checkpoint-every", "2", "--quiet"]


@pytest.mark.parametrize("option, value, expected", [
    ("--lr", "nan", "TrainConfig.lr=nan; expected a finite number > 0"),
    ("--lr", "-1", "TrainConfig.lr=-1.0; expected a finite number > 0"),
    ("--weight-decay", "inf", "TrainConfig.weight_decay=inf; expected a finite number >= 0"),
    ("--warmup-ratio", "2", "TrainConfig.warmup_ratio=2.0; expected a finite number in [0, 1]"),
    ("--crop-size", "3", "TrainConfig.crop_size=3: segformer_tiny takes inputs of at least 29x29 px"),
    ("--batch-size", "100000", "TrainConfig.batch_size=100000: a training step of segformer_tiny at 64 px needs about"),
])
def test_a_bad_value_writes_nothing_and_the_corrected_command_succeeds(tmp_path, cli_error, option, value, expected):
    run = tmp_path / "r"
    err = cli_error(["train", run, *TINY, option, value])
    assert expected in err
    assert not run.exists()
    assert main(["train", str(run), *TINY, "--iterations", "2"]) == 0
    assert (run / "model.pt").is_file()


def test_the_memory_guard_names_the_estimate_and_a_batch_that_fits(tmp_path, cli_error):
    err = cli_error(["train", tmp_path / "r", *TINY, "--batch-size", "100000"])
    assert "of activations per image, measured by a forward at batch 1), but cpu has" in err
    fits = int(err.rsplit("batch_size of at most ", 1)[1].split()[0])
    assert 2 <= fits < 100000


def corrupt_png(path):
    path.write_bytes(path.read_bytes()[:40])  # a header and nothing else


def rgb_mask(path):
    Image.fromarray(np.zeros((72, 90, 3), np.uint8)).save(path)


def smaller_mask(path):
    Image.fromarray(np.zeros((70, 90), np.uint8)).save(path)


def label_seven(path):
    Image.fromarray(np.full((72, 90), 7, np.uint8)).save(path)


DEFECTS = {  # how a mask or image is spoiled, which file, and what the line says
    "size mismatch": (smaller_mask, "masks", "is 72x90 (HxW) but its mask"),
    "label above the class count": (label_seven, "masks", "has label(s) [7] outside the valid range 0..2"),
    "corrupt image": (corrupt_png, "images", "cannot read image"),
    "corrupt mask": (corrupt_png, "masks", "cannot read mask"),
    "RGB mask": (rgb_mask, "masks", "has mode RGB; expected a single-channel label image"),
}


@pytest.mark.parametrize("defect, name", [(d, "0.png") for d in DEFECTS]
                         + [("size mismatch", "2.png"), ("corrupt mask", "2.png")])
def test_a_dataset_defect_is_one_line_and_the_fixed_dataset_reuses_the_directory(tmp_path, cli_error, defect, name):
    """A defect in the first sample is found before anything is written; one deeper in the dataset is found in
    training, and the run directory it leaves resumes once the file is fixed."""
    spoil, folder, expected = DEFECTS[defect]
    root = folder_dataset(tmp_path / "data")
    good = (root / folder / "train" / name).read_bytes()
    spoil(root / folder / "train" / name)
    run = tmp_path / "r"
    err = cli_error(["train", run, *folder_args(root)])
    assert expected in err and name in err
    assert run.exists() == (name != "0.png")
    (root / folder / "train" / name).write_bytes(good)
    assert main(["train", str(run), *folder_args(root)]) == 0
    assert json.loads((run / "metrics.json").read_text())["iterations"] == 3


def test_images_smaller_than_the_crop_or_the_model_are_padded(tmp_path, capsys):
    """A training image smaller than the crop is padded with the ignore label; a validation image smaller than
    the model's smallest input (29 px for segformer_tiny) is padded for inference, its padding not scored."""
    root = folder_dataset(tmp_path / "data", sizes=((72, 90), (40, 50), (3, 3)))
    assert main(["train", str(tmp_path / "r"), *folder_args(root)]) == 0
    out = capsys.readouterr().out
    assert "mIoU" in out and "thing mIoU" not in out and "nan" not in out  # no thing classes: left out
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert sum(map(sum, metrics["confusion"])) == 72 * 90 + 40 * 50 + 3 * 3  # every real pixel, no padding


def test_an_input_smaller_than_the_model_takes_is_padded_and_cut_back():
    """Inference pads an input below the model's smallest side with zeros at the bottom and right (the mean colour,
    once normalised), and returns the logits of the input's own pixels only."""
    from segformer_lab import build_model
    from segformer_lab.evaluation import infer, min_input_side
    torch.manual_seed(0)
    model = build_model("segformer_tiny", 3).eval()
    assert min_input_side(model) == 29
    image = torch.randn(1, 3, 5, 40)
    logits = infer(model, image, min_side=29)
    assert logits.shape == (1, 3, 5, 40)
    padded = torch.nn.functional.pad(image, (0, 0, 0, 24))  # (1, 3, 29, 40)
    assert torch.equal(logits, infer(model, padded)[..., :5, :])
    assert torch.equal(infer(model, padded, min_side=29), infer(model, padded))  # large enough: as it is


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_split_with_no_labelled_pixel_is_an_error_naming_it(tmp_path, cli_error, split):
    root = folder_dataset(tmp_path / "data")
    for mask in (root / "masks" / split).iterdir():
        Image.fromarray(np.full((72, 90), 255, np.uint8)).save(mask)
    err = cli_error(["train", tmp_path / "r", *folder_args(root)])
    assert f"{split} split ({split}): no labelled pixel (every mask pixel is 255, ignored)" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"random bytes, not a zip", "truncated"])
def test_a_corrupt_checkpoint_is_one_line_and_deleting_it_restarts(tmp_path, cli_error, content):
    run = tmp_path / "r"
    args = [str(a) for a in ["train", run, *TINY, "--iterations", "2"]]
    assert main(args) == 0
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000] if content == "truncated" else content)
    err = cli_error(args)
    assert f"{ckpt}: unreadable run checkpoint" in err and "delete it to start the run again" in err
    ckpt.unlink()
    assert main(args) == 0 and ckpt.is_file()


def test_a_checkpoint_holding_more_than_tensors_is_refused(tmp_path, cli_error):
    """weights_only: a run directory someone hands you cannot run code through its checkpoint."""
    run = tmp_path / "r"
    assert main(["train", str(run), *TINY, "--iterations", "2"]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["extra"] = shutil.copy  # a pickled function: loads only with weights_only=False
    torch.save(state, run / "checkpoint.pt")
    err = cli_error(["train", run, *TINY, "--iterations", "2"])
    assert "unreadable run checkpoint" in err and "delete it" in err


def test_ctrl_c_in_train_is_one_line_with_status_130_and_the_same_command_resumes(tmp_path, capsys, monkeypatch):
    run = tmp_path / "r"
    args = ["train", str(run), *TINY, "--iterations", "5", "--checkpoint-every", "2", "--log-every", "1"]
    real = engine.lr_at

    def interrupt_at_3(it, cfg):
        if it == 3:
            raise KeyboardInterrupt
        return real(it, cfg)
    monkeypatch.setattr(engine, "lr_at", interrupt_at_3)
    capsys.readouterr()
    assert main(args) == 130
    err = capsys.readouterr().err
    assert err == f"segformer-lab: {run}: interrupted at iteration 3 of 5; the same command resumes from iteration 2\n"
    assert not (run / "metrics.json").exists()
    assert [json.loads(line)["iteration"] for line in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3]
    monkeypatch.setattr(engine, "lr_at", real)
    assert main(args) == 0
    assert json.loads((run / "metrics.json").read_text())["resumed_from"] == 2
    # the log's lines past the checkpoint were dropped on resuming, then written again
    assert [json.loads(line)["iteration"] for line in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5]


def test_ctrl_c_in_run_and_evaluate_leaves_no_row(tmp_path, capsys, monkeypatch):
    import segformer_lab.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "train", interrupted)
    capsys.readouterr()
    assert main(["run", "decoder_vs_cnn", "--preset", "smoke", "--results", str(tmp_path / "res"),
                 "--runs", str(tmp_path / "runs"), "--quiet"]) == 130
    assert capsys.readouterr().err == "segformer-lab: interrupted; the same command resumes\n"
    assert not (tmp_path / "res" / "decoder_vs_cnn.csv").exists()
    monkeypatch.setattr(engine, "evaluate_model", interrupted)
    assert main(["train", str(tmp_path / "r"), *TINY, "--iterations", "1"]) == 130
    assert not (tmp_path / "r" / "metrics.json").exists()


def run_table(path, rows):
    columns = ["experiment", "variant", "seed", "preset", "run_id", "miou"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


@pytest.mark.parametrize("rows, expected", [
    ([["pe_vs_mixffn", "mixffn", 0, "smoke", "a1", "high"]],
     "pe_vs_mixffn.csv, line 2, column miou: 'high' is not a number"),
    ([["pe_vs_mixffn", "mixffn", 0, "smoke", "a1", 1.0], ["pe_vs_mixffn", "mixffn", 1, "smoke", "a1", 2.0]],
     "pe_vs_mixffn.csv, lines 2 and 3: run id a1 appears twice"),
    ([["pe_vs_mixffn", "mixffn", 0, "smoke", "a1", 1.0, "extra"]],
     "pe_vs_mixffn.csv, line 2: 7 fields where the header has 6"),
])
def test_report_names_the_file_line_and_column_of_a_defect_and_writes_nothing(tmp_path, cli_error, rows, expected):
    run_table(tmp_path / "pe_vs_mixffn.csv", rows)
    assert expected in cli_error(["report", tmp_path])
    assert not (tmp_path / "report.md").exists()


@pytest.mark.parametrize("content, expected", [
    (b"", "pe_vs_mixffn.csv: empty (no header line)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "pe_vs_mixffn.csv: not a text CSV"),
    (b"experiment,variant,seed,run_id\n", "pe_vs_mixffn.csv, line 1: a run table without the column(s)"),
])
def test_report_on_an_empty_binary_or_headless_csv_names_it(tmp_path, cli_error, content, expected):
    (tmp_path / "pe_vs_mixffn.csv").write_bytes(content)
    if b"run_id" in content:
        (tmp_path / "pe_vs_mixffn.csv").write_bytes(b"experiment,variant,seed,run_id,preset\n")
    assert expected in cli_error(["report", tmp_path])
    assert not (tmp_path / "report.md").exists()


def test_report_skips_a_cut_last_line_and_puts_no_exception_text_in_report_md(tmp_path, capsys):
    run_table(tmp_path / "reduction_ratio.csv", [["reduction_ratio", "r8", 0, "smoke", "a1", 1.0]])
    with (tmp_path / "reduction_ratio.csv").open("a") as f:
        f.write("reduction_ratio,r1,0,smo")  # a write stopped midway
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 0
    assert "reduction_ratio.csv, line 3: cut short (a write stopped midway); skipped" in capsys.readouterr().err
    report = (tmp_path / "report.md").read_text()
    for text in ("Error:", "Errno", "Traceback"):
        assert text not in report
    assert "no results yet: " in report and "reduction_ratio_costs.csv: missing" in report


def test_evaluate_names_the_trust_flag_for_an_unreadable_checkpoint(tmp_path, cli_error):
    root = folder_dataset(tmp_path / "data")
    (tmp_path / "model.pth").write_bytes(b"not a checkpoint")
    err = cli_error(["evaluate", tmp_path / "model.pth", "--data", f"folder:{root}:val", "--results", tmp_path / "ev"])
    assert "model.pth: cannot read checkpoint" in err and "--trust on the command line" in err
    assert not (tmp_path / "ev").exists()
