#!/usr/bin/env bash
# Creates .venv with a supported Python and the pinned dependencies.
# Called by `make install` and by every make target that needs the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

supported() {  # prints the interpreter's version when it is 3.11 or 3.12
    "$1" -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v in ((3, 11), (3, 12)) else 1); ' 2>/dev/null
}

if [ -n "${PYTHON:-}" ]; then
    if ! supported "$PYTHON"; then
        echo "error: PYTHON=$PYTHON is not a working Python 3.11 or 3.12." >&2
        echo "       vox needs one of them (chainer 7.8.1 + numpy 1.26.4 have no wheels for 3.13)." >&2
        exit 1
    fi
else
    # pyenv shims exist for versions that are not selected and fail when
    # run, so each candidate is run, not just looked up.
    for candidate in python3.11 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && supported "$candidate"; then
            PYTHON=$candidate
            break
        fi
    done
    if [ -z "${PYTHON:-}" ]; then
        echo "error: no Python 3.11 or 3.12 found on PATH." >&2
        echo "       Install one (e.g. 'apt-get install python3.11 python3.11-venv'" >&2
        echo "       or 'pyenv install 3.11'), or name it with PYTHON=/path/to/python3.11." >&2
        exit 1
    fi
fi

echo "vox: creating $VENV with $($PYTHON --version) ($PYTHON)"
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_CONSTRAINT="$PWD/constraints.txt"
# Build requirements first: chainer's setup.py imports pkg_resources and
# pyworld's imports numpy and Cython, and both are built without isolation
# so they see these exact versions.
"${PIP[@]}" install -q "setuptools>=65,<81" wheel numpy==1.26.4 "cython>=3,<4"
"${PIP[@]}" install -q --no-build-isolation -r requirements.txt
"${PIP[@]}" install -q --no-build-isolation --no-deps -e .
"$VENV/bin/python" -W error -c 'import vox, chainer; print("vox: chainer", chainer.__version__, "ready in '"$VENV"'")'
touch "$VENV/.installed"
