#!/usr/bin/env bash
# Creates $VENV (default .venv) with a supported Python and the pinned
# dependencies.  Called by `make install` and every make target that needs it.
#
#   PYTHON=  the interpreter (default: the newest python3.13/3.12/3.11 on
#            PATH that runs; a pyenv shim for a version that is installed
#            but not selected is resolved to that version's binary)
#   NUMPY=   1 or 2.  Default 1 (NumPy 1.26.4: the faithful, bit-reproducible
#            route) on Python 3.11/3.12, and 2 on 3.13 (NumPy 1.26 has no
#            wheel for it).  Pins: constraints.txt / constraints-numpy2.txt.
#   CUPY=14  also install cupy-cuda13x 14.2.0 (the GPU machines' CuPy; it
#            needs NUMPY=2 and imports without a GPU, so the CuPy route can
#            be checked on a CPU: make cupy14-check) and nvidia-cublas
#            (Chainer imports CuPy's cuBLAS module, which loads the library,
#            and treats CuPy as unusable without it)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
# A venv being refreshed (make reruns this when a pin file changes) keeps
# the route it was built with unless PYTHON/NUMPY/CUPY say otherwise.
if [ -f "$VENV/.route" ]; then
    while IFS='=' read -r key value; do
        case "$key" in
            PYTHON|NUMPY|CUPY) [ -n "${!key:-}" ] || printf -v "$key" '%s' "$value" ;;
        esac
    done < "$VENV/.route"
elif [ -z "${PYTHON:-}" ] && [ -x "$VENV/bin/python" ]; then
    # A venv from before .route existed: its own base Python and NumPy.
    PYTHON=$("$VENV/bin/python" -c 'import sys; print(sys._base_executable)' 2>/dev/null || true)
    [ -n "${NUMPY:-}" ] || NUMPY=$("$VENV/bin/python" -c 'import numpy; print(numpy.__version__[0])' 2>/dev/null || true)
fi

version_of() {  # prints "3.N" when the interpreter runs and is 3.11-3.13
    "$1" -c 'import sys; v = sys.version_info[:2]; assert (3, 11) <= v <= (3, 13); print("%d.%d" % v)' 2>/dev/null
}

# A pyenv shim for an installed but unselected version exits non-zero when
# run; take that version's binary from pyenv's tree instead.
from_pyenv() {
    local name=${1##*/} root
    [[ $name =~ ^python3\.1[1-3]$ ]] || return 1
    root=$(pyenv root 2>/dev/null) || return 1
    for c in "$root"/versions/"${name#python}"*/bin/"$name"; do
        [ -x "$c" ] && version_of "$c" >/dev/null && { echo "$c"; return 0; }
    done
    return 1
}

if [ -n "${PYTHON:-}" ]; then
    if ! version_of "$PYTHON" >/dev/null; then
        if resolved=$(from_pyenv "$PYTHON"); then
            PYTHON=$resolved
        else
            echo "error: PYTHON=$PYTHON is not a working Python 3.11, 3.12 or 3.13." >&2
            exit 1
        fi
    fi
else
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && version_of "$candidate" >/dev/null; then
            PYTHON=$candidate
            break
        fi
    done
    if [ -z "${PYTHON:-}" ]; then
        echo "error: no Python 3.11, 3.12 or 3.13 found on PATH." >&2
        echo "       Install one (e.g. 'apt-get install python3.11 python3.11-venv'" >&2
        echo "       or 'pyenv install 3.11'), or name it with PYTHON=/path/to/python3.11." >&2
        exit 1
    fi
fi
PYVER=$(version_of "$PYTHON")

case "${NUMPY:-}" in
    '') if [ "$PYVER" = 3.13 ]; then NUMPY=2; else NUMPY=1; fi ;;
    1|2) ;;
    *) echo "error: NUMPY=$NUMPY: use NUMPY=1 (1.26.4) or NUMPY=2." >&2; exit 1 ;;
esac
if [ "$NUMPY" = 1 ] && [ "$PYVER" = 3.13 ]; then
    echo "error: NumPy 1.26.4 has no wheel for Python 3.13: use NUMPY=2, or PYTHON=python3.11/3.12." >&2
    exit 1
fi
case "${CUPY:-}" in
    '') ;;
    14) if [ "$NUMPY" != 2 ]; then
            echo "error: CUPY=14 needs NUMPY=2 (CuPy 14 requires NumPy >= 2)." >&2; exit 1
        fi ;;
    *) echo "error: CUPY=$CUPY: only CUPY=14 (cupy-cuda13x 14.2.0) is supported here." >&2; exit 1 ;;
esac
CONSTRAINTS=constraints.txt
[ "$NUMPY" = 2 ] && CONSTRAINTS=constraints-numpy2.txt
NUMPY_PIN=$(grep -E '^numpy==' "$CONSTRAINTS")
CUPY_PIN=
[ -n "${CUPY:-}" ] && CUPY_PIN=$(grep -E '^(cupy-cuda13x|nvidia-cublas)==' constraints-numpy2.txt | tr '\n' ' ')

echo "vox: creating $VENV with $($PYTHON --version) ($PYTHON), $NUMPY_PIN${CUPY_PIN:+ $CUPY_PIN}"
CLEAR=()
if [ -x "$VENV/bin/python" ] && [ "$(version_of "$VENV/bin/python" || true)" != "$PYVER" ]; then
    CLEAR=(--clear)  # another Python's venv: start it afresh
fi
"$PYTHON" -m venv "${CLEAR[@]}" "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# Kept in force for every pip call into the venv (see constraints.txt).
export PIP_CONSTRAINT="$PWD/$CONSTRAINTS"
# Build requirements first: chainer's setup.py imports pkg_resources and
# pyworld's imports numpy and Cython, and both are built without isolation
# so they see these exact versions.
"${PIP[@]}" install -q "setuptools>=65,<81" wheel "$NUMPY_PIN" "cython>=3,<4"
"${PIP[@]}" install -q --no-build-isolation -r requirements.txt $CUPY_PIN
"${PIP[@]}" install -q --no-build-isolation --no-deps -e .
"$VENV/bin/python" -W error -c 'import vox.compat, chainer, numpy; print("vox: chainer", chainer.__version__, "numpy", numpy.__version__, "ready in '"$VENV"'")'
printf 'PYTHON=%s\nNUMPY=%s\nCUPY=%s\n' "$PYTHON" "$NUMPY" "${CUPY:-}" > "$VENV/.route"
echo "$CONSTRAINTS${CUPY_PIN:+ $CUPY_PIN}" > "$VENV/.installed"
