#!/usr/bin/env bash
# One GPU sitting, prepared: what a 15-minute loan of a GPU machine (about 7 minutes of it for training) settles.
#
#   bash benchmarks/gpu_sitting.sh prepare      here, where a package registry answers: the wheels the GPU
#                                               machine lacks (captum, imagecorruptions-imaug) into .whl/
#   bash benchmarks/gpu_sitting.sh run [MIN]    on the GPU machine, from the repository root, with .whl/ carried
#                                               and $OUT the folder that comes back (default MIN: 7)
#   bash benchmarks/gpu_sitting.sh dry          here, on the CPU: every step at the smoke preset, into $OUT
#
# `run`: checks the GPU and torch, runs the CUDA tests (bf16 autocast, a killed run resumed), measures the
# training rates the GPU gives (benchmarks/bench_gpu.py, about 3 minutes), trains with
# `run all --preset gpu --time-budget MIN --jobs 4` into results/gpu (the runs behind the claims the report
# marks "not tested" first; a run that its measured or estimated time says cannot finish is not started), then
# the benchmark's CUDA rows (ours against transformers, training step and inference). Everything it writes is
# bundled into $OUT/sitting.tar.gz (the folder gpu/: results/gpu as it then is) and $OUT/sitting.log. Run it as
#   SEGFORMER_LAB_COMMIT=<the commit sent> bash benchmarks/gpu_sitting.sh run 7
# (the copy of the tree there has no git history; the rows name that commit), then here
#   tar -xzf <files_at>/sitting.tar.gz -C results    and commit results/gpu.
# SITTING_EXPERIMENTS (default "all") names the experiments to run.
set -uo pipefail
mode=${1:-}
minutes=${2:-7}
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
experiments=${SITTING_EXPERIMENTS:-all}

case "$mode" in
  prepare)
    mkdir -p .whl
    exec "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl captum==0.9.0 imagecorruptions-imaug==1.1.5
    ;;
  run)
    preset=gpu; device=cuda; results=results/gpu; runs=/tmp/sitting_runs; jobs=4; bench_size=512; bench_repeats=10
    bench_gpu_args="" ;;
  dry)
    preset=smoke; device=cpu; results="${OUT:?set OUT to a folder}/results_dry"; runs="$OUT/runs_dry"; jobs=2; bench_size=64
    bench_repeats=2; minutes=${2:-2}; bench_gpu_args="--tiny --models resnet18_mlp segformer_b0" ;;
  *)
    echo "usage: bash benchmarks/gpu_sitting.sh prepare | run [MINUTES] | dry" >&2; exit 2 ;;
esac
out=${OUT:?set OUT to the folder that comes back}
mkdir -p "$out" "$results"
log="$out/sitting.log"
step() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$log"; }

if compgen -G ".whl/*.whl" >/dev/null; then  # no registry on the GPU machine: the carried wheels
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/sitting_site \
    .whl/*.whl >>"$log" 2>&1 || { echo "the carried wheels did not install (see $log)" >&2; exit 1; }
  export PYTHONPATH=/tmp/sitting_site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
lab() { "$py" -m segformer_lab.cli "$@"; }

step "device and torch"
"$py" - "$device" >>"$log" 2>&1 <<'EOF' || { cat "$log" >&2; exit 1; }
import sys, torch
device = sys.argv[1]
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if device == "cuda":
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this is the GPU sitting, run `dry` on a CPU")
    print("gpu", torch.cuda.get_device_name(0), f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
import segformer_lab, captum  # the package from this tree and the carried wheel
print("segformer_lab from", segformer_lab.__file__)
EOF

step "CUDA tests"
timeout 240 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py >>"$log" 2>&1
echo "CUDA tests exit status $?" | tee -a "$log"

step "bench_gpu: the training rates this GPU gives"
timeout 240 "$py" benchmarks/bench_gpu.py --device "$device" $bench_gpu_args --out "$results/bench_gpu.csv" >>"$log" 2>&1
echo "bench_gpu exit status $?" | tee -a "$log"

step "runs: $experiments at the $preset preset, $minutes min"
timeout $((minutes * 60 + 90)) "$py" -m segformer_lab.cli run $experiments --preset "$preset" --results "$results" \
  --runs "$runs" --jobs "$jobs" --time-budget "$minutes" --quiet >>"$log" 2>&1
echo "runs exit status $?" | tee -a "$log"
tail -1 "$log"

step "benchmarks: ours against transformers on $device"
for mode_ in train inference; do
  timeout 120 "$py" benchmarks/bench_vs_transformers.py --variant b0 --mode "$mode_" --size "$bench_size" \
    --batch 8 --repeats "$bench_repeats" --device "$device" --out "$results/bench_vs_transformers.csv" >>"$log" 2>&1
  echo "bench $mode_ exit status $?" | tee -a "$log"
done

step "bundle"
tar -czf "$out/sitting.tar.gz" -C "$(dirname "$results")" "$(basename "$results")" && echo "bundled $results into $out/sitting.tar.gz" | tee -a "$log"
