"""The `segformer-lab` command line.

A user error (an unknown field, variant, preset, experiment, dataset or corruption, a bad value, a missing or
unreadable file, a checkpoint that does not fit) prints one line, `segformer-lab: error: ...`, and exits with
status 2; everything is checked before a run directory or result is written. Ctrl-C prints one line (where a
run stopped) and exits with status 130; the same command resumes. `--debug` shows the traceback.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import math
import re
import sys
from pathlib import Path

from .protocols import PROTOCOLS
from .registry import VARIANTS, variant_config
from .ablation import Script
from .repo import ablations, load_experiment, repo_root

PROTOCOL_NAMES = list(PROTOCOLS)
USER_ERRORS = (ValueError, KeyError, TypeError, OSError)  # what a bad argument, config or file raises
HELP_FORMAT = argparse.ArgumentDefaultsHelpFormatter  # every parser shows its defaults
PRESET_NAMES = ["smoke", "quick", "default", "gpu"]  # --preset of run, prune and report


def parse_overrides(items: list) -> dict:
    """`["sr_ratios=1,1,1,1", "pos_encoding=learned"]` -> {"sr_ratios": (1, 1, 1, 1), "pos_encoding": "learned"}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
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
    if len(args.size) not in (1, 2):
        raise ValueError(f"--size takes one side or H W, got {args.size}")
    model = build_model(args.variant, args.num_classes, **parse_overrides(args.set)).to(args.device)
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


def field_comments(cls) -> dict:
    """The one-line comment beside each field of a dataclass's source: {field: comment}."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+): [^=]+=.*?#\s*(.*)$", line)
        if m:
            comments[m.group(1)] = m.group(2).replace("%", "%%")
    return comments


def _add_config_options(parser: argparse.ArgumentParser, cls) -> None:
    """One option per dataclass field, its comment as help and its default shown; dict fields are set with --set."""
    comments = field_comments(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        comment = comments.get(f.name, "")
        if isinstance(default, dict):
            continue
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=comment)
        elif isinstance(default, tuple):
            parser.add_argument(flag, dest=f.name, type=type(default[0]), nargs=len(default), default=default,
                                help=comment)
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=default, help=comment)


def _config_from_args(args, cls, **extra):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **extra})


SHOWN = {"miou": "mIoU", "thing_miou": "thing mIoU", "macc": "mAcc", "aacc": "aAcc"}  # a metric that does not
# apply (thing mIoU where the dataset names no thing classes, NaN) is left out


def _cmd_train(args) -> None:
    from .engine import TrainConfig, train
    cfg = _config_from_args(args, TrainConfig, model_overrides=parse_overrides(args.set))
    cluster = _cluster_args(args)
    if cluster is None:
        metrics = train(cfg, args.run_dir, progress=not args.quiet)
    else:
        from .cluster import submit_train
        metrics = submit_train(cfg, args.run_dir, args.executor, *cluster)
    if metrics:
        print(f"{args.run_dir}: " + "  ".join(f"{label} {metrics[k]:.2f}" for k, label in SHOWN.items()
                                              if math.isfinite(metrics.get(k, math.nan))))


def _cmd_run(args) -> None:
    from .budget import TimeBudget
    from .runner import run_experiment
    names = [n for name in args.experiments for n in ([a.name for a in ablations()] if name == "all" else [name])]
    experiments = [load_experiment(name) for name in names]  # an unknown name fails before anything runs
    budget = None if args.time_budget is None else TimeBudget(args.time_budget, args.results)
    cluster = _cluster_args(args)
    if cluster is not None and budget is not None:
        raise ValueError("--time-budget works with the runs of this machine (--jobs), not with --executor")
    if args.plan:
        _print_plan(experiments, args)
    if budget is not None or args.preset == "gpu":  # a GPU's time is short: what it will take, before it starts
        runs, first = _runs_in_budget_order(experiments, args)
        print((budget or TimeBudget(math.inf, args.results)).forecast(runs, args.jobs, first), flush=True)
    if args.plan:
        return
    if budget is not None:  # first the runs behind the claims not tested yet, in every experiment
        for experiment, first in _priority_passes(experiments, args):
            run_experiment(experiment, args.preset, args.results, args.runs, args.data, progress=not args.quiet,
                           only=first, jobs=args.jobs, budget=budget)
        budget.left.clear()  # what the first pass left is considered again, in order, below
    for name, experiment in zip(names, experiments):
        if isinstance(experiment, Script):  # not a sweep of trained runs: its own way
            wrote = experiment.run(results=args.results, runs=args.runs, preset=args.preset, config=args.config,
                                   progress=not args.quiet)
            print(f"{name}: {wrote}")
            continue
        if cluster is not None:
            from .cluster import submit_experiment
            out = submit_experiment(experiment, args.preset, args.results, args.runs, args.data,
                                    tuple(args.only or ()), args.executor, cluster[0], args.jobs, cluster[1])
        else:
            out = run_experiment(experiment, args.preset, args.results, args.runs, args.data, progress=not args.quiet,
                                 only=tuple(args.only or ()), jobs=args.jobs, budget=budget)
        print(f"{name}: {out}")
    if budget is not None:
        print(budget.summary())
    if args.report:
        _cmd_report(argparse.Namespace(results=args.results, preset=args.preset))


def _cluster_args(args) -> tuple | None:
    """(Slurm options, Layout) of --executor and its options, or None without --executor (an option of it given
    alone is refused)."""
    given = [flag for flag, value in (("--slurm", args.slurm), ("--slurm-config", args.slurm_config),
                                      ("--nodes", args.nodes), ("--gpus-per-node", args.gpus_per_node),
                                      ("--tasks-per-node", args.tasks_per_node)) if value is not None]
    if args.executor is None:
        if given:
            raise ValueError(f"{given[0]} needs --executor local or --executor slurm")
        return None
    if args.executor == "local" and (args.slurm or args.slurm_config):
        raise ValueError(f"{given[0]} applies to --executor slurm, not local")
    from .cluster import layout_from, require_submitit, slurm_options
    require_submitit()  # the extra, before anything runs
    options = slurm_options(args.slurm or [], args.slurm_config)
    return options, layout_from(args.nodes or 1, args.gpus_per_node, args.tasks_per_node)


def _add_cluster_options(p) -> None:
    """--executor and its options, for `run` and `train`."""
    p.add_argument("--executor", choices=["local", "slurm"],
                   help="run each missing run as a job through submitit (pip install -e '.[cluster]'): on a Slurm "
                   "cluster, or on this machine (--jobs at a time); without it, runs train in this process (or --jobs "
                   "worker processes)")
    p.add_argument("--slurm", action="append", metavar="KEY=VALUE",
                   help="a Slurm option of the jobs (repeatable): partition, time (minutes, 240), gpus (1), cpus, "
                   "mem (GB), account, qos, constraint")
    p.add_argument("--slurm-config", metavar="TOML", help="a TOML file whose [slurm] table gives the Slurm options "
                   "(--slurm overrides them)")
    p.add_argument("--nodes", type=int, help="nodes per run: one run trains across them through "
                   "DistributedDataParallel (with --executor; default 1)")
    p.add_argument("--gpus-per-node", type=int, help="GPUs per node of a run, one process each (with --executor)")
    p.add_argument("--tasks-per-node", type=int, help="processes per node of a run (default: --gpus-per-node, or 1; "
                   "on CPUs, gloo processes)")


def _priority_passes(experiments, args) -> list:
    """[(experiment, variants)]: the priority variants each experiment plans under the preset, which `run
    --time-budget` trains first, experiment by experiment (none where --only names the variants, or for the
    models a user holds, which are evaluated, not trained)."""
    from .runner import priority_variants
    if args.only:
        return []
    return [(m, v) for m in experiments
            if not isinstance(m, Script) and (v := priority_variants(m, args.preset))]


def _runs_in_budget_order(experiments, args) -> tuple:
    """([(experiment, variant, seed, cfg)], n) of the runs `run --time-budget` would train, in the order it starts
    them: every experiment's priority variants first (unless --only names the variants; n of them), then the rest
    (a run the first pass trains counts once)."""
    from .runner import plan_experiment
    experiments = [m for m in experiments if not isinstance(m, Script)]
    high = _priority_passes(experiments, args)
    runs, trained, first = [], set(), 0
    for i, (experiment, only) in enumerate(high + [(m, tuple(args.only or ())) for m in experiments]):
        plan = plan_experiment(experiment, args.preset, args.results, args.runs, args.data, only, trained_before=trained)
        runs += [(experiment.name, variant, seed, cfg) for variant, seed, cfg in plan["runs"]]
        first = len(runs) if i < len(high) else first
    return runs, first


def _print_plan(experiments, args) -> None:
    """One line per experiment of what `run` would do (nothing is trained or written), then the total. A run that
    an earlier experiment of the command trains (erf reuses decoder_vs_cnn's) counts as reused; a Script is named
    and not counted."""
    import pandas as pd

    from .runner import plan_experiment
    lines, trained, pretrainings = [], set(), set()
    for experiment in experiments:
        if isinstance(experiment, Script):  # not a sweep of runs: nothing to count
            print(f"{experiment.name}: not a sweep of trained runs; `run` calls its own run()")
            continue
        plan = plan_experiment(experiment, args.preset, args.results, args.runs, args.data, tuple(args.only or ()),
                               trained_before=trained)
        models = pd.Series([cfg.model for _, _, cfg in plan.pop("runs")], dtype=str).value_counts()
        new = set(plan.pop("pretrainings")) - pretrainings
        pretrainings |= new
        lines.append({**plan, "pretrain": len(new), "models": ", ".join(f"{m} {n}" for m, n in models.items()) or "-"})
    if not lines:
        return
    table = pd.DataFrame(lines).set_index("experiment").drop(columns="preset")
    print(table.to_string())
    total = table.drop(columns="models").sum()
    print(f"total at the {args.preset} preset: {total['train']} runs to train, {total['resume']} to resume, "
          f"{total['reuse']} from finished runs, {total['pretrain']} pretrainings; "
          f"{total['images_128px']:,} training images (counted in 128 px crops)")


def _cmd_prune(args) -> None:
    from .runner import prune
    dropped = prune(load_experiment(args.experiment), args.preset, args.results, args.data)
    for r in dropped:
        print(f"dropped {r['variant']} seed {r['seed']} ({r['run_id']})")
    print(f"{args.experiment}: {len(dropped)} row(s) of the {args.preset} preset dropped")


def _cmd_report(args) -> None:
    from .report import build_report
    if not Path(args.results).is_dir():
        raise FileNotFoundError(f"no results folder {args.results}")
    out = build_report(args.results, args.preset, formats=tuple(getattr(args, "format", None) or ("png",)))
    print(f"report: {out}")
    if getattr(args, "notebooks", False):
        from .report import execute_notebooks
        for path in execute_notebooks(repo_root() / "notebooks", args.results):
            print(f"executed: {path}")


def _cmd_pretrain(args) -> None:
    from .pretrain import PretrainConfig, pretrain
    cfg = _config_from_args(args, PretrainConfig, model_overrides=parse_overrides(args.set))
    path = pretrain(cfg, progress=not args.quiet, force=args.force)
    print(f"pretrained encoder of {cfg.model}: {path}")


def _pair_option(values, flag):
    """A CLI size given as one side or H W -> (h, w); None when not given."""
    if values is None:
        return None
    if len(values) not in (1, 2) or min(values) <= 0:
        raise ValueError(f"{flag} takes one positive size or H W, got {values}")
    return (values[0], values[-1])


def _cmd_evaluate(args) -> None:
    if args.data:
        _cmd_evaluate_data(args)
        return
    from .engine import evaluate_run
    source = Path(args.source)
    if source.is_file() or any((source / n).is_file() for n in ("model.safetensors", "pytorch_model.bin")):
        raise ValueError(f"{source}: not a run directory of `segformer-lab train`; to evaluate a checkpoint, give "
                         "the dataset: --data NAME:ROOT[:SPLIT] (ade20k, cityscapes or folder)")
    crop, stride = _pair_option(args.crop, "--crop"), _pair_option(args.stride, "--stride")
    kwargs = dict(mode=args.mode, crop=crop[0] if crop else 0, stride=stride[0] if stride else 0,
                  canvas=args.canvas, zoom=args.zoom, scales=tuple(args.scales or (1.0,)), flip=args.flip,
                  protocol=args.protocol)
    if not args.corruptions:
        metrics = evaluate_run(source, out=args.out, **kwargs)
        print(json.dumps({k: v for k, v in metrics.items() if k not in ("iou", "confusion")
                          and not (isinstance(v, float) and math.isnan(v))}, indent=2))
        return
    from .corruptions import parse_corruptions, parse_severities
    names, severities = parse_corruptions(args.corruptions), parse_severities(args.severities)  # before anything runs
    rows = []
    print(f"{'corruption':18s} {'severity':>8s} {'mIoU':>7s} {'thing':>7s} {'s/image':>8s}")  # thing: '-' where none
    for name in names:
        for severity in severities:
            m = evaluate_run(source, corruption=name, severity=severity, **kwargs)
            rows.append({"corruption": name, "severity": severity,
                         **{k: v for k, v in m.items() if k not in ("iou", "confusion")}})
            thing = f"{m['thing_miou']:7.2f}" if math.isfinite(m["thing_miou"]) else f"{'-':>7s}"
            print(f"{name:18s} {severity:8d} {m['miou']:7.2f} {thing} {m['seconds_per_image']:8.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


def _cmd_evaluate_data(args) -> None:
    """`evaluate SOURCE --data NAME:ROOT[:SPLIT]`: any loadable model on a dataset the user holds."""
    from .study import evaluate_source
    if args.canvas is not None or args.zoom is not None:
        raise ValueError("--canvas and --zoom draw the embedded scenes; with --data the dataset's images are used")
    if args.out:
        raise ValueError("--out writes a run directory's metrics; with --data the results go to --results")
    resize = args.resize
    if resize is not None and (len(resize) != 2 or min(resize) <= 0):
        raise ValueError(f"--resize takes two positive sizes LONG SHORT, got {resize}")
    evaluate_source(args.source, args.data, out=args.results, protocol=args.protocol, max_images=args.max_images,
                    save_predictions=args.save_predictions, corruptions=args.corruptions, severities=args.severities,
                    resolutions=args.resolutions, device=args.device, force=args.force, progress=not args.quiet,
                    mode=args.mode, crop=_pair_option(args.crop, "--crop"),
                    stride=_pair_option(args.stride, "--stride"), scale=tuple(resize) if resize else None,
                    ratios=tuple(args.scales) if args.scales else None, flip=True if args.flip else None,
                    trust=args.trust)
    print(f"results: {args.results}")


def _cmd_erf(args) -> None:
    from .study import erf_source
    erf_source(args.source, args.data, out=args.results, images=args.images,
               canvas=_pair_option(args.canvas, "--canvas"), protocol=args.protocol, device=args.device,
               progress=not args.quiet, trust=args.trust)


class Parser(argparse.ArgumentParser):
    """argparse's parser with its errors (an unknown choice, a missing or malformed argument) in the command line's
    one-line form; subcommand parsers are of the same class."""

    def error(self, message):
        print(f"segformer-lab: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _add_variants_command(sub) -> None:
    """`segformer-lab variants` (no arguments), handled by _cmd_variants."""
    p = sub.add_parser("variants", help="list the model variants", formatter_class=HELP_FORMAT)
    p.set_defaults(func=_cmd_variants)


def _add_profile_command(sub) -> None:
    """`segformer-lab profile` and its arguments, handled by _cmd_profile."""
    p = sub.add_parser("profile", help="params, FLOPs, peak memory and latency of a variant",
                       formatter_class=HELP_FORMAT)
    p.add_argument("variant", help="a name from `segformer-lab variants`")
    p.add_argument("--size", type=int, nargs="+", default=[512], help="input side, or H W")
    p.add_argument("--batch", type=int, default=1, help="batch size")
    p.add_argument("--num-classes", type=int, default=150, help="classes of the head")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--repeats", type=int, default=10, help="timed forward passes")
    p.add_argument("--no-timing", action="store_true", help="skip the latency measurement")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a config field (repeatable)")
    p.set_defaults(func=_cmd_profile)


def _add_train_command(sub) -> None:
    """`segformer-lab train` and its arguments, handled by _cmd_train."""
    from .engine import TrainConfig
    p = sub.add_parser("train", help="train a model (resumes an interrupted run in the same directory)",
                       formatter_class=HELP_FORMAT)
    p.add_argument("run_dir", help="run directory: config.json, log.jsonl, checkpoint.pt, metrics.json, model.pt")
    _add_config_options(p, TrainConfig)
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a model config field")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_cluster_options(p)
    p.set_defaults(func=_cmd_train)


def _add_run_command(sub) -> None:
    """`segformer-lab run` and its arguments, handled by _cmd_run."""
    p = sub.add_parser("run", help="run an experiment of experiments/ (what is missing), one CSV row per run",
                       formatter_class=HELP_FORMAT)
    p.add_argument("experiments", nargs="+",
                   help="experiment names (files in experiments/); 'all' is the report's nine ablations (the four "
                        "core ones, then robustness, model_size, decoder_width, setr_vs_segformer and "
                        "overlap_patch_embed)")
    p.add_argument("--preset", choices=PRESET_NAMES, default="quick", help="budget preset")
    p.add_argument("--data", default="", metavar="DATASET:ROOT",
                   help="a real dataset instead of the embedded one, e.g. cityscapes:/data/cityscapes")
    p.add_argument("--results", default=str(repo_root() / "results"), help="folder of the CSV results")
    p.add_argument("--runs", default=str(repo_root() / "runs"), help="folder of the run directories")
    p.add_argument("--only", action="append", metavar="PATTERN",
                   help="run only the variants matching this shell pattern, e.g. '*_street' (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs trained at once, in separate processes (e.g. 4 on a GPU, which one small run leaves "
                   "mostly idle)")
    p.add_argument("--config", default="released.toml",
                   help="released_models: the file naming the checkpoints and dataset roots you hold (see "
                   "docs/released_models.md)")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="train the runs behind the claims not tested yet first (each experiment's priority), start no "
                   "run whose measured or estimated duration does not fit in the minutes left, and say what is left; "
                   "the estimate is printed before anything starts (with --plan: only printed)")
    p.add_argument("--report", action="store_true", help="then write the figures and report.md of --results")
    p.add_argument("--plan", action="store_true",
                   help="print what would run (runs done, to reuse, resume or train, pretrainings, training images) "
                   "and stop: size a sitting before it starts")
    _add_cluster_options(p)
    p.set_defaults(func=_cmd_run)


def _add_prune_command(sub) -> None:
    """`segformer-lab prune` and its arguments, handled by _cmd_prune."""
    p = sub.add_parser("prune", help="drop the rows (and ERF maps) of a preset that an experiment no longer "
                       "plans, e.g. after a change of its declared config", formatter_class=HELP_FORMAT)
    p.add_argument("experiment", help="experiment name (a file in experiments/)")
    p.add_argument("--preset", choices=PRESET_NAMES, default="quick", help="budget preset")
    p.add_argument("--data", default="", metavar="DATASET:ROOT", help="the real dataset the rows were run on")
    p.add_argument("--results", default=str(repo_root() / "results"), help="folder of the CSV results")
    p.set_defaults(func=_cmd_prune)


def _add_report_command(sub) -> None:
    """`segformer-lab report` and its arguments, handled by _cmd_report."""
    p = sub.add_parser("report", help="figures and report.md (verdict table, key figures) from a results folder",
                       formatter_class=HELP_FORMAT)
    p.add_argument("results", nargs="?", default=str(repo_root() / "results"), help="folder of the CSV results")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None,
                   help="report the rows of this preset (default: the largest budget present)")
    p.add_argument("--format", nargs="+", choices=["png", "pdf", "svg"], default=["png"],
                   help="save the key figures in these formats (the report shows the first)")
    p.add_argument("--notebooks", action="store_true",
                   help="also execute notebooks/*.ipynb in place against this results folder (needs nbclient)")
    p.set_defaults(func=_cmd_report)


def _add_pretrain_command(sub) -> None:
    """`segformer-lab pretrain` and its arguments, handled by _cmd_pretrain."""
    from .pretrain import PretrainConfig
    p = sub.add_parser("pretrain", help="pretrain an encoder on the embedded world (cached; the same budget for "
                       "every encoder)", formatter_class=HELP_FORMAT)
    _add_config_options(p, PretrainConfig)
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a model config field")
    p.add_argument("--force", action="store_true", help="pretrain again even if cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pretrain)


def _add_evaluate_command(sub) -> None:
    """`segformer-lab evaluate` and its arguments, handled by _cmd_evaluate."""
    p = sub.add_parser("evaluate", help="evaluate a run, or any checkpoint on a dataset you hold (--data), under "
                       "the dataset's standard protocol, optionally with corruptions or other resolutions",
                       formatter_class=HELP_FORMAT)
    p.add_argument("source", help="a run directory of `segformer-lab train`, or (with --data) a checkpoint: ours, a "
                   "transformers folder, an NVlabs / mmseg / torchvision .pth")
    p.add_argument("--data", default=None, metavar="NAME:ROOT[:SPLIT]",
                   help="a dataset you hold: ade20k:/data/ADEChallengeData2016, cityscapes:/data/cityscapes, "
                   "folder:/data/mine (default split: the protocol's, e.g. validation / val)")
    p.add_argument("--protocol", default=None,
                   help="test protocol (default: the dataset's standard one): " + ", ".join(PROTOCOL_NAMES))
    p.add_argument("--mode", choices=["whole", "slide"], default=None, help="inference mode (default: the protocol's "
                   "or the run's)")
    p.add_argument("--crop", type=int, nargs="+", default=None, metavar="SIZE",
                   help="slide window: one side or H W (default: the protocol's, or the run's training crop)")
    p.add_argument("--stride", type=int, nargs="+", default=None, metavar="SIZE",
                   help="slide stride: one side or H W (default: the protocol's; for a run 2/3 of the window)")
    p.add_argument("--resize", type=int, nargs=2, default=None, metavar=("LONG", "SHORT"),
                   help="--data: keep-ratio resize to fit LONG x SHORT (default: the protocol's)")
    p.add_argument("--scales", type=float, nargs="+", default=None, help="multi-scale ratios, e.g. 0.5 0.75 1 1.25 "
                   "1.5 1.75 (softmax averaged)")
    p.add_argument("--flip", action="store_true", help="add horizontally flipped inputs")
    p.add_argument("--corruptions", nargs="+", default=None, metavar="NAME",
                   help="evaluate under Table 5's corruptions: 'all', a group (blur, noise, digital, weather) or "
                   "corruption names")
    p.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="corruption severities, 1-5")
    p.add_argument("--resolutions", type=float, nargs="+", default=None, metavar="FACTOR",
                   help="--data: also evaluate at these factors of the protocol's test size (e.g. 0.5 0.75 1 1.5 2)")
    p.add_argument("--max-images", type=int, default=None, help="--data: only the first N images of the split")
    p.add_argument("--save-predictions", default=None, metavar="DIR",
                   help="--data: write labels/<image>.png (class indices) and overlays/<image>.png for every image")
    p.add_argument("--results", default=str(repo_root() / "results" / "evaluations"),
                   help="--data: folder of evaluations.csv, evaluations_per_class.csv and one <id>.md per evaluation")
    p.add_argument("--force", action="store_true", help="--data: evaluate again what evaluations.csv already holds")
    p.add_argument("--device", default="auto", help="--data: torch device (auto: cuda if available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--canvas", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="a run on the embedded scenes: size of each view (default: the run's val_canvas)")
    p.add_argument("--zoom", type=float, default=None,
                   help="a run on the embedded scenes: pixels per world unit (default: the run's)")
    p.add_argument("--out", default=None, help="a run: JSON file for the metrics (default: none)")
    p.add_argument("--trust", action="store_true", help="read a checkpoint pickle that holds more than tensors "
                   "(only a file you trust: unpickling can run code)")
    p.set_defaults(func=_cmd_evaluate)


def _add_erf_command(sub) -> None:
    """`segformer-lab erf` and its arguments, handled by _cmd_erf."""
    p = sub.add_parser("erf", help="Figure 3 for any model you hold: the ERF of the four encoder stages and the head "
                       "at the central output pixel, averaged over images of a dataset", formatter_class=HELP_FORMAT)
    p.add_argument("source", help="a run directory or a checkpoint: ours, a transformers folder, an NVlabs / mmseg / "
                   "torchvision .pth")
    p.add_argument("--data", required=True, metavar="NAME:ROOT[:SPLIT]", help="the images: ade20k:ROOT, "
                   "cityscapes:ROOT or folder:ROOT (labels are read and checked, not used)")
    p.add_argument("--images", type=int, default=100, help="average over the first N images of the split")
    p.add_argument("--canvas", type=int, nargs="+", default=None, metavar="SIZE",
                   help="centred window of each prepared image (H W, or one side); default: ADE20K 512x512, "
                   "Cityscapes the whole 1024x2048, a folder its smallest image")
    p.add_argument("--protocol", default=None, help="how images are prepared (default: the dataset's standard one): "
                   + ", ".join(PROTOCOL_NAMES))
    p.add_argument("--results", default=str(repo_root() / "results" / "erf_held"),
                   help="folder of erf_held.csv, the .npy maps and the figure")
    p.add_argument("--device", default="auto", help="torch device (auto: cuda if available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--trust", action="store_true", help="read a checkpoint pickle that holds more than tensors "
                   "(only a file you trust: unpickling can run code)")
    p.set_defaults(func=_cmd_erf)


def build_parser() -> argparse.ArgumentParser:
    """The `segformer-lab` parser: --debug, then one subcommand, each added by its _add_<name>_command."""
    parser = Parser(prog="segformer-lab", description=__doc__.split("\n\n")[0], formatter_class=HELP_FORMAT)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_variants_command(sub)
    _add_profile_command(sub)
    _add_train_command(sub)
    _add_run_command(sub)
    _add_prune_command(sub)
    _add_report_command(sub)
    _add_pretrain_command(sub)
    _add_evaluate_command(sub)
    _add_erf_command(sub)
    return parser


def error_message(e: BaseException) -> str:
    """One line for a user error: a KeyError's own message without the quotes str() adds."""
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(text).split())


def main(argv=None) -> int:
    """Run the command; 0 on success, 2 (with one line on stderr) on a user error; --debug re-raises it."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or an argparse error (2, its line already printed)
        return e.code if isinstance(e.code, int) else 1
    from .cluster import JobsFailed
    try:
        args.func(args)
    except JobsFailed as e:  # jobs that ended without a result: one line each, naming its log
        for line in str(e).splitlines():
            print(f"segformer-lab: error: {line}", file=sys.stderr)
        return 1
    except USER_ERRORS as e:
        if args.debug:
            raise
        print(f"segformer-lab: error: {error_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C: checkpoints and rows are written whole, so the same command resumes
        if args.debug:
            raise
        text = error_message(e) or "interrupted; the same command resumes"
        print(f"segformer-lab: {text}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "parse_overrides"]
