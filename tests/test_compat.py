"""The Chainer feature set vox relies on works under this interpreter.

tools/compat_check.py is also run under Python 3.12 + NumPy 2 (no
setuptools) by `make compat-check`; see docs/compat.md for the results.
"""
import subprocess
import sys
from pathlib import Path

import numpy

import vox.compat  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def test_feature_set_runs_with_warnings_as_errors():
    result = subprocess.run(
        [sys.executable, '-W', 'error', str(REPO / 'tools/compat_check.py')],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'FAIL' not in result.stdout
    assert result.stdout.count('ok ') == 4


def test_sctypes_is_available_for_chainer():
    assert set(numpy.sctypes['float']) >= {numpy.float32, numpy.float64}
