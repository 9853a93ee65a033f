#!/usr/bin/env bash
# make exp-ID: runs experiments/<ID>/train.py (the options of `vox run ID`)
# with make's variables, each given here as one argument (the Makefile
# quotes them, so a space, `;` or `$(...)` in a value stays in that value):
#   tools/exp.sh PY VENV ID NPROC PROFILE DEVICE CORPUS RUN RESULTS FRESH RESUME
# NPROC > 1 runs it on that many MPI ranks with --distributed.
set -u
py=$1 venv=$2 id=$3 nproc=$4 profile=$5 device=$6 corpus=$7 run=$8
results=$9 fresh=${10} resume=${11}

fail() { echo "vox: error: $*" >&2; exit 2; }

args=()
[ -n "$profile" ] && args+=(--profile "$profile")
[ -n "$device" ] && args+=(--device "$device")
[ -n "$corpus" ] && args+=(--corpus "$corpus")
[ -n "$run" ] && args+=(--run "$run")
[ -n "$results" ] && args+=(--results "$results")
case $fresh in
  ''|0) ;;
  1) args+=(--fresh) ;;
  *) fail "FRESH=$fresh: give FRESH=1 to start a new run (or leave it out)" ;;
esac
[ -n "$resume" ] && args+=(--resume "$resume")

# The entry script of a known ID; anything else goes to `vox run`, whose
# one-line error lists the IDs (and takes a config.yaml path).
script=experiments/$id/train.py
case $id in
  */*|.|..) script= ;;
esac
if [ -n "$script" ] && [ -f "$script" ]; then
  entry=("$script")
else
  entry=(-m vox.cli run "$id")
fi
# Under SYSTEM_PYTHON vox may not be installed: the checkout is importable.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

case $nproc in
  ''|1) exec "$py" "${entry[@]}" "${args[@]}" ;;
  [2-9]|[1-9][0-9]*) ;;
  *) fail "NPROC=$nproc: give the number of MPI ranks, a whole number, 1 or more (e.g. NPROC=2)" ;;
esac
mpiexec=$venv/bin/mpiexec
[ -x "$mpiexec" ] || \
  fail "NPROC=$nproc needs MPI, which $venv does not have; run make install-mpi first (mpi4py and MPICH wheels)"
exec "$mpiexec" -n "$nproc" "$py" "${entry[@]}" "${args[@]}" --distributed
