#!/usr/bin/env bash
# The prepared GPU check: one script, one output folder, at most 8 minutes.
#
#   make gpu-bundle                  # on a CPU machine with a package index
#   bash tools/gpu_check.sh          # on the GPU machine (no index needed)
#   bash tools/gpu_check.sh --dry-run   # prints every step, its limit, the bundle
#
# On a machine like the project's GPU machines (Python 3.12, NumPy 2.x,
# cupy-cuda13x 14.x and PyTorch with cuDNN preinstalled, no package index),
# in this order (the most valuable first: a run cut short by the budget
# loses the end):
#  1. installs gpu-bundle/ with pip --no-index --no-deps: the wheels into a
#     folder outside the checkout put first on PYTHONPATH, MPICH's wheel
#     (its libmpi is wheel data) into a prefix of its own that mpi4py is
#     pointed at (MPI4PY_LIBMPI); nothing else changes;
#  2. checks that vox imports and DEVICE=@cupy:0 reaches the GPU;
#  3. vox against PyTorch (tools/vs_torch.py): every experiment's training
#     step at its faithful minibatch, vox with TF32 off and on against
#     layer-for-layer PyTorch twins with cuDNN (cudnn.benchmark off and on,
#     TF32 off and on), weights copied and first-step losses compared
#     before timing, medians of interleaved synchronised steps;
#  4. generates the built-in corpus (into a VOX_CACHE outside the checkout);
#  5. make bench DEVICE=@cupy:0 at the faithful sizes (iteration time,
#     samples/s, FLOP/s against the GPU's FP32 and TF32 peaks, CuPy pool
#     peaks), with the measured VRAM table: 54314b33 at 256 frames and
#     cfcefd21 at 64, minibatch 1/2/4/8/16, and the largest minibatch that
#     trains under the blog's 3017 MiB (bench's --vram-budget-mib default)
#     as CuPy's pool limit;
#  6. ChainerMN over NCCL: which MPI, NCCL and CuPy NCCL ChainerMN sees,
#     then cfcefd21's `test` profile as a 1-rank --distributed run with the
#     `naive` communicator and again with `pure_nccl` (the machines have
#     one GPU); the summary compares their logs;
#  7. the GPU-marked tests and the CuPy-name tests;
#  8. the bench's training steps with CUPY_TF32=1 (a second bench process);
#  9. the smoke profile of every experiment with DEVICE=@cupy:0.
# Steps stop at their own time limit and the whole at GPU_CHECK_BUDGET_S
# (default 480 s); every line of progress carries a UTC timestamp, so a run
# cut short still says how far it got.  Output, 8 files, in $OUT when set,
# else gpu-results/: progress.log, steps.jsonl, summary.json, summary.md
# (printed at the end), performance.json, performance.md, tf32.json,
# vs_torch.json.
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
MPI_PREFIX=${GPU_CHECK_MPI:-${TMPDIR:-/tmp}/vox-gpu-mpi}
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
# Every experiment of the checkout (what `vox list` prints), cfcefd21 (the
# blog's VRAM-saving StarGAN) first.
ALL_IDS=(cfcefd21)
for d in experiments/*/config.yaml; do
    id=${d#experiments/}; id=${id%/config.yaml}
    [ "$id" = cfcefd21 ] || ALL_IDS+=("$id")
done

# mpi4py and the rest go into $SITE; MPICH's wheel carries libmpi as data,
# which pip's --target drops, so it goes into a prefix of its own.
WHEELS=()
MPICH_WHEELS=()
for w in "$BUNDLE"/*.whl; do
    case ${w##*/} in
        mpich-*) MPICH_WHEELS+=("$w") ;;
        *) WHEELS+=("$w") ;;
    esac
done
# 1-rank ChainerMN runs: MPI's singleton start, no mpiexec needed.
mn_run() {
    MN=("$PYTHON" -m vox.cli run cfcefd21 --profile test --device @cupy:0
        --distributed --communicator "$1" --results "$WORK/results"
        --run "mn-$1" --fresh)
}
# What ChainerMN's pure_nccl needs: mpi4py with an MPI library, CuPy's NCCL
# module (whose get_unique_id returns bytes since CuPy 14), and the names
# chainermn.nccl imports from it (_available).
NCCL_PROBE='import vox.compat; from mpi4py import MPI; print("MPI:", MPI.Get_library_version().splitlines()[0], "ranks", MPI.COMM_WORLD.size); from cupy.cuda import nccl; print("cupy.cuda.nccl: build", nccl.get_build_version(), "runtime", nccl.get_version(), "unique id", type(nccl.get_unique_id()).__name__); from chainermn import nccl as mn; print("chainermn.nccl available:", mn._available)'

if [ "$DRY" = 1 ]; then
    echo "gpu_check --dry-run: bundle $BUNDLE/: $(ls "$BUNDLE"/*.whl | wc -l) wheels, $(du -sk "$BUNDLE" | cut -f1) KiB"
    ls -l "$BUNDLE" | sed 's/^/  /'
    echo "  (the checkout travels beside it: $(git ls-files -z | du -ch --files0-from=- 2>/dev/null | tail -1 | cut -f1) tracked)"
    echo "would write to $RESULTS/ (progress.log steps.jsonl summary.json summary.md performance.json performance.md tf32.json vs_torch.json), budget ${BUDGET}s, steps:"
else
    say "gpu_check: $($PYTHON --version 2>&1) ($PYTHON), bundle $(du -sk "$BUNDLE" | cut -f1) KiB, budget ${BUDGET}s, output $RESULTS"
fi

step install 60 "$PYTHON" -m pip install --no-index --no-deps --no-compile -q --upgrade --target "$SITE" "${WHEELS[@]}"
if [ ${#MPICH_WHEELS[@]} -gt 0 ]; then
    step install-mpich 30 "$PYTHON" -m pip install --no-index --no-deps --no-compile -q --ignore-installed --no-warn-script-location --prefix "$MPI_PREFIX" "${MPICH_WHEELS[@]}"
    # The wheel's libmpi.so is a 20-byte stand-in for a symlink (wheels
    # have none): mpi4py gets the real library, the largest libmpi.so*.
    if [ "$DRY" = 1 ]; then
        echo "  (then MPI4PY_LIBMPI=the largest $MPI_PREFIX/lib/libmpi.so*, for mpi4py)"
    elif ls "$MPI_PREFIX"/lib/libmpi.so* >/dev/null 2>&1; then
        MPI4PY_LIBMPI=$(ls -S "$MPI_PREFIX"/lib/libmpi.so* | head -1)
        export MPI4PY_LIBMPI
        say "MPI4PY_LIBMPI=$MPI4PY_LIBMPI"
    fi
fi
step versions 30 "$PYTHON" -c 'import vox.compat, chainer, numpy, cupy, sys; from chainer.backends import cuda; from vox.base.device import get_device; d = get_device("@cupy:0"); print("python", sys.version.split()[0], "numpy", numpy.__version__, "chainer", chainer.__version__, "cupy", cupy.__version__, "cuda.available", cuda.available, "cudnn", cuda.cudnn_enabled, "device", d); print(cupy.cuda.runtime.getDeviceProperties(0)["name"])'
step vs-torch 120 "$PYTHON" tools/vs_torch.py --device @cupy:0 --steps 10 --json "$RESULTS/vs_torch.json" --md "$WORK/vs_torch.md"
# The generated corpus once, for the bench, the ChainerMN and smoke runs:
# everything after it needs it, so its limit is generous (over 90 s on a
# loaded 2-core machine).
step corpus 150 "${CORPUS_CMD[@]}"
step bench 150 "${BENCH_CMD[@]}"
step nccl-probe 20 "$PYTHON" -c "$NCCL_PROBE"
mn_run naive
step mn-naive 45 "${MN[@]}"
mn_run pure_nccl
step mn-pure_nccl 45 "${MN[@]}"
step gpu-tests 90 "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu tests tests/test_cupy_names.py
step tf32 45 env CUPY_TF32=1 "$PYTHON" tools/bench.py --device @cupy:0 --no-vram --only 54314b33 cfcefd21 --json "$RESULTS/tf32.json" --md "$WORK/tf32.md"
for id in "${ALL_IDS[@]}"; do
    smoke_cmd "$id"
    step "smoke-$id" 45 "${SMOKE[@]}"
done
SUMMARY=("$PYTHON" tools/gpu_summary.py "$RESULTS" --nccl "$WORK/results/cfcefd21/mn-naive" "$WORK/results/cfcefd21/mn-pure_nccl")
if [ "$DRY" = 1 ]; then
    printf '  %-24s (always)     %s\n' summary "${SUMMARY[*]}"
    exit 0
fi
# The summary runs even when the budget is spent (it takes a second); its
# table ends the output.
"${SUMMARY[@]}" > "$WORK/summary.out" 2>&1 || say "summary failed"
cat "$WORK/summary.out" >> "$LOG"
say "gpu_check: done in $((SECONDS - START))s; $(grep -c '"ok"' "$STEPS") of $(wc -l < "$STEPS") steps ok"
cat "$WORK/summary.out"
! grep -q '"failed"\|"timeout"' "$STEPS"
