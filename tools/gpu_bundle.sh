#!/usr/bin/env bash
# make gpu-bundle: every wheel a GPU machine lacks, into gpu-bundle/.
#
# The GPU machines run Python 3.12 with NumPy 2.5.2 and cupy-cuda13x 14.2.0
# preinstalled (tools/gpu_device_packages.txt) and reach no package index,
# so what vox needs beyond that travels as wheels (tools/gpu_check.sh
# installs them with pip --no-index --target):
#
# * chainer 7.8.1 and pyworld 0.3.5 are sdists only: built here into wheels
#   with Python 3.12 (pyworld against NumPy 2.5.2, ABI-compatible with the
#   machines' NumPy 2.x);
# * every other requirement (and its dependencies) is resolved for cp312 /
#   manylinux by `pip install --dry-run`, and what the machines' package
#   list lacks is downloaded as a binary wheel;
# * setup.py's `mpi` extra (mpi4py and the MPICH wheel) always: the
#   machines list an mpi4py but no MPI library for it, and the check's
#   ChainerMN runs need both to agree (the MPICH wheel's libmpi is what
#   tools/gpu_check.sh points mpi4py at).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${BUNDLE:-gpu-bundle}
BUILD_VENV=.venv-gpu-build
PLATFORM=(--python-version 3.12 --implementation cp --abi cp312
          --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --only-binary=:all:)
pin() { grep -E "^$1==" requirements.txt constraints-numpy2.txt | head -1 | cut -d: -f2; }

find_python312() {
    local c root
    for c in python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12; do
        if "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}
PY312=$(find_python312) || {
    echo "gpu-bundle: needs a Python 3.12 to build chainer and pyworld for the GPU machines (apt-get install python3.12 python3.12-venv, or pyenv install 3.12)" >&2
    exit 1
}

echo "gpu-bundle: building with $("$PY312" --version) ($PY312)"
if [ ! -f "$BUILD_VENV/.installed" ]; then
    "$PY312" -m venv "$BUILD_VENV"
    "$BUILD_VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "setuptools>=65,<81" wheel "$(pin numpy)" "cython>=3,<4"
    touch "$BUILD_VENV/.installed"
fi
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE"
# sdists: chainer's setup.py imports pkg_resources (setuptools<81), pyworld
# compiles against the NumPy in the build venv; no isolation for either.
"$BUILD_VENV/bin/python" -m pip wheel -q --disable-pip-version-check \
    --no-deps --no-build-isolation -w "$BUNDLE" "$(pin chainer)" "$(pin pyworld)"

# The rest: resolve vox's binary requirements as the machines' pip would,
# then keep what their package list lacks.
REQS=$(mktemp)
trap 'rm -f "$REQS" "$REQS.json" "$REQS.missing"' EXIT
grep -vE '^(#|chainer|pyworld|numpy|$)' requirements.txt > "$REQS"
# chainer's own requirements (its wheel's metadata), without numpy/setuptools.
unzip -p "$BUNDLE"/chainer-*.whl '*/METADATA' | sed -n 's/^Requires-Dist: //p' \
    | grep -v 'extra ==' | grep -vE '^(numpy|setuptools)' | sed 's/ *;.*//' >> "$REQS"
"$BUILD_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    --dry-run --ignore-installed --target "$(mktemp -d)" "${PLATFORM[@]}" \
    --report "$REQS.json" -r "$REQS" "$(pin numpy)"
"$BUILD_VENV/bin/python" - "$REQS.json" tools/gpu_device_packages.txt > "$REQS.missing" <<'EOF'
import json, re, sys
norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()
have = {norm(l.strip()) for l in open(sys.argv[2])
        if l.strip() and not l.startswith('#')}
for item in json.load(open(sys.argv[1]))['install']:
    meta = item['metadata']
    if norm(meta['name']) not in have:
        print(f"{meta['name']}=={meta['version']}")
EOF
if [ -s "$REQS.missing" ]; then
    echo "gpu-bundle: not on the GPU machines: $(tr '\n' ' ' < "$REQS.missing")"
    "$BUILD_VENV/bin/python" -m pip download -q --disable-pip-version-check \
        --no-deps "${PLATFORM[@]}" -d "$BUNDLE" -r "$REQS.missing"
fi
rm -f "$REQS.missing"
# setup.py's `mpi` extra, e.g. 'mpi4py>=4,<5', 'mpich>=4'.
MPI_REQS=$(sed -n "s/^ *'mpi': \[\(.*\)\],*$/\1/p" setup.py | tr -d "' " | tr ',' ' ')
MPI_SPECS=()
for r in $MPI_REQS; do
    case $r in
        [\<\>=]*) MPI_SPECS[-1]+=",$r" ;;  # a second bound of the one before
        *) MPI_SPECS+=("$r") ;;
    esac
done
[ ${#MPI_SPECS[@]} -gt 0 ] || { echo "gpu-bundle: no 'mpi' extra in setup.py" >&2; exit 1; }
echo "gpu-bundle: the mpi extra: ${MPI_SPECS[*]}"
"$BUILD_VENV/bin/python" -m pip download -q --disable-pip-version-check \
    --no-deps "${PLATFORM[@]}" -d "$BUNDLE" "${MPI_SPECS[@]}"
ls -l "$BUNDLE"
echo "gpu-bundle: $(ls "$BUNDLE" | wc -l) wheels, $(du -sk "$BUNDLE" | cut -f1) KiB in $BUNDLE/"
