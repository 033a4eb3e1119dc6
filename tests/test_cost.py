"""FLOP counts against an analytic count of the architecture, memory tracking, profile and the CLI."""
import pytest
import torch

from segformer_lab import build_model
from segformer_lab.cli import main, parse_overrides
from segformer_lab.cost import _LiveBytes, count_flops, latency_round_robin, peak_memory, profile


def analytic_segformer_macs(cfg, height, width):
    """Multiply-accumulates of SegFormer written from the paper: patch convs, q / sr / kv / attention / proj,
    Mix-FFN (fc1, 3x3 depthwise, fc2) and the All-MLP decoder (no biases, norms or resizes)."""
    total, h, w, cin, grids = 0, height, width, cfg.in_channels, []
    for i in range(4):
        k, s, p = (7, 4, 3) if i == 0 else (3, 2, 1)
        h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        c, n, r = cfg.embed_dims[i], h * w, cfg.sr_ratios[i]
        hidden = c * cfg.mlp_ratios[i]
        m = (h // r) * (w // r)
        total += c * cin * k * k * n
        block = n * c * c + (m * c * c * r * r if r > 1 else 0) + m * c * 2 * c + 2 * n * m * c + n * c * c
        block += n * c * hidden + n * hidden * 9 + n * hidden * c
        total += cfg.depths[i] * block
        cin = c
        grids.append(n)
    d = cfg.decoder_dim
    total += sum(n * c * d for n, c in zip(grids, cfg.embed_dims))
    total += grids[0] * 4 * d * d + grids[0] * d * cfg.num_classes
    return total


@pytest.mark.parametrize("name, size", [("segformer_b0", (512, 512)), ("segformer_b1", (96, 160)),
                                        ("segformer_tiny", (97, 131))])
def test_flops_equal_analytic_count(name, size):
    model = build_model(name, 150)
    assert count_flops(model, size)["macs"] == analytic_segformer_macs(model.config, *size)


def test_flop_count_independent_of_attention_kernel_and_fold():
    model = build_model("segformer_tiny", 5)
    a = count_flops(model, 128)
    assert model.decode_head.fold and model.backbone.block1[0].attn.use_sdpa  # restored after counting
    b = count_flops(build_model("segformer_tiny", 5, attention="explicit"), 128)
    assert a["flops"] == b["flops"] == 2 * a["macs"]
    assert a["by_op"]["bmm"] > 0  # attention matmuls are counted


def test_flops_grow_quadratically_with_full_attention():
    full = build_model("segformer_tiny", 5, sr_ratios=(1, 1, 1, 1))
    reduced = build_model("segformer_tiny", 5)
    f = [count_flops(full, s)["by_op"]["bmm"] for s in (64, 128)]
    r = [count_flops(reduced, s)["by_op"]["bmm"] for s in (64, 128)]
    assert f[1] / f[0] == pytest.approx(16, rel=0.01)  # N^2: 4x the tokens, 16x the attention
    assert f[1] > r[1]


def test_live_bytes_peak():
    def run():
        x = torch.ones(1024, 256)  # 1 MiB
        y = x * 2  # 2 MiB live
        del x  # 1 MiB
        z = y + 1  # y and z live: 2 MiB
        v = z.view(-1)  # a view adds nothing
        return v.sum()  # plus one 4-byte scalar
    with _LiveBytes() as tracker:
        run()
    assert tracker.peak == 2 * 2**20 + 4
    assert tracker.current == 0  # everything was freed


def test_peak_memory_grows_with_input():
    model = build_model("segformer_tiny", 5)
    small, large = peak_memory(model, 64)["peak_bytes"], peak_memory(model, 128)["peak_bytes"]
    assert 3 * small < large < 5 * small


def test_profile_row():
    row = profile(build_model("segformer_tiny", 5), (64, 96), repeats=2)
    assert row["height"] == 64 and row["width"] == 96 and row["latency_ms"] > 0
    assert row["params"] == row["encoder_params"] + row["decoder_params"]
    assert row["gflops"] == pytest.approx(2 * row["gmacs"])


def test_cli_profile(capsys):
    assert main(["profile", "segformer_tiny", "--size", "64", "96", "--repeats", "2",
                 "--set", "sr_ratios=1,1,1,1"]) == 0
    out = capsys.readouterr().out
    assert "segformer_tiny at 64x96" in out and "MACs" in out and "latency" in out


def test_cli_errors(cli_error):
    assert "unknown model variant 'segformer_b7'" in cli_error(["profile", "segformer_b7", "--no-timing"])
    assert "unknown override(s) ['depth']" in cli_error(["profile", "segformer_tiny", "--no-timing", "--set", "depth=3"])
    assert "--set expects FIELD=VALUE" in cli_error(["profile", "segformer_tiny", "--no-timing", "--set", "depth"])


def test_parse_overrides():
    assert parse_overrides(["sr_ratios=1,1,1,1", "pos_encoding=learned", "decoder_dim=64"]) == {
        "sr_ratios": (1, 1, 1, 1), "pos_encoding": "learned", "decoder_dim": 64}


def test_cli_help_shows_defaults(capsys):
    assert main(["profile", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: [512])" in out and "(default: 10)" in out


def load_benchmark(name: str):
    """Import benchmarks/<name>.py (a script, not a package module)."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_benchmark_script_runs_and_agrees(tmp_path, capsys):
    pytest.importorskip("transformers")
    bench = load_benchmark("bench_vs_transformers")
    out = tmp_path / "bench.csv"
    bench.main(["--size", "64", "--repeats", "1", "--warmup", "0", "--out", str(out)])
    assert "outputs agree" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert lines[0].split(",") == bench.COLUMNS and len(lines) == 2


def test_latency_benchmark_times_every_variant_of_an_experiment_in_turn(tmp_path, capsys):
    import pandas as pd
    bench = load_benchmark("bench_latency")
    calls = []

    class Probe(torch.nn.Module):
        def __init__(self, name):
            super().__init__()
            self.name = name
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            calls.append((self.name, tuple(x.shape)))
            return x

    times = latency_round_robin({"a": Probe("a"), "b": Probe("b")}, size=16, repeats=2, warmup=1)
    assert calls == [("a", (1, 3, 16, 16)), ("b", (1, 3, 16, 16))] * 3  # round-robin, warm-up round untimed
    assert list(times) == ["a", "b"]
    assert all(0 < t["latency_min_ms"] <= t["latency_ms"] <= t["latency_max_ms"] for t in times.values())
    out = tmp_path / "latency.csv"
    bench.main(["--experiments", "decoder_width", "--sizes", "32", "--rounds", "1", "--out", str(out)])
    frame = pd.read_csv(out)
    assert list(frame.columns) == bench.COLUMNS
    assert list(frame["variant"]) == ["c64", "c128", "c256", "c512", "c768"] and (frame["latency_ms"] > 0).all()
    assert "c768" in capsys.readouterr().out
