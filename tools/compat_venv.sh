#!/usr/bin/env bash
# Builds .venv-py312-np2 (Python 3.12, NumPy 2, no setuptools: the route of
# the project's GPU machines) and runs tools/compat_check.py in it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-py312-np2
find_python312() {
    for c in python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12; do
        if [ -x "$(command -v "$c" 2>/dev/null || echo "$c")" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}
PY=$(find_python312) || { echo "compat-check: no working python3.12 found; install one (apt-get install python3.12 python3.12-venv, or pyenv install 3.12)" >&2; exit 1; }
if [ ! -f "$VENV/.installed" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check wheel "numpy>=2,<2.4" "cython>=3,<4" "setuptools<81"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation chainer==7.8.1 "numpy>=2,<2.4" scipy pyworld soundfile matplotlib pyyaml
    # The GPU machines' Python has no setuptools: check the pkg_resources stand-in.
    "$VENV/bin/pip" uninstall -q -y setuptools
    touch "$VENV/.installed"
fi
"$VENV/bin/python" -W error tools/compat_check.py
