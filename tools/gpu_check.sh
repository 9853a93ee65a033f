#!/usr/bin/env bash
# The prepared GPU check: one script, one output folder, at most 8 minutes.
#
#   make gpu-bundle                  # on a CPU machine with a package index
#   bash tools/gpu_check.sh          # on the GPU machine (no index needed)
#   bash tools/gpu_check.sh --dry-run   # prints every step and the bundle size
#
# On a machine like the project's GPU machines (Python 3.12, NumPy 2.x,
# cupy-cuda13x 14.x preinstalled, no package index), it
#  1. installs gpu-bundle/ with pip --no-index --no-deps --target (a folder
#     outside the checkout, put first on PYTHONPATH; nothing else changes);
#  2. checks that vox imports and DEVICE=@cupy:0 reaches the GPU, and
#     generates the built-in corpus (into a VOX_CACHE outside the checkout);
#  3. runs the GPU-marked tests and the CuPy-name tests;
#  4. make bench DEVICE=@cupy:0 at the faithful sizes (iteration time,
#     samples/s, FLOP/s against the GPU's FP32 and TF32 peaks, CuPy pool
#     peaks), with the measured VRAM table: 54314b33 at 256 frames and
#     cfcefd21 at 64, minibatch 1/2/4/8/16, and the largest minibatch that
#     trains under a 3017 MiB pool limit;
#  5. the same training steps with CUPY_TF32=1 (a second bench process);
#  6. the smoke profile of every experiment with DEVICE=@cupy:0.
# Steps stop at their own time limit and the whole at GPU_CHECK_BUDGET_S
# (default 480 s); every line of progress carries a UTC timestamp, so a run
# cut short still says how far it got.  Output, at most 8 files, in $OUT
# when set, else gpu-results/: progress.log, steps.jsonl, summary.json,
# summary.md, performance.json, performance.md, tf32.json.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DRY=0
[ "${1:-}" = --dry-run ] && DRY=1
PYTHON=${PYTHON:-python3}
BUNDLE=${BUNDLE:-gpu-bundle}
RESULTS=${OUT:-$REPO/gpu-results}
BUDGET=${GPU_CHECK_BUDGET_S:-480}
SITE=${GPU_CHECK_SITE:-${TMPDIR:-/tmp}/vox-gpu-site}
WORK=${TMPDIR:-/tmp}/vox-gpu-work
START=$SECONDS

if [ ! -d "$BUNDLE" ] || ! ls "$BUNDLE"/*.whl >/dev/null 2>&1; then
    echo "gpu_check: no wheels in $BUNDLE/: run 'make gpu-bundle' first (on a machine with a package index)" >&2
    exit 2
fi
if [ "$DRY" = 0 ]; then
    mkdir -p "$RESULTS"
    rm -rf "$WORK/results" "$WORK"/*.log  # the corpus cache is kept for a rerun
    mkdir -p "$WORK"
fi
LOG=$RESULTS/progress.log
STEPS=$RESULTS/steps.jsonl
[ "$DRY" = 1 ] || { : > "$STEPS"; : > "$LOG"; }

say() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - START))s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - (SECONDS - START))); }

# step NAME LIMIT_S COMMAND...: runs it (output into progress.log), records
# name, exit status and seconds in steps.jsonl; skipped when the budget is
# spent.  In --dry-run, prints it instead.
step() {
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    if [ "$DRY" = 1 ]; then
        printf '  %-24s (<= %4ss)  %s\n' "$name" "$limit" "$*"
        return 0
    fi
    local remaining
    remaining=$(left)
    if [ "$remaining" -lt 15 ]; then
        say "skip $name: the ${BUDGET}s budget is spent"
        echo "{\"step\": \"$name\", \"status\": \"skipped\", \"seconds\": 0}" >> "$STEPS"
        return 0
    fi
    [ "$limit" -gt "$remaining" ] && limit=$remaining
    say "start $name (limit ${limit}s): $*"
    # The full output stays in $WORK; progress.log gets its last 6000
    # characters (progress bars rewrite lines with \r: one line each).
    timeout --kill-after=10 "$limit" "$@" > "$WORK/$name.log" 2>&1
    rc=$?
    tail -c 6000 "$WORK/$name.log" | tr '\r' '\n' | grep -v '^\s*$' | tail -n 60 >> "$LOG"
    local status=ok
    [ $rc -ne 0 ] && status=failed
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && status=timeout
    say "end $name: $status (exit $rc, $((SECONDS - t0))s)"
    echo "{\"step\": \"$name\", \"status\": \"$status\", \"exit\": $rc, \"seconds\": $((SECONDS - t0))}" >> "$STEPS"
}

export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export VOX_CACHE="$WORK/cache"
# make targets when make is there, else the commands they run.
if command -v make >/dev/null 2>&1; then
    CORPUS_CMD=(make corpus SYSTEM_PYTHON="$PYTHON")
    smoke_cmd() { SMOKE=(make "exp-$1" PROFILE=smoke DEVICE=@cupy:0 RESULTS="$WORK/results" FRESH=1 SYSTEM_PYTHON="$PYTHON"); }
    BENCH_CMD=(make bench DEVICE=@cupy:0 SYSTEM_PYTHON="$PYTHON" BENCH_OPTS="--vram-batches 1 2 4 8 16 --json $RESULTS/performance.json --md $RESULTS/performance.md")
else
    CORPUS_CMD=("$PYTHON" -m vox.cli corpus)
    smoke_cmd() { SMOKE=("$PYTHON" -m vox.cli run "$1" --profile smoke --device @cupy:0 --results "$WORK/results" --fresh); }
    BENCH_CMD=("$PYTHON" tools/bench.py --device @cupy:0 --vram-batches 1 2 4 8 16 --json "$RESULTS/performance.json" --md "$RESULTS/performance.md")
fi
# Every experiment of the checkout (what `vox list` prints), classifier first.
ALL_IDS=(e19098ab)
for d in experiments/*/config.yaml; do
    id=${d#experiments/}; id=${id%/config.yaml}
    [ "$id" = e19098ab ] || ALL_IDS+=("$id")
done

if [ "$DRY" = 1 ]; then
    echo "gpu_check --dry-run: bundle $BUNDLE/: $(ls "$BUNDLE"/*.whl | wc -l) wheels, $(du -sk "$BUNDLE" | cut -f1) KiB"
    ls -l "$BUNDLE" | sed 's/^/  /'
    echo "  (the checkout travels beside it: $(git ls-files -z | du -ch --files0-from=- 2>/dev/null | tail -1 | cut -f1) tracked)"
    echo "would write to $RESULTS/ (progress.log steps.jsonl summary.json summary.md performance.json performance.md tf32.json), budget ${BUDGET}s, steps:"
else
    say "gpu_check: $($PYTHON --version 2>&1) ($PYTHON), bundle $(du -sk "$BUNDLE" | cut -f1) KiB, budget ${BUDGET}s, output $RESULTS"
fi

step install 60 "$PYTHON" -m pip install --no-index --no-deps --no-compile -q --upgrade --target "$SITE" "$BUNDLE"/*.whl
step versions 30 "$PYTHON" -c 'import vox, chainer, numpy, cupy, sys; from chainer.backends import cuda; from vox.base.device import get_device; d = get_device("@cupy:0"); print("python", sys.version.split()[0], "numpy", numpy.__version__, "chainer", chainer.__version__, "cupy", cupy.__version__, "cuda.available", cuda.available, "cudnn", cuda.cudnn_enabled, "device", d); print(cupy.cuda.runtime.getDeviceProperties(0)["name"])'
# The generated corpus once, for the smoke runs and the bench (VOX_CACHE).
step corpus 90 "${CORPUS_CMD[@]}"
step gpu-tests 120 "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu tests tests/test_cupy_names.py
smoke_cmd cfcefd21
step smoke-cfcefd21 60 "${SMOKE[@]}"
step bench 150 "${BENCH_CMD[@]}"
step tf32 60 env CUPY_TF32=1 "$PYTHON" tools/bench.py --device @cupy:0 --no-vram --only 54314b33 cfcefd21 --json "$RESULTS/tf32.json" --md "$WORK/tf32.md"
for id in "${ALL_IDS[@]}"; do
    [ "$id" = cfcefd21 ] && continue
    smoke_cmd "$id"
    step "smoke-$id" 45 "${SMOKE[@]}"
done
if [ "$DRY" = 1 ]; then
    printf '  %-24s (always)     %s\n' summary "$PYTHON tools/gpu_summary.py $RESULTS"
    exit 0
fi
# The summary runs even when the budget is spent (it takes a second).
"$PYTHON" tools/gpu_summary.py "$RESULTS" >> "$LOG" 2>&1 || say "summary failed"
say "gpu_check: done in $((SECONDS - START))s; $(grep -c '"ok"' "$STEPS") of $(wc -l < "$STEPS") steps ok"
! grep -q '"failed"\|"timeout"' "$STEPS"
