"""The `segformer-lab` command line."""
from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from pathlib import Path

from .registry import VARIANTS, variant_config


def repo_root() -> Path:
    """The repository holding `experiments/` and `results/`: the package's parent in a source checkout,
    otherwise the current directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "experiments").is_dir() else Path.cwd()


def load_experiment(name: str):
    """Import `experiments/<name>.py` of the repository as a module."""
    path = repo_root() / "experiments" / f"{name}.py"
    if not path.is_file():
        found = sorted(p.stem for p in path.parent.glob("*.py") if not p.stem.startswith("_"))
        raise SystemExit(f"error: no experiment {name!r} ({path}); experiments: {', '.join(found) or 'none'}")
    spec = importlib.util.spec_from_file_location(f"experiments.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_overrides(items: list) -> dict:
    """`["sr_ratios=1,1,1,1", "pos_encoding=learned"]` -> {"sr_ratios": (1, 1, 1, 1), "pos_encoding": "learned"}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"error: --set expects FIELD=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _cmd_variants(args) -> None:
    for name in VARIANTS:
        cfg = variant_config(name)
        print(f"{name:22s} {type(cfg).__name__}")


def _cmd_profile(args) -> None:
    import torch

    from .cost import profile
    from .registry import build_model
    torch.manual_seed(0)
    try:
        model = build_model(args.variant, args.num_classes, **parse_overrides(args.set)).to(args.device)
    except (KeyError, TypeError, ValueError) as e:
        raise SystemExit(f"error: {e.args[0]}")
    if len(args.size) not in (1, 2):
        raise SystemExit(f"error: --size takes one side or H W, got {args.size}")
    size = (args.size[0], args.size[-1])
    row = profile(model, size, args.batch, timing=not args.no_timing, repeats=args.repeats)
    print(f"{args.variant} at {size[0]}x{size[1]}, batch {args.batch}, {row['device']}")
    print(f"  params        {row['params'] / 1e6:10.3f} M  (encoder {row['encoder_params'] / 1e6:.3f} M, "
          f"decoder {row['decoder_params'] / 1e6:.3f} M)")
    print(f"  FLOPs         {row['gflops']:10.2f} G  (torch.utils.flop_counter: 2 per multiply-accumulate)")
    print(f"  MACs          {row['gmacs']:10.2f} G  (the paper's 'FLOPs' convention)")
    print(f"  peak memory   {row['peak_mem_mb']:10.1f} MiB ({row['mem_method']})")
    if not args.no_timing:
        print(f"  latency       {row['latency_ms']:10.1f} ms median of {args.repeats} "
              f"(min {row['latency_min_ms']:.1f}, max {row['latency_max_ms']:.1f})")


def _cmd_costs(args) -> None:
    load_experiment("model_costs").main(out=args.out)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="segformer-lab", description=__doc__, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("variants", help="list the model variants", formatter_class=fmt)
    p.set_defaults(func=_cmd_variants)

    p = sub.add_parser("profile", help="params, FLOPs, peak memory and latency of a variant", formatter_class=fmt)
    p.add_argument("variant", help="a name from `segformer-lab variants`")
    p.add_argument("--size", type=int, nargs="+", default=[512], help="input side, or H W")
    p.add_argument("--batch", type=int, default=1, help="batch size")
    p.add_argument("--num-classes", type=int, default=150, help="classes of the head")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--repeats", type=int, default=10, help="timed forward passes")
    p.add_argument("--no-timing", action="store_true", help="skip the latency measurement")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a config field (repeatable)")
    p.set_defaults(func=_cmd_profile)

    p = sub.add_parser("costs", help="params and FLOPs of B0-B5 and the baselines beside the paper's Table 1",
                       formatter_class=fmt)
    p.add_argument("--out", default=str(repo_root() / "results" / "model_costs.csv"), help="CSV to write")
    p.set_defaults(func=_cmd_costs)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "parse_overrides", "load_experiment", "repo_root"]
